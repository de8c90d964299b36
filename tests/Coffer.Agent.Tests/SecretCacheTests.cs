using System.Text;

namespace Coffer.Agent.Tests;

public sealed class SecretCacheTests
{
    private static readonly TimeSpan Ttl = TimeSpan.FromSeconds(300);
    private static readonly TimeSpan MaxStale = TimeSpan.FromSeconds(60);

    private readonly ManualClock _clock = new();
    private readonly FakeSource _source = new();
    private readonly AgentMetrics _metrics = new();

    private SecretCache Cache(int capacity = 1000, TimeSpan? ttl = null, TimeSpan? maxStale = null) =>
        new(_source, new CacheSettings(capacity, ttl ?? Ttl, maxStale ?? MaxStale), _clock, _metrics);

    private static CacheKey Key(string id) => new(id, null, null);

    private static async Task<string> Read(SecretCache cache, string id, bool refreshNow = false)
    {
        var lease = await cache.GetAsync(Key(id), refreshNow, CancellationToken.None);
        try { return Encoding.UTF8.GetString(lease.Entry.Body); }
        finally { lease.Entry.Release(); }
    }

    /// <summary>Lets background flights (refresh ahead, invalidation) finish.</summary>
    private static async Task Settle(Func<bool> done)
    {
        for (var i = 0; i < 200 && !done(); i++) await Task.Delay(5);
        Assert.True(done());
    }

    [Fact]
    public async Task A_hit_makes_no_upstream_call()
    {
        var cache = Cache();
        Assert.Equal("a#1", await Read(cache, "a"));
        _clock.Advance(TimeSpan.FromSeconds(100));
        Assert.Equal("a#1", await Read(cache, "a"));
        Assert.Equal(1, _source.Calls);
        Assert.Equal(1, _metrics.Hits);
        Assert.Equal(1, _metrics.Misses);
    }

    [Fact]
    public async Task An_expired_entry_is_fetched_again()
    {
        var cache = Cache();
        await Read(cache, "a");
        _source.Rotate("a");
        _clock.Advance(Ttl);
        Assert.Equal("a#2", await Read(cache, "a"));
        Assert.Equal(2, _source.Calls);
    }

    [Fact]
    public async Task RefreshNow_fetches_and_stores_with_a_new_ttl()
    {
        var cache = Cache();
        await Read(cache, "a");
        _source.Rotate("a");
        Assert.Equal("a#2", await Read(cache, "a", refreshNow: true));
        Assert.Equal("a#2", await Read(cache, "a"));
        Assert.Equal(2, _source.Calls);
    }

    [Fact]
    public async Task RefreshNow_failure_returns_the_error_and_keeps_the_entry()
    {
        var cache = Cache();
        await Read(cache, "a");
        _source.Failure = new UpstreamException(502, "ConnectionError", "Read Error", transient: true);
        var e = await Assert.ThrowsAsync<UpstreamException>(() => Read(cache, "a", refreshNow: true));
        Assert.Equal(502, e.Status);
        Assert.Equal("a#1", await Read(cache, "a"));
    }

    [Fact]
    public async Task Concurrent_misses_make_one_upstream_call()
    {
        var cache = Cache();
        _source.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var readers = Enumerable.Range(0, 100).Select(_ => Read(cache, "a")).ToArray();
        await Settle(() => _source.Calls == 1);
        _source.Gate.SetResult();
        var values = await Task.WhenAll(readers);
        Assert.All(values, v => Assert.Equal("a#1", v));
        Assert.Equal(1, _source.Calls);
    }

    [Fact]
    public async Task The_least_recently_used_entry_is_evicted_and_zeroed()
    {
        var cache = Cache(capacity: 2);
        var leaseA = await cache.GetAsync(Key("a"), false, CancellationToken.None);
        var bodyA = leaseA.Entry.Body;
        leaseA.Entry.Release();
        await Read(cache, "b");
        await Read(cache, "a");          // a is now the most recent
        await Read(cache, "c");          // evicts b
        Assert.Equal(2, cache.Count);
        Assert.Equal(3, _source.Calls);
        await Read(cache, "a");
        Assert.Equal(3, _source.Calls);  // still cached
        await Read(cache, "b");
        Assert.Equal(4, _source.Calls);  // was evicted; now evicts c
        Assert.Equal(2, _metrics.Evictions);
        Assert.Equal("a#1", Encoding.UTF8.GetString(bodyA));

        await Read(cache, "c");          // evicts a (b was just read; a least recent)
        Assert.All(bodyA, b => Assert.Equal(0, b));
    }

    [Fact]
    public async Task An_evicted_entry_is_zeroed_only_after_its_last_reader()
    {
        var cache = Cache(capacity: 1);
        var lease = await cache.GetAsync(Key("a"), false, CancellationToken.None);
        await Read(cache, "b"); // evicts a while the lease is held
        Assert.Equal("a#1", Encoding.UTF8.GetString(lease.Entry.Body));
        lease.Entry.Release();
        Assert.All(lease.Entry.Body, b => Assert.Equal(0, b));
    }

    [Fact]
    public async Task Stale_values_are_served_while_the_server_is_unreachable_up_to_the_limit()
    {
        var cache = Cache();
        await Read(cache, "a");
        _source.Failure = new UpstreamException(502, "ConnectionError", "Read Error", transient: true);
        _clock.Advance(Ttl + TimeSpan.FromSeconds(1));
        var lease = await cache.GetAsync(Key("a"), false, CancellationToken.None);
        Assert.True(lease.Stale);
        lease.Entry.Release();
        Assert.Equal(1, _metrics.StaleServes);

        _clock.Advance(MaxStale);
        var e = await Assert.ThrowsAsync<UpstreamException>(() => Read(cache, "a"));
        Assert.Equal("ConnectionError", e.Code);

        _source.Failure = null;
        Assert.Equal("a#1", await Read(cache, "a"));
    }

