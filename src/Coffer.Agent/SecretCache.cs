using System.Security.Cryptography;

namespace Coffer.Agent;

/// <summary>Cache settings; see docs/agent.md for what each means to a caller.</summary>
internal sealed record CacheSettings(int Capacity, TimeSpan Ttl, TimeSpan MaxStale)
{
    /// <summary>A hit in the last fifth of an entry's TTL starts a background refresh, so hot secrets never wait.</summary>
    public TimeSpan RefreshAhead => Ttl / 5;

    /// <summary>After a failed call for an expired entry, stale answers come without asking again for this long.</summary>
    public static readonly TimeSpan RetryAfterError = TimeSpan.FromSeconds(1);

    /// <summary>After a failed background refresh of a fresh entry, the next one waits this long.</summary>
    public static readonly TimeSpan RefreshBackoff = TimeSpan.FromSeconds(5);
}

/// <summary>
/// One cached answer. The body is the only copy of the value the agent keeps; it is zeroed when the entry leaves
/// the cache (eviction, replacement, invalidation reset) once no response is still being written from it.
/// </summary>
internal sealed class CacheEntry(CacheKey key, string arn, byte[] body, DateTimeOffset fetchedAt, TimeSpan ttl, TimeSpan refreshAhead)
{
    private int _readers;
    private int _evicted;

    public CacheKey Key { get; } = key;
    public string Arn { get; } = arn;
    public byte[] Body { get; } = body;
    public DateTimeOffset FetchedAt { get; } = fetchedAt;
    public DateTimeOffset ExpiresAt { get; } = fetchedAt + ttl;
    // Mutated under the cache lock only.
    public DateTimeOffset RefreshAt { get; set; } = fetchedAt + ttl - refreshAhead;
    public DateTimeOffset RetryAt { get; set; }
    public bool Invalidated { get; set; }
    internal LinkedListNode<CacheEntry>? Node { get; set; }

    internal void Acquire(int count = 1) => Interlocked.Add(ref _readers, count);

    /// <summary>Ends one lease taken by <see cref="SecretCache.GetAsync"/>.</summary>
    public void Release()
    {
        if (Interlocked.Decrement(ref _readers) == 0 && Volatile.Read(ref _evicted) == 1) Zero();
    }

    internal void Evict()
    {
        Interlocked.Exchange(ref _evicted, 1);
        if (Volatile.Read(ref _readers) == 0) Zero();
    }

    private void Zero() => CryptographicOperations.ZeroMemory(Body);
}

/// <summary>The answer to one request: the entry (leased; call <see cref="CacheEntry.Release"/>) and whether it is stale.</summary>
internal readonly record struct CacheLease(CacheEntry Entry, bool Stale);

/// <summary>
/// LRU cache of GetSecretValue answers, bounded by entry count, with a TTL (spec §6.4) and Coffer's additions:
/// <list type="bullet">
/// <item>single flight: concurrent misses for one key make one upstream call;</item>
/// <item>refresh ahead: a hit in the last fifth of the TTL refreshes in the background;</item>
/// <item>stale if error: when the server cannot be reached (transient error), an expired value is served until
///   <c>ExpiresAt + MaxStale</c>, then the error is returned;</item>
/// <item>invalidation: <see cref="Invalidate"/> (from the server's change feed) marks a secret's entries changed
///   and refreshes them at once; <see cref="Clear"/> drops everything (server restarted).</item>
/// </list>
/// Values live only in memory. One lock guards the map, the LRU list and the in-flight table; upstream calls run
/// outside it.
/// </summary>
internal sealed class SecretCache(ISecretSource source, CacheSettings settings, TimeProvider time, AgentMetrics metrics)
{
    private sealed class Flight
    {
        public required Task<Outcome> Task { get; set; }
        public int Waiters;
    }

    private sealed record Outcome(CacheEntry? Entry, UpstreamException? Error, bool Stale);

