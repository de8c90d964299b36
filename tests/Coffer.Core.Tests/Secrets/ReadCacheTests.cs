using Coffer.Core.Principals;
using Coffer.Core.Secrets;
using Coffer.Crypto;
using Coffer.Storage.Sqlite;

namespace Coffer.Core.Tests.Secrets;

/// <summary>
/// The service's read-through cache (<see cref="CachingSecretStore"/>) on a real SQLite file: every write path
/// makes the next read see the write, whether the secret was cached by name, full ARN or partial ARN; and a
/// load that races with a write never leaves a stale entry behind.
/// </summary>
public sealed class ReadCacheTests : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("coffer-cache-").FullName;
    private SqliteStore _store = null!;
    private SecretService _svc = null!;
    private readonly Clock _time = new(new DateTimeOffset(2026, 3, 1, 12, 0, 0, TimeSpan.Zero));
    private static readonly RequestContext Ctx = new(
        new Principal("arn:aws:iam::111111111111:user/t", "111111111111", "AIDATEST", "t", "AKIATEST", true), "us-east-1", "req-1");
    private static readonly RequestContext West = Ctx with { Region = "us-west-2" };

    public Task InitializeAsync()
    {
        _store = SqliteStore.Open(Path.Combine(_dir, "coffer.db"));
        _svc = new SecretService(_store, new EnvelopeCipher(MasterKey.Generate()), "111111111111", _time,
            new SecretsOptions { VersionsToKeep = 2, VersionMinimumAge = TimeSpan.FromHours(1) });
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _store.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    private static string Token() => Guid.NewGuid().ToString();

    private async Task<string> Create(string name, string value, RequestContext? ctx = null) =>
        (await _svc.CreateSecretAsync(ctx ?? Ctx, new CreateSecretRequest { Name = name, SecretString = value, ClientRequestToken = Token() }, default)).ARN;

    private Task<PutSecretValueResult> Put(string id, string value, List<string>? stages = null) =>
        _svc.PutSecretValueAsync(Ctx, new PutSecretValueRequest { SecretId = id, SecretString = value, ClientRequestToken = Token(), VersionStages = stages }, default);

    private Task<GetSecretValueResult> Get(string id, string? versionId = null, RequestContext? ctx = null) =>
        _svc.GetSecretValueAsync(ctx ?? Ctx, new GetSecretValueRequest { SecretId = id, VersionId = versionId }, default);

    private Task<DescribeSecretResult> Describe(string id) =>
        _svc.DescribeSecretAsync(Ctx, new DescribeSecretRequest { SecretId = id }, default);

    private static async Task<string> Code(Func<Task> call) => (await Assert.ThrowsAsync<ServiceException>(call)).Code;

    /// <summary>Reads the secret by all three kinds of SecretId so that each has a cache entry.</summary>
    private async Task WarmAsync(string arn, string expected)
    {
        foreach (var id in Ids(arn))
        {
            Assert.Equal(expected, (await Get(id)).SecretString);
            Assert.Equal(expected, (await Get(id)).SecretString); // served from the cache
        }
    }

    private async Task AssertValueAsync(string arn, string expected)
    {
        foreach (var id in Ids(arn)) Assert.Equal(expected, (await Get(id)).SecretString);
    }

    private static string[] Ids(string arn)
    {
        var name = arn[(arn.IndexOf(":secret:", StringComparison.Ordinal) + 8)..^7];
        return [name, arn, arn[..^7]];
    }

    [Fact]
    public async Task PutSecretValue_is_seen_by_the_next_read()
    {
        var arn = await Create("cache/put", "v0");
        await WarmAsync(arn, "v0");
        await Put("cache/put", "v1");
        await AssertValueAsync(arn, "v1");
        await Put(arn, "v2");
        await AssertValueAsync(arn, "v2");
    }

    [Fact]
    public async Task UpdateSecret_value_and_metadata_are_seen_by_the_next_read()
    {
        var arn = await Create("cache/update", "v0");
        await WarmAsync(arn, "v0");
        Assert.Null((await Describe(arn)).Description);
        await _svc.UpdateSecretAsync(Ctx, new UpdateSecretRequest { SecretId = arn, SecretString = "v1", ClientRequestToken = Token() }, default);
        await AssertValueAsync(arn, "v1");
        await _svc.UpdateSecretAsync(Ctx, new UpdateSecretRequest { SecretId = "cache/update", Description = "now described" }, default);
        Assert.Equal("now described", (await Describe(arn)).Description);
        Assert.Equal("now described", (await Describe("cache/update")).Description);
    }

    [Fact]
    public async Task UpdateSecretVersionStage_moves_what_a_read_returns()
    {
        var arn = await Create("cache/stage", "v0");
        var first = (await Get(arn)).VersionId!;
        var second = (await Put(arn, "v1")).VersionId;
        await WarmAsync(arn, "v1");
        await _svc.UpdateSecretVersionStageAsync(Ctx, new UpdateSecretVersionStageRequest
        {
            SecretId = arn, VersionStage = StagingLabels.Current, MoveToVersionId = first, RemoveFromVersionId = second,
        }, default);
        await AssertValueAsync(arn, "v0");
        Assert.Equal([StagingLabels.Current], (await Get("cache/stage")).VersionStages);
        Assert.Contains(StagingLabels.Previous, (await Get(arn, versionId: second)).VersionStages!);
    }

    [Fact]
    public async Task DeleteSecret_and_RestoreSecret_are_seen_by_the_next_read()
    {
        var arn = await Create("cache/delete", "v0");
        await WarmAsync(arn, "v0");
        await _svc.DeleteSecretAsync(Ctx, new DeleteSecretRequest { SecretId = arn, RecoveryWindowInDays = 7 }, default);
        foreach (var id in Ids(arn)) Assert.Equal("InvalidRequestException", await Code(() => Get(id)));
        Assert.NotNull((await Describe(arn)).DeletedDate);
        await _svc.RestoreSecretAsync(Ctx, new SecretIdRequest { SecretId = "cache/delete" }, default);
        await AssertValueAsync(arn, "v0");
        Assert.Null((await Describe(arn)).DeletedDate);
    }

    [Fact]
    public async Task Force_delete_and_recreate_under_the_same_name_serve_the_new_secret()
    {
        var arn = await Create("cache/purge", "old");
        await WarmAsync(arn, "old");
        await _svc.DeleteSecretAsync(Ctx, new DeleteSecretRequest { SecretId = "cache/purge", ForceDeleteWithoutRecovery = true }, default);
        foreach (var id in Ids(arn)) Assert.Equal("ResourceNotFoundException", await Code(() => Get(id)));
        var again = await Create("cache/purge", "new");
        Assert.NotEqual(arn, again);
        Assert.Equal("new", (await Get("cache/purge")).SecretString);
        Assert.Equal("new", (await Get(again)).SecretString);
        Assert.Equal("ResourceNotFoundException", await Code(() => Get(arn)));
    }

    [Fact]
    public async Task The_purge_sweeper_is_seen_by_the_next_read()
    {
        var arn = await Create("cache/sweep", "v0");
        await _svc.DeleteSecretAsync(Ctx, new DeleteSecretRequest { SecretId = arn, RecoveryWindowInDays = 7 }, default);
        Assert.NotNull((await Describe(arn)).DeletedDate);
        Assert.NotNull((await Describe("cache/sweep")).DeletedDate);
        _time.Advance(TimeSpan.FromDays(8));
        Assert.Equal(1, await _svc.PurgeDueSecretsAsync(default));
        Assert.Equal("ResourceNotFoundException", await Code(() => Describe(arn)));
        Assert.Equal("ResourceNotFoundException", await Code(() => Describe("cache/sweep")));
    }

    [Fact]
    public async Task Versions_removed_by_retention_are_no_longer_served()
    {
        var arn = await Create("cache/retention", "v0");
        var v0 = (await Get(arn)).VersionId!;
        await Put(arn, "v1");
        await Put(arn, "v2"); // v0 is now unlabelled
        Assert.Equal("v0", (await Get(arn, versionId: v0)).SecretString);
        Assert.Equal("v0", (await Get(arn, versionId: v0)).SecretString);
        _time.Advance(TimeSpan.FromHours(2));
        await Put(arn, "v3"); // keeps 2 (+ the new one): v0 goes
        Assert.Equal("ResourceNotFoundException", await Code(() => Get(arn, versionId: v0)));
        Assert.Equal("ResourceNotFoundException", await Code(() => Get("cache/retention", versionId: v0)));
        await AssertValueAsync(arn, "v3");
    }

    [Fact]
    public async Task Tags_and_resource_policies_are_seen_by_the_next_describe()
    {
        var arn = await Create("cache/tags", "v0");
        Assert.Null((await Describe(arn)).Tags);
        await _svc.TagResourceAsync(Ctx, new TagResourceRequest { SecretId = arn, Tags = [new Tag("k", "v")] }, default);
        Assert.Equal([new Tag("k", "v")], (await Describe(arn)).Tags);
        await _svc.UntagResourceAsync(Ctx, new UntagResourceRequest { SecretId = "cache/tags", TagKeys = ["k"] }, default);
        Assert.Empty((await Describe(arn)).Tags!);
        const string policy = """{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:root"},"Action":"secretsmanager:GetSecretValue","Resource":"*"}]}""";
        Assert.Null((await _svc.GetResourcePolicyAsync(Ctx, new SecretIdRequest { SecretId = arn }, default)).ResourcePolicy);
        await _svc.PutResourcePolicyAsync(Ctx, new PutResourcePolicyRequest { SecretId = arn, ResourcePolicy = policy }, default);
        Assert.Equal(policy, (await _svc.GetResourcePolicyAsync(Ctx, new SecretIdRequest { SecretId = arn }, default)).ResourcePolicy);
        await _svc.DeleteResourcePolicyAsync(Ctx, new SecretIdRequest { SecretId = arn }, default);
        Assert.Null((await _svc.GetResourcePolicyAsync(Ctx, new SecretIdRequest { SecretId = arn }, default)).ResourcePolicy);
    }

    [Fact]
    public async Task LastAccessedDate_shows_after_a_read_and_a_cached_read_does_not_hide_it()
    {
        var arn = await Create("cache/accessed", "v0");
        Assert.Null((await Describe(arn)).LastAccessedDate);
        await Get(arn);
        var today = new DateTimeOffset(2026, 3, 1, 0, 0, 0, TimeSpan.Zero);
        Assert.Equal(today, (await Describe(arn)).LastAccessedDate);
        _time.Advance(TimeSpan.FromDays(1));
        await Get("cache/accessed");
        Assert.Equal(today.AddDays(1), (await Describe(arn)).LastAccessedDate);
    }

    [Fact]
    public async Task Regions_are_kept_apart()
    {
        var east = await Create("cache/region", "east");
        var west = await Create("cache/region", "west", West);
        Assert.Equal("east", (await Get("cache/region")).SecretString);
        Assert.Equal("west", (await Get("cache/region", ctx: West)).SecretString);
        await Put(east, "east-2");
        Assert.Equal("east-2", (await Get("cache/region")).SecretString);
        Assert.Equal("west", (await Get("cache/region", ctx: West)).SecretString);
        Assert.Equal("west", (await Get(west, ctx: West)).SecretString);
    }

    [Fact]
    public async Task Handed_out_secrets_are_private_copies()
    {
        var cache = new CachingSecretStore(_store);
        await _svc.CreateSecretAsync(Ctx, new CreateSecretRequest { Name = "cache/copy", SecretString = "v", ClientRequestToken = Token() }, default);
        var a = await cache.FindByNameAsync("us-east-1", "cache/copy", default);
        a!.Description = "changed in memory";
        a.Versions[0].Stages.Clear();
        var b = await cache.FindByNameAsync("us-east-1", "cache/copy", default);
        Assert.Null(b!.Description);
        Assert.Equal([StagingLabels.Current], b.Versions[0].Stages);
    }

    [Fact]
    public async Task A_load_that_raced_with_a_write_never_leaves_a_stale_entry()
    {
        await _svc.CreateSecretAsync(Ctx, new CreateSecretRequest { Name = "cache/race", SecretString = "v0", ClientRequestToken = Token() }, default);
        var slow = new SlowReads(_store);
        var cache = new CachingSecretStore(slow);
        // A reader loads the old state and is held before it can cache it...
        slow.Hold = true;
        var stale = cache.FindByNameAsync("us-east-1", "cache/race", default);
        await slow.Loaded.Task;
        // ...while a write through the cache commits and is acknowledged...
        await cache.WriteAsync(tx =>
        {
            var s = tx.FindByName("us-east-1", "cache/race")!;
            s.Description = "written";
            tx.UpdateSecret(s);
            return 0;
        }, default);
        // ...then the reader stores what it loaded. The next read must not be served that.
        slow.Release.SetResult();
        Assert.Null((await stale)!.Description);
        slow.Hold = false;
        Assert.Equal("written", (await cache.FindByNameAsync("us-east-1", "cache/race", default))!.Description);
        Assert.Equal(1, slow.Reads - 1); // the second read went to the store
    }

    /// <summary>A store whose next name lookup loads, then waits until released (a slow reader racing a writer).</summary>
    private sealed class SlowReads(ISecretStore inner) : ISecretStore
    {
        public volatile bool Hold;
        public int Reads;
        public TaskCompletionSource Loaded { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public async Task<Secret?> FindByNameAsync(string region, string name, CancellationToken ct)
        {
            Interlocked.Increment(ref Reads);
            var secret = await inner.FindByNameAsync(region, name, ct);
            if (Hold)
            {
                Loaded.TrySetResult();
                await Release.Task;
            }
            return secret;
        }

        public Task<Secret?> FindByArnAsync(string arn, CancellationToken ct) => inner.FindByArnAsync(arn, ct);
        public Task<byte[]?> ReadBlobAsync(long secretId, string versionId, CancellationToken ct) => inner.ReadBlobAsync(secretId, versionId, ct);
        public Task<IReadOnlyList<Secret>> ListAsync(string region, CancellationToken ct) => inner.ListAsync(region, ct);
        public Task<IReadOnlyList<Secret>> ListDueForPurgeAsync(DateTimeOffset now, CancellationToken ct) => inner.ListDueForPurgeAsync(now, ct);
        public Task<IReadOnlyList<Secret>> ListRotatingAsync(CancellationToken ct) => inner.ListRotatingAsync(ct);
        public Task<T> WriteAsync<T>(Func<ISecretTransaction, T> work, CancellationToken ct) => inner.WriteAsync(work, ct);
    }

    private sealed class Clock(DateTimeOffset start) : TimeProvider
    {
        private DateTimeOffset _now = start;
        public override DateTimeOffset GetUtcNow() => _now;
        public void Advance(TimeSpan by) => _now += by;
    }
}
