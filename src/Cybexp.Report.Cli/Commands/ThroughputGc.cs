using System.Runtime;

namespace Cybexp.Report.Cli.Commands;

/// <summary>
/// Switches the garbage collector to <see cref="GCLatencyMode.Batch"/> (no background collections) while a command
/// streams documents for throughput (<c>ingest</c>, <c>verify</c>), and back when the last such command in the
/// process ends. Background collections suit the service's latency; here they only add work (a background thread
/// marking while the parsers allocate) and nothing waits on a pause. <c>serve</c> and <c>worker</c> keep the default.
/// </summary>
internal sealed class ThroughputGc : IDisposable
{
    private static readonly Lock Gate = new();
    private static int s_active;
    private static GCLatencyMode s_previous;

    private bool _disposed;

    private ThroughputGc()
    {
    }

    /// <summary>Enters batch mode until the result is disposed.</summary>
    public static ThroughputGc Enter()
    {
        lock (Gate)
        {
            if (s_active++ == 0)
            {
                s_previous = GCSettings.LatencyMode;
                GCSettings.LatencyMode = GCLatencyMode.Batch;
            }
        }

        return new ThroughputGc();
    }

    /// <inheritdoc />
    public void Dispose()
    {
        lock (Gate)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            if (--s_active == 0)
            {
                GCSettings.LatencyMode = s_previous;
            }
        }
    }
}
