using System.Net.Sockets;
using System.Text;
using Cybexp.Report.Core.Storage;
using Microsoft.Extensions.Logging;

namespace Cybexp.Report.Service.Notification;

/// <summary>What became of one notification.</summary>
public enum NotificationResult
{
    /// <summary>The nonce was sent in full and the connection closed.</summary>
    Sent,

    /// <summary>The host is not allowed (or the port invalid): no connection was attempted.</summary>
    Refused,

    /// <summary>Connecting or sending failed or timed out.</summary>
    Failed,
}

/// <summary>Tells the submitter of a query that it ended (ready or failed).</summary>
public interface INotifier
{
    /// <summary>
    /// Sends the nonce of <paramref name="socket"/> for query <paramref name="queryId"/>. Never throws for network
    /// failures or refused hosts (they are logged); only cancellation of <paramref name="cancellationToken"/> throws.
    /// </summary>
    Task<NotificationResult> NotifyAsync(long queryId, NotifySocket socket, CancellationToken cancellationToken);
}

/// <summary>
/// The original API's notification: connect to <c>host:port</c>, send the nonce bytes (UTF-8) in full, close.
/// Loopback names go to the configured API host; hosts outside the allow-list are refused before any connection or
/// name lookup; connect plus send is bounded by <see cref="NotifierOptions.Timeout"/>. Failures are logged, never
/// thrown: a client that stopped listening must not stop the worker.
/// </summary>
public sealed class TcpNotifier(NotifierOptions options, ILogger<TcpNotifier> logger) : INotifier
{
    /// <inheritdoc />
    public async Task<NotificationResult> NotifyAsync(long queryId, NotifySocket socket, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(socket);
        var target = options.Target(socket.Host);
        if (!options.Allows(target))
        {
            logger.LogWarning(
                "query {QueryId}: notification to {Host}:{Port} refused: the host is not in the notification allow-list (allowed: the API host {ApiHost} and {Allowed})",
                queryId, socket.Host, socket.Port, options.ApiHost, string.Join(", ", options.AllowedHosts));
            return NotificationResult.Refused;
        }

        if (socket.Port is < 1 or > 65535)
        {
            logger.LogWarning("query {QueryId}: notification to {Host}:{Port} refused: the port must be from 1 to 65535", queryId, socket.Host, socket.Port);
            return NotificationResult.Refused;
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(options.Timeout);
        try
        {
            // The parameterless client picks the address family per resolved address (IPv4 or IPv6).
            using var client = new TcpClient();
            await client.ConnectAsync(target.Trim('[', ']'), socket.Port, timeout.Token).ConfigureAwait(false);
            var stream = client.GetStream();
            await stream.WriteAsync(Encoding.UTF8.GetBytes(socket.Nonce), timeout.Token).ConfigureAwait(false);
            await stream.FlushAsync(timeout.Token).ConfigureAwait(false);
            client.Client.Shutdown(SocketShutdown.Send);
            logger.LogDebug("query {QueryId}: notified {Target}:{Port}", queryId, target, socket.Port);
            return NotificationResult.Sent;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            logger.LogWarning("query {QueryId}: notification to {Target}:{Port} timed out after {Timeout} s", queryId, target, socket.Port, options.Timeout.TotalSeconds);
            return NotificationResult.Failed;
        }
        catch (Exception e) when (e is SocketException or IOException)
        {
            logger.LogWarning("query {QueryId}: notification to {Target}:{Port} failed: {Reason}", queryId, target, socket.Port, e.Message);
            return NotificationResult.Failed;
        }
    }
}
