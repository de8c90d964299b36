using System.Globalization;
using System.Text;

namespace Coffer.Agent;

/// <summary>
/// Counters of the agent, served as Prometheus text on <c>GET /metrics</c> (token-guarded like every path but
/// <c>/ping</c>). Counts only: no secret ids, no values.
/// </summary>
internal sealed class AgentMetrics
{
    private long _hits, _misses, _refreshes, _upstreamRequests, _upstreamErrors, _evictions, _staleServes, _invalidations, _feedResets, _iamResets;

    public void Hit() => Interlocked.Increment(ref _hits);
    public void Miss() => Interlocked.Increment(ref _misses);
    public void Refresh() => Interlocked.Increment(ref _refreshes);
    public void UpstreamRequest() => Interlocked.Increment(ref _upstreamRequests);
    public void UpstreamError() => Interlocked.Increment(ref _upstreamErrors);
    public void Eviction() => Interlocked.Increment(ref _evictions);
    public void StaleServe() => Interlocked.Increment(ref _staleServes);
    public void Invalidation() => Interlocked.Increment(ref _invalidations);
    public void FeedReset() => Interlocked.Increment(ref _feedResets);
    public void IamReset() => Interlocked.Increment(ref _iamResets);

    public long Hits => Interlocked.Read(ref _hits);
    public long Misses => Interlocked.Read(ref _misses);
    public long Refreshes => Interlocked.Read(ref _refreshes);
    public long UpstreamRequests => Interlocked.Read(ref _upstreamRequests);
    public long UpstreamErrors => Interlocked.Read(ref _upstreamErrors);
    public long Evictions => Interlocked.Read(ref _evictions);
    public long StaleServes => Interlocked.Read(ref _staleServes);
    public long Invalidations => Interlocked.Read(ref _invalidations);
    public long FeedResets => Interlocked.Read(ref _feedResets);
    public long IamResets => Interlocked.Read(ref _iamResets);

    /// <summary>Set by the change-feed watcher: 1 while it is connected and current.</summary>
    public int FeedConnected { get; set; }

    /// <summary>Set by the change-feed watcher: the server's last change sequence it has applied.</summary>
    public long FeedSequence { get => Interlocked.Read(ref _feedSequence); set => Interlocked.Exchange(ref _feedSequence, value); }
    private long _feedSequence;

    public string ToPrometheus(int entries)
    {
        var sb = new StringBuilder(1024);
        void Counter(string name, string help, long value) =>
            sb.Append("# HELP ").Append(name).Append(' ').Append(help).Append('\n')
              .Append("# TYPE ").Append(name).Append(" counter\n")
              .Append(name).Append(' ').Append(value.ToString(CultureInfo.InvariantCulture)).Append('\n');
        void Gauge(string name, string help, long value) =>
            sb.Append("# HELP ").Append(name).Append(' ').Append(help).Append('\n')
              .Append("# TYPE ").Append(name).Append(" gauge\n")
              .Append(name).Append(' ').Append(value.ToString(CultureInfo.InvariantCulture)).Append('\n');
        Counter("coffer_agent_cache_hits_total", "Requests answered from the cache.", Hits);
        Counter("coffer_agent_cache_misses_total", "Requests that waited for the server (no fresh entry).", Misses);
        Counter("coffer_agent_cache_refreshes_total", "Background refreshes (before expiry or after a change) and refreshNow requests.", Refreshes);
        Counter("coffer_agent_upstream_requests_total", "GetSecretValue calls sent to the server.", UpstreamRequests);
        Counter("coffer_agent_upstream_errors_total", "Server calls that failed (errors, timeouts, unreachable).", UpstreamErrors);
        Counter("coffer_agent_cache_evictions_total", "Entries dropped to stay within cache_size, or by a reset.", Evictions);
        Counter("coffer_agent_stale_serves_total", "Requests answered with an expired value because the server could not be reached.", StaleServes);
        Counter("coffer_agent_invalidations_total", "Entries marked changed by the server's change feed.", Invalidations);
        Counter("coffer_agent_feed_resets_total", "Whole-cache drops because the server restarted, the feed overflowed or the feed refused the credentials.", FeedResets);
        Counter("coffer_agent_feed_iam_resets_total", "Whole-cache drops because the change feed announced an IAM change.", IamResets);
        Gauge("coffer_agent_cache_entries", "Entries in the cache.", entries);
        Gauge("coffer_agent_change_feed_connected", "1 while the change feed is being followed.", FeedConnected);
        Gauge("coffer_agent_change_feed_sequence", "The server's last change sequence applied to the cache.", FeedSequence);
        return sb.ToString();
    }
}
