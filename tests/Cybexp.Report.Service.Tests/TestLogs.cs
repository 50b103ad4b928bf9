using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Cybexp.Report.Service.Tests;

/// <summary>A logger factory that keeps every entry in memory, for asserting on what was logged.</summary>
internal sealed class TestLogs : ILoggerFactory, ILoggerProvider
{
    private readonly ConcurrentQueue<(LogLevel Level, string Category, string Message)> _entries = new();

    public IReadOnlyList<(LogLevel Level, string Category, string Message)> Entries => [.. _entries];

    public bool Contains(LogLevel atLeast, string fragment) =>
        _entries.Any(e => e.Level >= atLeast && e.Message.Contains(fragment, StringComparison.Ordinal));

    public string Dump() => string.Join('\n', _entries.Select(e => $"{e.Level} {e.Category}: {e.Message}"));

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void AddProvider(ILoggerProvider provider) => throw new NotSupportedException();

    public void Dispose()
    {
    }

    private sealed class Logger(TestLogs owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            owner._entries.Enqueue((logLevel, category, formatter(state, exception) + (exception is null ? string.Empty : " | " + exception.GetType().Name)));
    }
}