    private readonly object _gate = new();
    private readonly Dictionary<CacheKey, CacheEntry> _map = [];
    private readonly LinkedList<CacheEntry> _lru = new();
    private readonly Dictionary<CacheKey, Flight> _flights = [];
    // Calls under way cannot know which secret they will return, so announced changes are remembered (ARN →
    // stamp) while any call is under way, and compared with the call's start stamp when it completes.
    private readonly Dictionary<string, long> _changedDuringFlights = new(StringComparer.Ordinal);
    private long _stamp;
    private long _clearedAt;

    public CacheSettings Settings => settings;

    public int Count { get { lock (_gate) return _map.Count; } }

    /// <summary>
    /// The answer for <paramref name="key"/>: from the cache when fresh, else from the server (joining a call
    /// already under way). <paramref name="refreshNow"/> always asks the server and, on failure, returns the error
    /// and keeps the old entry (spec §6.1). Throws <see cref="UpstreamException"/>.
    /// </summary>
    public async ValueTask<CacheLease> GetAsync(CacheKey key, bool refreshNow, CancellationToken ct)
    {
        Flight? flight;
        lock (_gate)
        {
            if (!refreshNow && TryGetLocked(key, out var lease)) return lease;
            if (refreshNow) metrics.Refresh(); else metrics.Miss();
            if (!_flights.TryGetValue(key, out flight)) flight = StartFlight(key);
            flight.Waiters++;
        }

        Outcome outcome;
        try
        {
            outcome = await flight.Task.WaitAsync(ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // This waiter's lease was counted in; give it back when the call ends.
            _ = flight.Task.ContinueWith(t => t.Result.Entry?.Release(), CancellationToken.None,
                TaskContinuationOptions.OnlyOnRanToCompletion, TaskScheduler.Default);
            throw;
        }
        if (outcome.Error is null) return new CacheLease(outcome.Entry!, Stale: false);
        if (outcome.Stale && !refreshNow)
        {
            metrics.StaleServe();
            return new CacheLease(outcome.Entry!, Stale: true);
        }
        outcome.Entry?.Release();
        throw outcome.Error;
    }

    /// <summary>
    /// The answer when it needs no upstream call (a fresh entry, or a stale one while the server is known to be
    /// down); false otherwise. The cache-hit path: no allocation, no cancellation token.
    /// </summary>
    public bool TryGet(CacheKey key, out CacheLease lease)
    {
        lock (_gate) return TryGetLocked(key, out lease);
    }

    private bool TryGetLocked(CacheKey key, out CacheLease lease)
    {
        lease = default;
        if (!_map.TryGetValue(key, out var entry) || entry.Invalidated) return false;
        var now = time.GetUtcNow();
        if (now < entry.ExpiresAt)
        {
            if (_lru.First != entry.Node)
            {
                _lru.Remove(entry.Node!);
                _lru.AddFirst(entry.Node!);
            }
            entry.Acquire();
            metrics.Hit();
            if (now >= entry.RefreshAt && !_flights.ContainsKey(key))
            {
                entry.RefreshAt = now + CacheSettings.RefreshBackoff;
                metrics.Refresh();
                StartFlight(key);
            }
            lease = new CacheLease(entry, Stale: false);
            return true;
        }
        if (now < entry.RetryAt && now < entry.ExpiresAt + settings.MaxStale)
        {
            // The server failed a moment ago: answer stale without asking again at once.
            entry.Acquire();
            metrics.StaleServe();
            lease = new CacheLease(entry, Stale: true);
            return true;
        }
        return false;
    }

    /// <summary>Marks every entry of the secret changed and refreshes them in the background.</summary>
    public void Invalidate(IEnumerable<string> arns)
    {
        var set = arns as IReadOnlySet<string> ?? new HashSet<string>(arns, StringComparer.Ordinal);
        if (set.Count == 0) return;
        lock (_gate)
        {
            _stamp++;
            if (_flights.Count > 0)
                foreach (var arn in set) _changedDuringFlights[arn] = _stamp;
            foreach (var entry in _lru)
            {
                if (!set.Contains(entry.Arn) || entry.Invalidated) continue;
                entry.Invalidated = true;
                metrics.Invalidation();
                if (!_flights.ContainsKey(entry.Key))
                {
                    metrics.Refresh();
                    StartFlight(entry.Key);
                }
            }
        }
    }

    /// <summary>Drops every entry (the server restarted, or the feed lost track). Calls under way store nothing fresh.</summary>
    public void Clear()
    {
        lock (_gate)
        {
            _clearedAt = ++_stamp;
            foreach (var entry in _lru)
            {
                entry.Evict();
                metrics.Eviction();
            }
            _lru.Clear();
            _map.Clear();
        }
    }

    private Flight StartFlight(CacheKey key)
    {
        var flight = new Flight { Task = null! };
        flight.Task = FetchAsync(key, flight, _stamp);
        _flights[key] = flight;
        return flight;
    }

    private async Task<Outcome> FetchAsync(CacheKey key, Flight flight, long stamp)
    {
        await Task.Yield(); // never complete inside the caller's lock
        FetchedSecret? fetched = null;
        UpstreamException? error = null;
        try
        {
            fetched = await source.GetSecretValueAsync(key, CancellationToken.None).ConfigureAwait(false);
        }
        catch (UpstreamException e) { error = e; }
        catch (Exception)
        {
            error = new UpstreamException(500, "InternalFailure", "", transient: true);
        }

        lock (_gate)
        {
            _flights.Remove(key);
            var changedMeanwhile = _clearedAt > stamp
                || (fetched is not null && _changedDuringFlights.TryGetValue(fetched.Arn, out var changedAt) && changedAt > stamp);
            if (_flights.Count == 0) _changedDuringFlights.Clear();
            var now = time.GetUtcNow();
            _map.TryGetValue(key, out var old);
            if (fetched is not null)
            {
                var entry = new CacheEntry(key, fetched.Arn, fetched.Body, now, settings.Ttl, settings.RefreshAhead);
                entry.Acquire(flight.Waiters);
                if (settings.Capacity == 0 || settings.Ttl <= TimeSpan.Zero)
                {
                    entry.Evict(); // not cached: zeroed once the waiters have written it
                    return new Outcome(entry, null, false);
                }
                if (old is not null) Remove(old);
                entry.Node = _lru.AddFirst(entry);
                _map[key] = entry;
                while (_map.Count > settings.Capacity)
                {
                    Remove(_lru.Last!.Value);
                    metrics.Eviction();
                }
                if (changedMeanwhile && entry.Node is not null)
                {
                    // A change was announced while this call was under way: the answer may predate it. Its
                    // waiters get it (they asked before the change was known); the cache asks again at once.
                    entry.Invalidated = true;
                    metrics.Refresh();
                    StartFlight(key);
                }
                return new Outcome(entry, null, false);
            }

            if (old is not null && error!.Transient && !old.Invalidated && now < old.ExpiresAt + settings.MaxStale)
            {
                if (now < old.ExpiresAt) old.RefreshAt = now + CacheSettings.RefreshBackoff;
                else old.RetryAt = now + CacheSettings.RetryAfterError;
                old.Acquire(flight.Waiters);
                return new Outcome(old, error, Stale: true);
            }
            // A definite answer (not found, deleted, access denied) or too stale: the old value goes.
            if (old is not null && (!error!.Transient || now >= old.ExpiresAt + settings.MaxStale)) Remove(old);
            return new Outcome(null, error, false);
        }
    }

    private void Remove(CacheEntry entry)
    {
        _map.Remove(entry.Key);
        if (entry.Node is not null) _lru.Remove(entry.Node);
        entry.Node = null;
        entry.Evict();
    }
}
