using System.Globalization;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;

namespace Cybexp.Report.Cli.Configuration;

/// <summary>
/// Logging for long-running commands: one line per entry on the command's error stream
/// (<c>2026-01-02T03:04:05.678Z info ReportWorker: message</c>), levels from the <c>Logging</c> section of the
/// configuration (default Information).
/// </summary>
public static class CliLogging
{
    /// <summary>A logger factory writing to <paramref name="writer"/>, filtered by <c>Logging:LogLevel</c> of <paramref name="configuration"/>.</summary>
    public static ILoggerFactory Create(TextWriter writer, IConfiguration configuration, TimeProvider time) =>
        LoggerFactory.Create(builder => builder
            .SetMinimumLevel(LogLevel.Information)
            .AddConfiguration(configuration.GetSection("Logging"))
            .AddProvider(new TextWriterLoggerProvider(writer, time)));

    /// <summary>Writes each entry as one line (plus the exception, if any) to a text writer, serialised by a lock.</summary>
    private sealed class TextWriterLoggerProvider(TextWriter writer, TimeProvider time) : ILoggerProvider
    {
        private readonly Lock _gate = new();

        public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName[(categoryName.LastIndexOf('.') + 1)..]);

        public void Dispose()
        {
            lock (_gate)
            {
                writer.Flush();
            }
        }

        private void Write(LogLevel level, string category, string message, Exception? exception)
        {
            var line = string.Create(CultureInfo.InvariantCulture, $"{time.GetUtcNow():yyyy-MM-ddTHH:mm:ss.fffZ} {Name(level)} {category}: {message}");
            lock (_gate)
            {
                writer.WriteLine(line);
                if (exception is not null)
                {
                    writer.WriteLine(exception.ToString());
                }

                writer.Flush();
            }
        }

        private static string Name(LogLevel level) => level switch
        {
            LogLevel.Trace => "trce",
            LogLevel.Debug => "dbug",
            LogLevel.Information => "info",
            LogLevel.Warning => "warn",
            LogLevel.Error => "fail",
            _ => "crit",
        };

        private sealed class Logger(TextWriterLoggerProvider provider, string category) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                if (IsEnabled(logLevel))
                {
                    provider.Write(logLevel, category, formatter(state, exception), exception);
                }
            }
        }
    }
}
