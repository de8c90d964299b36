using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Coffer.Agent;

/// <summary>
/// Follows the server's change feed (<c>GET /coffer/changes</c>, a long poll) and invalidates cached entries of
/// every secret it names, so a new AWSCURRENT is served within about a second of the write instead of after the
/// TTL. A new epoch (the server restarted) or a reset (the agent fell behind the server's buffer, or IAM changed, so
/// any cached answer may now be denied) drops the whole cache: the next read of each secret goes to the server with
/// the agent's credentials, and a refusal is answered like any server error. While the server is unreachable the
/// watcher retries with a capped backoff; the TTL and the staleness limit still bound what is served meanwhile. A
/// feed that refuses the agent's credentials after following them (not a transient failure) drops the cache once.
/// </summary>
internal sealed class ChangeFeedWatcher(UpstreamClient upstream, SecretCache cache, AgentMetrics metrics, ILogger<ChangeFeedWatcher> log)
    : BackgroundService
{
    public const int WaitSeconds = 20;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        string? epoch = null;
        long? sequence = null;
        var backoff = TimeSpan.FromMilliseconds(250);
        var droppedOnRefusal = false;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var batch = await upstream.ReadChangesAsync(sequence, epoch, WaitSeconds, stoppingToken).ConfigureAwait(false);
                if (epoch is null)
                {
                    // The first position says nothing about what changed before it: entries fetched while the feed
                    // was not yet followed (the server came up before the next retry) may hold a value replaced
                    // since, which no later batch will name. Drop them; calls under way are fetched again.
                    cache.Clear();
                    log.LogInformation("Following the server's change feed");
                }
                else if (batch.Epoch == epoch && batch.IamChanged)
                {
                    log.LogInformation("Change feed: IAM changed on the server; dropping the whole cache so every secret is re-checked");
                    metrics.IamReset();
                    cache.Clear();
                }
                else if (batch.Epoch != epoch || batch.Reset)
                {
                    log.LogInformation("Change feed {Reason}: dropping the whole cache", batch.Epoch != epoch ? "epoch changed (server restarted)" : "reset");
                    metrics.FeedReset();
                    cache.Clear();
                }
                else if (batch.Arns.Count > 0)
                {
                    log.LogDebug("Change feed: {Count} secret(s) changed", batch.Arns.Count);
                    cache.Invalidate(batch.Arns);
                }
                epoch = batch.Epoch;
                sequence = batch.Sequence;
                metrics.FeedSequence = batch.Sequence;
                metrics.FeedConnected = 1;
                backoff = TimeSpan.FromMilliseconds(250);
                droppedOnRefusal = false;
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e)
            {
                if (metrics.FeedConnected == 1 || backoff == TimeSpan.FromMilliseconds(250))
                    log.LogWarning("Change feed unavailable ({Error}); retrying", e is UpstreamException u ? u.Code : e.GetType().Name);
                if (e is UpstreamException { Transient: false } refusal && epoch is not null && !droppedOnRefusal)
                {
                    // The server refuses the feed to credentials it accepted before (a deactivated key, a policy
                    // without ListSecrets now). That IAM change may be the very one whose notice the refused poll
                    // would have read, so nothing cached is trusted any more: re-reads are judged by the server.
                    log.LogWarning("Change feed refused ({Error}); dropping the whole cache", refusal.Code);
                    metrics.FeedReset();
                    cache.Clear();
                    droppedOnRefusal = true;
                }
                metrics.FeedConnected = 0;
                try { await Task.Delay(backoff, stoppingToken).ConfigureAwait(false); }
                catch (OperationCanceledException) { break; }
                backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, TimeSpan.FromSeconds(5).Ticks));
            }
        }
    }
}
