using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using Cybexp.Report.Core.Tahoe;
using Cybexp.Report.Service.Ingest;

namespace Cybexp.Report.Cli.Commands;

/// <summary>
/// The inputs of one <c>ingest</c>: reads the files one after the other as a single stream of records, and sends each
/// rejected document to the rejects file of the file it came from. Problems that stop a file from being read are
/// written to standard error and make <see cref="Failed"/> true; reading goes on with the next file.
/// </summary>
internal sealed class IngestSources(CliIo io, IReadOnlyList<string> files) : IAsyncDisposable
{
    private readonly List<string> _rejectFiles = [];

    // One sink per input, with the stream position of the input's first record: rejects arrive after their input may
    // have been read to the end (the ingest checks records ahead of its writer), and find their input by position.
    private readonly List<(long FirstIndex, RejectSink Sink)> _sinks = [];
    private long _records;

    /// <summary>True when some input could not be opened or read to its end, or a reject could not be written.</summary>
    public bool Failed { get; private set; }

    /// <summary>The rejects files written, in input order.</summary>
    public IReadOnlyList<string> RejectFiles => _rejectFiles;

    /// <summary>The size of every input in bytes, or null when standard input is one of them.</summary>
    public long? TotalBytes
    {
        get
        {
            long total = 0;
            foreach (var file in files)
            {
                if (file == FileOrStdin.Stdin)
                {
                    return null;
                }

                total += File.Exists(file) ? new FileInfo(file).Length : 0;
            }

            return total;
        }
    }

    /// <summary>The rejects file of <paramref name="file"/>.</summary>
    public static string RejectsPath(string file) =>
        file == FileOrStdin.Stdin ? "stdin.rejects.ndjson" : file + ".rejects.ndjson";

    /// <summary>
    /// Every document text of every input (parsed by the ingest); <paramref name="report"/> gets (bytes read, documents
    /// read) now and then.
    /// </summary>
    public async IAsyncEnumerable<TahoeDocumentText> ReadAsync(Action<long, long>? report, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        long bytesBefore = 0, documents = 0;
        foreach (var file in files)
        {
            StreamReader? owned = null;
            try
            {
                owned = file == FileOrStdin.Stdin ? null : OpenFile(file);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException or ArgumentException)
            {
                await FailAsync($"{file}: cannot open: {Describe(e)}", cancellationToken).ConfigureAwait(false);
                continue;
            }

            var reader = owned ?? io.In;
            _sinks.Add((_records, new RejectSink(this, RejectsPath(file))));
            long lastLine = 0;
            try
            {
                await using var records = TahoeDocumentReader.ReadTextsAsync(reader, cancellationToken).GetAsyncEnumerator(cancellationToken);
                while (true)
                {
                    try
                    {
                        if (!await records.MoveNextAsync().ConfigureAwait(false))
                        {
                            break;
                        }
                    }
                    catch (Exception e) when (e is IOException or DecoderFallbackException or UnauthorizedAccessException)
                    {
                        await FailAsync($"{file}:{lastLine}: cannot read after this line: {Describe(e)}", cancellationToken).ConfigureAwait(false);
                        break;
                    }

                    var record = records.Current;
                    lastLine = record.Line;
                    if (record.EndsSource)
                    {
                        await FailAsync($"{file}:{record.Line}: {record.Error}; the rest of this file was not read", cancellationToken).ConfigureAwait(false);
                    }

                    documents++;
                    _records++;
                    if (report is not null && (documents & 1023) == 0)
                    {
                        report(bytesBefore + (owned?.BaseStream.Position ?? 0), documents);
                    }

                    yield return record;
                }
            }
            finally
            {
                if (owned is not null)
                {
                    bytesBefore += owned.BaseStream.Length;
                    owned.Dispose();
                }
            }
        }

        report?.Invoke(bytesBefore, documents);
    }

    /// <summary>Writes <paramref name="reject"/> to the rejects file of the input it came from (by <see cref="IngestReject.Index"/>).</summary>
    public Task RejectAsync(IngestReject reject, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(reject);
        for (var i = _sinks.Count - 1; i >= 0; i--)
        {
            if (_sinks[i].FirstIndex <= reject.Index)
            {
                return _sinks[i].Sink.WriteAsync(reject, cancellationToken);
            }
        }

        throw new InvalidOperationException($"a reject arrived for record {reject.Index}, which no input yielded");
    }

    /// <summary>Closes every rejects file (and removes stale ones of inputs without rejects).</summary>
    public async ValueTask DisposeAsync()
    {
        var sinks = _sinks.ToList();
        _sinks.Clear();
        foreach (var (_, sink) in sinks)
        {
            await sink.CloseAsync().ConfigureAwait(false);
        }
    }

    private async Task FailAsync(string message, CancellationToken cancellationToken)
    {
        Failed = true;
        await io.Err.WriteLineAsync(("error: " + message).AsMemory(), cancellationToken).ConfigureAwait(false);
    }

    private static StreamReader OpenFile(string path) => DocumentFiles.Open(path);

    private static string Describe(Exception e) => DocumentFiles.Describe(e);

    /// <summary>
    /// The rejects file of one input, created on the first reject. When the input has no reject, a rejects file left by
    /// an earlier run is removed, so the file always describes the latest ingest of its input.
    /// </summary>
    private sealed class RejectSink(IngestSources owner, string path)
    {
        private StreamWriter? _writer;
        private bool _unwritable;

        public async Task WriteAsync(IngestReject reject, CancellationToken cancellationToken)
        {
            var sb = new StringBuilder();
            sb.Append("{\"line\":").Append(reject.Line.ToString(CultureInfo.InvariantCulture)).Append(",\"reason\":");
            TahoeJsonWriter.AppendString(sb, reject.Reason);
            sb.Append(",\"document\":");
            if (reject.Document is null)
            {
                sb.Append("null");
            }
            else
            {
                TahoeJsonWriter.Append(sb, reject.Document);
            }

            sb.Append('}');
            if (_writer is null && !_unwritable)
            {
                try
                {
                    _writer = new StreamWriter(path, append: false, new UTF8Encoding(encoderShouldEmitUTF8Identifier: false));
                    owner._rejectFiles.Add(path);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    // The rejects still must not vanish: they go to standard error instead.
                    _unwritable = true;
                    await owner.FailAsync($"{path}: cannot write the rejects file ({Describe(e)}); rejects follow on standard error", cancellationToken).ConfigureAwait(false);
                }
            }

            var line = sb.ToString();
            if (_writer is not null)
            {
                await _writer.WriteLineAsync(line.AsMemory(), cancellationToken).ConfigureAwait(false);
            }
            else
            {
                await owner.FailAsync("reject: " + line, cancellationToken).ConfigureAwait(false);
            }
        }

        public async Task CloseAsync()
        {
            if (_writer is not null)
            {
                await _writer.DisposeAsync().ConfigureAwait(false);
                return;
            }

            if (!_unwritable && File.Exists(path))
            {
                try
                {
                    File.Delete(path);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    // A stale rejects file that cannot be removed is harmless: the summary names the current ones.
                }
            }
        }
    }
}
