using System.Text;
using Coffer.Core.Principals;
using Coffer.Core.Secrets;
using Coffer.Crypto;
using Coffer.Storage.Sqlite;

namespace Coffer.Core.Tests.Secrets;

/// <summary>The action rules of spec §2–§3, driven through SecretService on a real SQLite file.</summary>
public sealed class SecretServiceTests : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("coffer-svc-").FullName;
    private SqliteStore _store = null!;
    private SecretService _svc = null!;
    private readonly MutableTime _time = new(new DateTimeOffset(2026, 3, 1, 12, 0, 0, TimeSpan.Zero));
    private static readonly RequestContext Ctx = new(
        new Principal("arn:aws:iam::111111111111:user/t", "111111111111", "AIDATEST", "t", "AKIATEST", true), "us-east-1", "req-1");

    public Task InitializeAsync()
    {
        _store = SqliteStore.Open(Path.Combine(_dir, "coffer.db"));
        _svc = new SecretService(_store, new EnvelopeCipher(MasterKey.Generate()), "111111111111", _time, new SecretsOptions());
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _store.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    private static string Token() => Guid.NewGuid().ToString();

    private async Task<string> Create(string name, string? value = "v0")
    {
        var r = await _svc.CreateSecretAsync(Ctx, new CreateSecretRequest { Name = name, SecretString = value, ClientRequestToken = value is null ? null : Token() }, default);
        return r.ARN;
    }

    private Task<PutSecretValueResult> Put(string id, string value, string? token = null, List<string>? stages = null) =>
        _svc.PutSecretValueAsync(Ctx, new PutSecretValueRequest { SecretId = id, SecretString = value, ClientRequestToken = token ?? Token(), VersionStages = stages }, default);

    private Task<GetSecretValueResult> Get(string id, string? stage = null, string? versionId = null) =>
        _svc.GetSecretValueAsync(Ctx, new GetSecretValueRequest { SecretId = id, VersionStage = stage, VersionId = versionId }, default);

    private static async Task<string> Code(Func<Task> call) => (await Assert.ThrowsAsync<ServiceException>(call)).Code;

    [Fact]
    public async Task Create_get_and_resolve_by_name_full_arn_and_partial_arn()
    {
        var arn = await Create("prod/db", "s3cret");
        Assert.Equal("s3cret", (await Get("prod/db")).SecretString);
        Assert.Equal("s3cret", (await Get(arn)).SecretString);
        Assert.Equal("s3cret", (await Get(arn[..^7])).SecretString);
        Assert.Equal("ResourceNotFoundException", await Code(() => Get(arn.Replace("us-east-1", "us-west-2"))));
        Assert.Equal("ResourceNotFoundException", await Code(() => Get(arn.Replace("111111111111", "222222222222"))));
        Assert.Equal("ResourceNotFoundException", await Code(() => Get("prod/other")));
    }

    [Fact]
    public async Task Regions_are_kept_apart()
    {
        await Create("same");
        var west = Ctx with { Region = "us-west-2" };
        await _svc.CreateSecretAsync(west, new CreateSecretRequest { Name = "same", SecretString = "west", ClientRequestToken = Token() }, default);
        Assert.Equal("v0", (await Get("same")).SecretString);
        Assert.Equal("west", (await _svc.GetSecretValueAsync(west, new GetSecretValueRequest { SecretId = "same" }, default)).SecretString);
        Assert.Single((await _svc.ListSecretsAsync(west, new ListSecretsRequest(), default)).SecretList);
    }

    [Fact]
    public async Task Put_moves_current_and_previous()
    {
        var arn = await Create("labels");
        var v1 = (await Get(arn)).VersionId;
        var v2 = (await Put(arn, "v2")).VersionId;
        var v3 = (await Put(arn, "v3")).VersionId;
        var d = await _svc.DescribeSecretAsync(Ctx, new DescribeSecretRequest { SecretId = arn }, default);
        Assert.Equal(2, d.VersionIdsToStages!.Count);
        Assert.Equal(["AWSPREVIOUS"], d.VersionIdsToStages[v2]);
        Assert.Equal(["AWSCURRENT"], d.VersionIdsToStages[v3]);
        Assert.False(d.VersionIdsToStages.ContainsKey(v1));
        Assert.Equal("v2", (await Get(arn, "AWSPREVIOUS")).SecretString);
        Assert.Equal("v0", (await Get(arn, versionId: v1)).SecretString); // deprecated, still readable by id
        var versions = await _svc.ListSecretVersionIdsAsync(Ctx, new ListSecretVersionIdsRequest { SecretId = arn }, default);
        Assert.Equal([v2, v3], versions.Versions.Select(v => v.VersionId));
        var all = await _svc.ListSecretVersionIdsAsync(Ctx, new ListSecretVersionIdsRequest { SecretId = arn, IncludeDeprecated = true }, default);
        Assert.Equal([v1, v2, v3], all.Versions.Select(v => v.VersionId));
        Assert.Null(all.Versions[0].VersionStages);
    }

    [Fact]
    public async Task Put_with_custom_stages_leaves_current_alone()
    {
        var arn = await Create("custom");
        var a = await Put(arn, "a", stages: ["S0", "S1"]);
        var b = await Put(arn, "b", stages: ["S0", "S1"]);
        Assert.Equal(["S0", "S1"], b.VersionStages);
        Assert.Equal("v0", (await Get(arn)).SecretString);
        var d = await _svc.DescribeSecretAsync(Ctx, new DescribeSecretRequest { SecretId = arn }, default);
        Assert.False(d.VersionIdsToStages!.ContainsKey(a.VersionId));
        Assert.Equal("LimitExceededException", await Code(() => Put(arn, "c", stages: [.. Enumerable.Range(0, 20).Select(i => $"L{i}")])));
    }

    [Fact]
    public async Task First_version_of_an_empty_secret_becomes_current()
    {
        var arn = await Create("empty", null);
        Assert.Equal("ResourceNotFoundException", await Code(() => Get(arn)));
        var put = await Put(arn, "first", stages: ["AWSPENDING"]);
        Assert.Contains("AWSCURRENT", put.VersionStages);
    }

    [Fact]
    public async Task Token_replays_are_idempotent_and_conflicts_are_refused()
    {
        var arn = await Create("idem");
        var token = Token();
        var first = await Put(arn, "x", token);
        var again = await Put(arn, "x", token);
        Assert.Equal(first.VersionId, again.VersionId);
        Assert.Equal("ResourceExistsException", await Code(() => Put(arn, "y", token)));
        var versions = await _svc.ListSecretVersionIdsAsync(Ctx, new ListSecretVersionIdsRequest { SecretId = arn, IncludeDeprecated = true }, default);
        Assert.Equal(2, versions.Versions.Count);

        var createToken = Token();
        var c1 = await _svc.CreateSecretAsync(Ctx, new CreateSecretRequest { Name = "idem2", SecretString = "z", ClientRequestToken = createToken }, default);
        var c2 = await _svc.CreateSecretAsync(Ctx, new CreateSecretRequest { Name = "idem2", SecretString = "z", ClientRequestToken = createToken }, default);
        Assert.Equal((c1.ARN, c1.VersionId), (c2.ARN, c2.VersionId));
        Assert.Equal("ResourceExistsException", await Code(() => _svc.CreateSecretAsync(Ctx, new CreateSecretRequest { Name = "idem2", SecretString = "other", ClientRequestToken = createToken }, default)));
        Assert.Equal("ResourceExistsException", await Code(() => _svc.CreateSecretAsync(Ctx, new CreateSecretRequest { Name = "idem2", SecretString = "z", ClientRequestToken = Token() }, default)));
        Assert.Equal("InvalidRequestException", await Code(() => _svc.PutSecretValueAsync(Ctx, new PutSecretValueRequest { SecretId = arn, SecretString = "q" }, default)));
    }

    [Fact]
    public async Task Update_version_stage_requires_naming_the_holder()
    {
        var arn = await Create("stage");
        var v1 = (await Get(arn)).VersionId;
        var pending = await Put(arn, "p", stages: ["AWSPENDING"]);
        var e = await Assert.ThrowsAsync<ServiceException>(() => _svc.UpdateSecretVersionStageAsync(Ctx,
            new UpdateSecretVersionStageRequest { SecretId = arn, VersionStage = "AWSCURRENT", MoveToVersionId = pending.VersionId }, default));
        Assert.Equal("InvalidParameterException", e.Code);
        Assert.Contains(v1, e.Message);
        await _svc.UpdateSecretVersionStageAsync(Ctx, new UpdateSecretVersionStageRequest
        { SecretId = arn, VersionStage = "AWSCURRENT", MoveToVersionId = pending.VersionId, RemoveFromVersionId = v1 }, default);
        var d = await _svc.DescribeSecretAsync(Ctx, new DescribeSecretRequest { SecretId = arn }, default);
        Assert.Equal(["AWSPENDING", "AWSCURRENT"], d.VersionIdsToStages![pending.VersionId]);
        Assert.Equal(["AWSPREVIOUS"], d.VersionIdsToStages[v1]);
        // Removing a label detaches it; AWSCURRENT can't simply be detached.
        await _svc.UpdateSecretVersionStageAsync(Ctx, new UpdateSecretVersionStageRequest { SecretId = arn, VersionStage = "AWSPENDING", RemoveFromVersionId = pending.VersionId }, default);
        Assert.Equal("InvalidParameterException", await Code(() => _svc.UpdateSecretVersionStageAsync(Ctx,
            new UpdateSecretVersionStageRequest { SecretId = arn, VersionStage = "AWSCURRENT", RemoveFromVersionId = pending.VersionId }, default)));
    }

    [Fact]
    public async Task Deletion_window_blocks_values_until_restored_and_sweeper_purges()
    {
        var arn = await Create("doomed");
        await _svc.TagResourceAsync(Ctx, new TagResourceRequest { SecretId = arn, Tags = [new Tag("k", "v")] }, default);
        Assert.Equal("InvalidParameterException", await Code(() => _svc.DeleteSecretAsync(Ctx, new DeleteSecretRequest { SecretId = arn, RecoveryWindowInDays = 6 }, default)));
        Assert.Equal("InvalidParameterException", await Code(() => _svc.DeleteSecretAsync(Ctx, new DeleteSecretRequest { SecretId = arn, RecoveryWindowInDays = 7, ForceDeleteWithoutRecovery = true }, default)));
        var del = await _svc.DeleteSecretAsync(Ctx, new DeleteSecretRequest { SecretId = arn, RecoveryWindowInDays = 7 }, default);
        Assert.Equal(_time.GetUtcNow().AddDays(7), del.DeletionDate);
        Assert.Equal("InvalidRequestException", await Code(() => Get(arn)));
        Assert.Equal("InvalidRequestException", await Code(() => Put(arn, "x")));
        Assert.Equal("InvalidRequestException", await Code(() => _svc.CreateSecretAsync(Ctx, new CreateSecretRequest { Name = "doomed" }, default)));
        Assert.Empty((await _svc.ListSecretsAsync(Ctx, new ListSecretsRequest(), default)).SecretList);
        Assert.Single((await _svc.ListSecretsAsync(Ctx, new ListSecretsRequest { IncludePlannedDeletion = true }, default)).SecretList);
        Assert.NotNull((await _svc.DescribeSecretAsync(Ctx, new DescribeSecretRequest { SecretId = arn }, default)).DeletedDate);

        await _svc.RestoreSecretAsync(Ctx, new SecretIdRequest { SecretId = arn }, default);
        Assert.Equal("v0", (await Get(arn)).SecretString);
        Assert.Equal([new Tag("k", "v")], (await _svc.DescribeSecretAsync(Ctx, new DescribeSecretRequest { SecretId = arn }, default)).Tags);

        await _svc.DeleteSecretAsync(Ctx, new DeleteSecretRequest { SecretId = arn, RecoveryWindowInDays = 7 }, default);
        _time.Advance(TimeSpan.FromDays(6));
        Assert.Equal(0, await _svc.PurgeDueSecretsAsync(default));
        _time.Advance(TimeSpan.FromDays(1.5));
        Assert.Equal(1, await _svc.PurgeDueSecretsAsync(default));
        Assert.Equal("ResourceNotFoundException", await Code(() => _svc.DescribeSecretAsync(Ctx, new DescribeSecretRequest { SecretId = arn }, default)));
        var again = await Create("doomed");
        Assert.NotEqual(arn, again);
    }

    [Fact]
    public async Task Force_delete_purges_now_and_succeeds_for_missing_secrets()
    {
        var arn = await Create("gone");
        await _svc.DeleteSecretAsync(Ctx, new DeleteSecretRequest { SecretId = arn, ForceDeleteWithoutRecovery = true }, default);
        Assert.Equal("ResourceNotFoundException", await Code(() => Get(arn)));
        var missing = await _svc.DeleteSecretAsync(Ctx, new DeleteSecretRequest { SecretId = "never-was", ForceDeleteWithoutRecovery = true }, default);
        Assert.Equal("never-was", missing.Name);
    }

    [Fact]
    public async Task Values_are_bounded_and_binary_round_trips()
    {
        var big = new string('x', 65_536);
        var arn = await Create("big", big);
        Assert.Equal(big, (await Get(arn)).SecretString);
        Assert.Equal("ValidationException", await Code(() => Put(arn, big + "x")));
        var bytes = new byte[] { 0, 1, 2, 255 };
        await _svc.PutSecretValueAsync(Ctx, new PutSecretValueRequest { SecretId = arn, SecretBinary = bytes, ClientRequestToken = Token() }, default);
        var got = await Get(arn);
        Assert.Null(got.SecretString);
        Assert.Equal(bytes, got.SecretBinary);
        Assert.Equal("InvalidParameterException", await Code(() => _svc.PutSecretValueAsync(Ctx,
            new PutSecretValueRequest { SecretId = arn, SecretBinary = bytes, SecretString = "s", ClientRequestToken = Token() }, default)));
    }

    [Fact]
    public async Task Validation_error_messages_never_echo_a_value()
    {
        var arn = await Create("quiet");
        var canary = "CNRY-" + Guid.NewGuid() + new string('z', 65_536);
        var e = await Assert.ThrowsAsync<ServiceException>(() => Put(arn, canary));
        Assert.DoesNotContain("CNRY", e.Message);
    }

    [Fact]
    public async Task List_filters_sorting_and_pages()
    {
        foreach (var n in new[] { "b-app", "a-app", "c-db" }) await Create(n);
        var page1 = await _svc.ListSecretsAsync(Ctx, new ListSecretsRequest { MaxResults = 2 }, default);
        Assert.Equal(["b-app", "a-app"], page1.SecretList.Select(s => s.Name));
        var page2 = await _svc.ListSecretsAsync(Ctx, new ListSecretsRequest { MaxResults = 2, NextToken = page1.NextToken }, default);
        Assert.Equal(["c-db"], page2.SecretList.Select(s => s.Name));
        Assert.Null(page2.NextToken);
        var byName = await _svc.ListSecretsAsync(Ctx, new ListSecretsRequest { SortBy = "name", SortOrder = "desc" }, default);
        Assert.Equal(["c-db", "b-app", "a-app"], byName.SecretList.Select(s => s.Name));
        var filtered = await _svc.ListSecretsAsync(Ctx, new ListSecretsRequest { Filters = [new Filter("all", ["app"])] }, default);
        Assert.Equal(2, filtered.SecretList.Count);
        Assert.NotNull(filtered.SecretList[0].SecretVersionsToStages);
        Assert.Null(filtered.SecretList[0].VersionIdsToStages);
        Assert.Equal("InvalidNextTokenException", await Code(() => _svc.ListSecretsAsync(Ctx, new ListSecretsRequest { NextToken = "bogus" }, default)));
    }

    [Fact]
    public async Task Batch_get_reports_per_secret_errors()
    {
        await Create("one", "1");
        var doomed = await Create("two", "2");
        await _svc.DeleteSecretAsync(Ctx, new DeleteSecretRequest { SecretId = doomed }, default);
        var r = await _svc.BatchGetSecretValueAsync(Ctx, new BatchGetSecretValueRequest { SecretIdList = ["one", "two", "three"] }, default);
        Assert.Equal(["1"], r.SecretValues.Select(v => v.SecretString));
        Assert.Equal(["InvalidRequestException", "ResourceNotFoundException"], r.Errors.Select(e => e.ErrorCode));
        Assert.Equal("InvalidParameterException", await Code(() => _svc.BatchGetSecretValueAsync(Ctx, new BatchGetSecretValueRequest(), default)));
        var byFilter = await _svc.BatchGetSecretValueAsync(Ctx, new BatchGetSecretValueRequest { Filters = [new Filter("name", ["on"])] }, default);
        Assert.Single(byFilter.SecretValues);
    }

    [Fact]
    public async Task Tags_and_policies()
    {
        var arn = await Create("tagged");
        Assert.Null((await _svc.DescribeSecretAsync(Ctx, new DescribeSecretRequest { SecretId = arn }, default)).Tags);
        await _svc.TagResourceAsync(Ctx, new TagResourceRequest { SecretId = arn, Tags = [new Tag("a", "1"), new Tag("b", "2")] }, default);
        await _svc.TagResourceAsync(Ctx, new TagResourceRequest { SecretId = arn, Tags = [new Tag("a", "3")] }, default);
        await _svc.UntagResourceAsync(Ctx, new UntagResourceRequest { SecretId = arn, TagKeys = ["b", "missing"] }, default);
        Assert.Equal([new Tag("a", "3")], (await _svc.DescribeSecretAsync(Ctx, new DescribeSecretRequest { SecretId = arn }, default)).Tags);
        await _svc.UntagResourceAsync(Ctx, new UntagResourceRequest { SecretId = arn, TagKeys = ["a"] }, default);
        Assert.Empty((await _svc.DescribeSecretAsync(Ctx, new DescribeSecretRequest { SecretId = arn }, default)).Tags!);

        const string open = """{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"secretsmanager:GetSecretValue","Resource":"*"}]}""";
        Assert.Equal("PublicPolicyException", await Code(() => _svc.PutResourcePolicyAsync(Ctx, new PutResourcePolicyRequest { SecretId = arn, ResourcePolicy = open, BlockPublicPolicy = true }, default)));
        Assert.Null((await _svc.GetResourcePolicyAsync(Ctx, new SecretIdRequest { SecretId = arn }, default)).ResourcePolicy);
        await _svc.PutResourcePolicyAsync(Ctx, new PutResourcePolicyRequest { SecretId = arn, ResourcePolicy = open }, default);
        Assert.Equal(open, (await _svc.GetResourcePolicyAsync(Ctx, new SecretIdRequest { SecretId = arn }, default)).ResourcePolicy);
        var check = await _svc.ValidateResourcePolicyAsync(Ctx, new ValidateResourcePolicyRequest { ResourcePolicy = open }, default);
        Assert.False(check.PolicyValidationPassed);
        await _svc.DeleteResourcePolicyAsync(Ctx, new SecretIdRequest { SecretId = arn }, default);
        Assert.Null((await _svc.GetResourcePolicyAsync(Ctx, new SecretIdRequest { SecretId = arn }, default)).ResourcePolicy);
    }

    [Fact]
    public async Task A_moved_ciphertext_fails_to_open()
    {
        var a = await Create("a", "value-a");
        var b = await Create("b", "value-b");
        var va = (await Get(a)).VersionId;
        var vb = (await Get(b)).VersionId;
        var sa = (await _store.FindByArnAsync(a, default))!;
        var sb = (await _store.FindByArnAsync(b, default))!;
        var blobA = (await _store.ReadBlobAsync(sa.Id, va, default))!;
        await _store.WriteAsync(tx => { tx.UpsertVersion(sb.Id, sb.FindVersion(vb)!, blobA); return 0; }, default);
        Assert.Equal("DecryptionFailure", await Code(() => Get(b)));
        Assert.Equal("value-a", (await Get(a)).SecretString);
    }

    [Fact]
    public async Task Nothing_plaintext_reaches_the_database_files()
    {
        var canary = "CNRY-" + Guid.NewGuid().ToString("N");
        await Create("plain", canary);
        await _store.DisposeAsync();
        foreach (var file in Directory.GetFiles(_dir))
            Assert.DoesNotContain(canary, Encoding.Latin1.GetString(await File.ReadAllBytesAsync(file)));
        _store = SqliteStore.Open(Path.Combine(_dir, "coffer.db"));
    }

    private sealed class MutableTime(DateTimeOffset start) : TimeProvider
    {
        private DateTimeOffset _now = start;
        public override DateTimeOffset GetUtcNow() => _now;
        public void Advance(TimeSpan by) => _now += by;
    }
}
