using System.Net;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Coffer.Agent.Tests;

/// <summary>The watcher against a stand-in for the server's <c>GET /coffer/changes</c> (a real HTTP listener).</summary>
public sealed class ChangeFeedWatcherTests : IAsyncDisposable
{
    private readonly FakeSource _source = new();
    private readonly AgentMetrics _metrics = new();
    private WebApplication? _feed;
    // The answer to the first poll after the position, when the test releases it.
    private readonly TaskCompletionSource<(int Status, string Body)> _batch = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _polls;

    public async ValueTask DisposeAsync()
    {
        if (_feed is not null) await _feed.DisposeAsync();
    }

    /// <summary>
    /// A feed that answers its position at once, the first poll after it with <see cref="_batch"/> once the test sets
    /// it, and holds every later poll until the test ends.
    /// </summary>
    /// <summary>An upstream client (test keys) for the feed server this test starts.</summary>
    private async Task<UpstreamClient> UpstreamToFeedAsync()
    {
        var signer = new SigV4Signer(new AwsCredentials("AKID", "secret", null, "test"), "us-east-1", "secretsmanager");
        return new UpstreamClient(await StartFeedAsync(), signer, TimeSpan.FromSeconds(5), TimeProvider.System, _metrics);
    }

    private async Task<Uri> StartFeedAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
        _feed = builder.Build();
        _feed.MapGet("/coffer/changes", async (HttpContext http) =>
        {
            if (http.Request.Query.ContainsKey("after"))
            {
                try
                {
                    if (Interlocked.Increment(ref _polls) > 1) await Task.Delay(Timeout.Infinite, http.RequestAborted);
                    var (status, body) = await _batch.Task.WaitAsync(http.RequestAborted);
                    http.Response.StatusCode = status;
                    http.Response.ContentType = "application/json";
                    await http.Response.WriteAsync(body);
                }
                catch (OperationCanceledException) { }
                return;
            }
            http.Response.ContentType = "application/json";
            await http.Response.WriteAsync("""{"Epoch":"e1","Sequence":7,"Reset":false,"Arns":[]}""");
        });
        await _feed.StartAsync();
        var address = _feed.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new Uri(address);
    }

    [Fact]
    public async Task Entries_fetched_before_the_feed_is_first_followed_are_dropped()
    {
        // Values read while the feed could not be followed yet (the agent started before the server) may have been
        // replaced before the feed's first position; no batch will ever name that change.
        var cache = new SecretCache(_source, new CacheSettings(1000, TimeSpan.FromSeconds(300), TimeSpan.FromSeconds(60)), TimeProvider.System, _metrics);
        var lease = await cache.GetAsync(new CacheKey("a", null, null), refreshNow: false, CancellationToken.None);
        lease.Entry.Release();
        _source.Rotate("a");
        Assert.Equal(1, cache.Count);

        using var upstream = await UpstreamToFeedAsync();
        using var watcher = new ChangeFeedWatcher(upstream, cache, _metrics, NullLogger<ChangeFeedWatcher>.Instance);
        await watcher.StartAsync(CancellationToken.None);
        try
        {
            for (var i = 0; i < 400 && _metrics.FeedConnected == 0; i++) await Task.Delay(10);
            Assert.Equal(1, _metrics.FeedConnected);
            Assert.Equal(0, cache.Count);
            lease = await cache.GetAsync(new CacheKey("a", null, null), refreshNow: false, CancellationToken.None);
            try { Assert.Equal("a#2", Encoding.UTF8.GetString(lease.Entry.Body)); }
            finally { lease.Entry.Release(); }
        }
        finally
        {
            await watcher.StopAsync(CancellationToken.None);
        }
    }

    [Theory]
    [InlineData("""{"Epoch":"e1","Sequence":8,"Reset":true,"IamChanged":true,"Arns":[]}""", 1, 0)]
    // From a server that predates IamChanged (or a reset for falling behind): the same drop, counted as a feed reset.
    [InlineData("""{"Epoch":"e1","Sequence":8,"Reset":true,"Arns":[]}""", 0, 1)]
    public async Task An_iam_change_on_the_feed_drops_every_entry(string batch, long iamResets, long feedResets)
    {
        var cache = new SecretCache(_source, new CacheSettings(1000, TimeSpan.FromSeconds(300), TimeSpan.FromSeconds(60)), TimeProvider.System, _metrics);
        using var upstream = await UpstreamToFeedAsync();
        using var watcher = new ChangeFeedWatcher(upstream, cache, _metrics, NullLogger<ChangeFeedWatcher>.Instance);
        await watcher.StartAsync(CancellationToken.None);
        try
        {
            for (var i = 0; i < 400 && _metrics.FeedConnected == 0; i++) await Task.Delay(10);
            Assert.Equal(1, _metrics.FeedConnected);
            foreach (var id in new[] { "a", "b" })
                (await cache.GetAsync(new CacheKey(id, null, null), refreshNow: false, CancellationToken.None)).Entry.Release();
            Assert.Equal(2, cache.Count);

            _batch.SetResult((200, batch));
            for (var i = 0; i < 400 && _metrics.FeedSequence < 8; i++) await Task.Delay(10);
            Assert.Equal(8, _metrics.FeedSequence);
            Assert.Equal(0, cache.Count);
            Assert.Equal((iamResets, feedResets), (_metrics.IamResets, _metrics.FeedResets));
            // The next read asks the server, which now refuses; no cached copy is served instead.
            _source.Failure = new UpstreamException(400, "AccessDeniedException", "denied", transient: false);
            var denied = await Assert.ThrowsAsync<UpstreamException>(() => cache.GetAsync(new CacheKey("a", null, null), refreshNow: false, CancellationToken.None).AsTask());
            Assert.Equal(("AccessDeniedException", 3), (denied.Code, _source.Calls));
        }
        finally
        {
            await watcher.StopAsync(CancellationToken.None);
        }
    }

    [Fact]
    public async Task A_feed_that_refuses_credentials_it_accepted_before_drops_the_cache()
    {
        // The poll after an IAM change may be refused before it could read the notice (the key was deactivated,
        // ListSecrets was taken away): the agent cannot learn what changed, so it trusts nothing it holds.
        var cache = new SecretCache(_source, new CacheSettings(1000, TimeSpan.FromSeconds(300), TimeSpan.FromSeconds(60)), TimeProvider.System, _metrics);
        using var upstream = await UpstreamToFeedAsync();
        using var watcher = new ChangeFeedWatcher(upstream, cache, _metrics, NullLogger<ChangeFeedWatcher>.Instance);
        await watcher.StartAsync(CancellationToken.None);
        try
        {
            for (var i = 0; i < 400 && _metrics.FeedConnected == 0; i++) await Task.Delay(10);
            (await cache.GetAsync(new CacheKey("a", null, null), refreshNow: false, CancellationToken.None)).Entry.Release();
            Assert.Equal(1, cache.Count);

            _batch.SetResult((400, """{"__type":"UnrecognizedClientException","message":"The security token included in the request is invalid."}"""));
            for (var i = 0; i < 400 && _metrics.FeedResets == 0; i++) await Task.Delay(10);
            Assert.Equal((0, 0, 1L), (_metrics.FeedConnected, cache.Count, _metrics.FeedResets));
        }
        finally
        {
            await watcher.StopAsync(CancellationToken.None);
        }
    }
}