    [Fact]
    public async Task A_stale_answer_does_not_ask_the_server_again_within_a_second()
    {
        var cache = Cache();
        await Read(cache, "a");
        _source.Failure = new UpstreamException(504, "TimeoutError", "Timeout", transient: true);
        _clock.Advance(Ttl);
        await Read(cache, "a");
        await Read(cache, "a");
        Assert.Equal(2, _source.Calls);
        _clock.Advance(CacheSettings.RetryAfterError);
        await Read(cache, "a");
        Assert.Equal(3, _source.Calls);
    }

    [Fact]
    public async Task A_definite_error_drops_the_entry()
    {
        var cache = Cache();
        await Read(cache, "a");
        _source.Failure = new UpstreamException(400, "ResourceNotFoundException", "Secrets Manager can't find the specified secret.", transient: false);
        _clock.Advance(Ttl);
        await Assert.ThrowsAsync<UpstreamException>(() => Read(cache, "a"));
        Assert.Equal(0, cache.Count);
    }

    [Fact]
    public async Task A_hit_near_expiry_refreshes_in_the_background()
    {
        var cache = Cache();
        await Read(cache, "a");
        _source.Rotate("a");
        _clock.Advance(Ttl - TimeSpan.FromSeconds(10));
        Assert.Equal("a#1", await Read(cache, "a")); // served at once, refresh started
        await Settle(() => _source.Calls == 2);
        await Settle(() => _metrics.Refreshes == 1);
        for (var i = 0; i < 100 && (await Read(cache, "a")) != "a#2"; i++) await Task.Delay(5);
        Assert.Equal("a#2", await Read(cache, "a"));
        _clock.Advance(TimeSpan.FromSeconds(20)); // past the old expiry: the refreshed entry is still fresh
        Assert.Equal("a#2", await Read(cache, "a"));
        Assert.Equal(2, _source.Calls);
    }

    [Fact]
    public async Task Invalidation_refreshes_the_changed_secret_only()
    {
        var cache = Cache();
        await Read(cache, "a");
        await Read(cache, "b");
        _source.Rotate("a");
        _source.Rotate("b");
        cache.Invalidate([FakeSource.Arn("a")]);
        await Settle(() => _source.Calls == 3);
        Assert.Equal("a#2", await Read(cache, "a"));
        Assert.Equal("b#1", await Read(cache, "b"));
        Assert.Equal(1, _metrics.Invalidations);
    }

    [Fact]
    public async Task An_invalidated_value_is_not_served_stale()
    {
        var cache = Cache();
        await Read(cache, "a");
        _source.Failure = new UpstreamException(502, "ConnectionError", "Read Error", transient: true);
        cache.Invalidate([FakeSource.Arn("a")]);
        await Settle(() => _source.Calls == 2);
        await Assert.ThrowsAsync<UpstreamException>(() => Read(cache, "a"));
    }

    [Fact]
    public async Task A_fetch_under_way_during_an_invalidation_is_not_trusted()
    {
        var cache = Cache();
        _source.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var first = Read(cache, "a");
        await Settle(() => _source.Calls == 1);
        _source.Rotate("a");
        cache.Invalidate([FakeSource.Arn("a")]); // no entry yet; the answer under way predates the change
        _source.Gate.SetResult();
        Assert.Equal("a#1", await first);       // its waiter asked before the change was known
        await Settle(() => _source.Calls == 2); // the cache asked again at once
        for (var i = 0; i < 100 && (await Read(cache, "a")) != "a#2"; i++) await Task.Delay(5);
        Assert.Equal("a#2", await Read(cache, "a"));
        Assert.Equal(2, _source.Calls);
    }

    [Fact]
    public async Task An_invalidation_of_another_secret_does_not_disturb_a_fetch()
    {
        var cache = Cache();
        _source.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var first = Read(cache, "a");
        await Settle(() => _source.Calls == 1);
        cache.Invalidate([FakeSource.Arn("b")]);
        _source.Gate.SetResult();
        Assert.Equal("a#1", await first);
        Assert.Equal("a#1", await Read(cache, "a"));
        Assert.Equal(1, _source.Calls);
    }

    [Fact]
    public async Task Clear_drops_everything_and_zeroes_values()
    {
        var cache = Cache();
        var lease = await cache.GetAsync(Key("a"), false, CancellationToken.None);
        lease.Entry.Release();
        cache.Clear();
        Assert.Equal(0, cache.Count);
        Assert.All(lease.Entry.Body, b => Assert.Equal(0, b));
        await Read(cache, "a");
        Assert.Equal(2, _source.Calls);
    }

    [Fact]
    public async Task Capacity_zero_caches_nothing()
    {
        var cache = Cache(capacity: 0);
        Assert.Equal("a#1", await Read(cache, "a"));
        Assert.Equal("a#1", await Read(cache, "a"));
        Assert.Equal(2, _source.Calls);
        Assert.Equal(0, cache.Count);
    }

    [Fact]
    public async Task Versions_and_labels_are_cached_separately()
    {
        var cache = Cache();
        await cache.GetAsync(new CacheKey("a", null, "AWSPREVIOUS"), false, CancellationToken.None);
        await cache.GetAsync(new CacheKey("a", "v1", null), false, CancellationToken.None);
        await Read(cache, "a");
        Assert.Equal(3, _source.Calls);
        Assert.Equal(3, cache.Count);
    }
}
