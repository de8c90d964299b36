using System.Text.Json;
using Coffer.Core.Rotation;
using Coffer.Core.Secrets;

namespace Coffer.Rotation.Tests;

/// <summary>
/// One rotator suite, run against both databases (STYLE: "one rotator suite against both databases") and both
/// strategies. After every test: exactly one AWSCURRENT, and the database accepts it.
/// </summary>
public abstract class DatabaseRotatorTests : IAsyncLifetime
{
    private readonly TestDatabase _db;
    private RotationRig _rig = null!;

    protected DatabaseRotatorTests(TestDatabase db) => _db = db;

    public Task InitializeAsync()
    {
        _rig = new RotationRig(options: new RotationOptions { RetryBaseDelay = TimeSpan.FromMinutes(1), MaxAttempts = 5 });
        BuiltInRotators.Register(_rig.Catalog, _rig.Secrets, new DatabaseRotatorOptions());
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _rig.DisposeAsync();

    private sealed record Current(string User, string Password);

    private async Task<Current> CurrentAsync(string arn)
    {
        using var doc = JsonDocument.Parse((await _rig.ValueAsync(arn))!);
        return new(doc.RootElement.GetProperty("username").GetString()!, doc.RootElement.GetProperty("password").GetString()!);
    }

    /// <summary>The invariant after every test: one AWSCURRENT, and its credentials log in.</summary>
    private async Task AssertHealthyAsync(string arn)
    {
        await _rig.AssertLabelsAsync(arn);
        var current = await CurrentAsync(arn);
        Assert.True(await _db.CanLoginAsync(current.User, current.Password), "the database refuses AWSCURRENT");
    }

    private string Function(string strategy) => $"arn:aws:lambda:us-east-1:111111111111:function:{_db.FunctionPrefix}-{strategy}";

    /// <summary>A fresh user on the database and its secret (plus a superuser secret for alternating users).</summary>
    private async Task<(string Arn, string User, string Password)> SetUpAsync(string strategy, string? user = null, int? port = null)
    {
        Assert.True(_db.Available, "database not running: start it with scripts/databases.sh (CI=true makes this a failure)");
        user ??= "u" + Guid.NewGuid().ToString("N")[..10];
        var password = "Init-" + Guid.NewGuid().ToString("N")[..12];
        await _db.CreateUserAsync(user, password);
        string? master = null;
        if (strategy == "alternating-users")
            master = await _rig.CreateAsync("master-" + Guid.NewGuid().ToString("N")[..8], _db.SecretJson(_db.AdminUser, _db.AdminPassword, port));
        var arn = await _rig.CreateAsync("app-" + Guid.NewGuid().ToString("N")[..8], _db.SecretJson(user, password, port, master));
        return (arn, user, password);
    }

    protected async Task FullRotationTwice(string strategy)
    {
        var (arn, user, initial) = await SetUpAsync(strategy);
        await _rig.RotateAsync(arn, Function(strategy), new RotationRules { AutomaticallyAfterDays = 30 });
        await _rig.TickAsync();
        var status = await _rig.StatusAsync(arn);
        Assert.True(status.Status == "idle", $"rotation not finished: {status.Status} {status.LastFailure}");
        var first = await CurrentAsync(arn);
        Assert.NotEqual(initial, first.Password);
        await AssertHealthyAsync(arn);
        if (strategy == "single-user")
        {
            Assert.Equal(user, first.User);
            Assert.False(await _db.CanLoginAsync(user, initial), "the old password still works");
        }
        else
        {
            Assert.Equal(user + "_clone", first.User);
            Assert.True(await _db.CanLoginAsync(user, initial), "alternating users: the previous user keeps working");
        }

        await _rig.RotateAsync(arn);
        await _rig.TickAsync();
        var second = await CurrentAsync(arn);
        Assert.Equal("idle", (await _rig.StatusAsync(arn)).Status);
        Assert.NotEqual(first.Password, second.Password);
        Assert.Equal(strategy == "single-user" ? user : user, second.User); // alternating toggles back
        if (strategy == "alternating-users") Assert.True(await _db.CanLoginAsync(first.User, first.Password));
        else Assert.False(await _db.CanLoginAsync(user, first.Password));
        await AssertHealthyAsync(arn);

        // Reliability matrix S7: no rotated password in the database's statement log.
        if (_db.StatementLog is { } log && File.Exists(log))
        {
            var text = await File.ReadAllTextAsync(log);
            Assert.DoesNotContain(first.Password, text);
            Assert.DoesNotContain(second.Password, text);
        }
    }

    protected async Task EachStepRerunIsANoOp(string strategy)
    {
        var (arn, _, _) = await SetUpAsync(strategy);
        var token = (await _rig.RotateAsync(arn, Function(strategy))).VersionId!;
        var run = (await _rig.Store.FindByArnAsync(arn, default))!.Rotation!.Run!;
        var function = _rig.Catalog.Find(run.Function)!;
        string? pending = null;
        foreach (var step in RotationSteps.All)
        {
            for (var i = 0; i < 2; i++)
            {
                await function.InvokeAsync(new RotationEvent(step, arn, token, run.RotationToken), default);
                if (step == RotationSteps.CreateSecret)
                {
                    var value = await _rig.ValueAsync(arn, StagingLabels.Pending);
                    pending ??= value;
                    Assert.Equal(pending, value); // the second createSecret did not make a new password
                }
            }
        }
        // The engine then re-runs all four with the same token: every one is a no-op, and the run completes.
        await _rig.TickAsync();
        var versions = await _rig.Secrets.ListSecretVersionIdsAsync(RotationRig.Ctx, new ListSecretVersionIdsRequest { SecretId = arn, IncludeDeprecated = true }, default);
        Assert.Equal(2, versions.Versions.Count);
        Assert.Equal(pending, await _rig.ValueAsync(arn));
        Assert.Equal("idle", (await _rig.StatusAsync(arn)).Status);
        await AssertHealthyAsync(arn);
    }

    /// <summary>
    /// The process dies between each pair of steps and right after setSecret changed the database (before the
    /// step was recorded): a new engine resumes with the same token and ends with exactly one new version.
    /// </summary>
    protected async Task CrashBetweenStepsResumes(string strategy)
    {
        var (arn, _, _) = await SetUpAsync(strategy);
        (string Step, string Phase)[] crashes =
        [
            (RotationSteps.CreateSecret, RotationPhases.Started),   // died inside createSecret, value stored
            (RotationSteps.SetSecret, RotationPhases.Pending),      // between createSecret and setSecret
            (RotationSteps.SetSecret, RotationPhases.Started),      // setSecret changed the database, not recorded
            (RotationSteps.TestSecret, RotationPhases.Pending),
            (RotationSteps.FinishSecret, RotationPhases.Pending),
            (RotationSteps.FinishSecret, RotationPhases.Started),   // labels moved, run not cleared
        ];
        foreach (var (step, phase) in crashes)
        {
            var before = (await _rig.Secrets.ListSecretVersionIdsAsync(RotationRig.Ctx, new ListSecretVersionIdsRequest { SecretId = arn, IncludeDeprecated = true }, default)).Versions.Count;
            var token = (await _rig.RotateAsync(arn, Function(strategy))).VersionId!;
            var run = (await _rig.Store.FindByArnAsync(arn, default))!.Rotation!.Run!;
            var function = _rig.Catalog.Find(run.Function)!;
            foreach (var s in RotationSteps.All.TakeWhile(s => s != step))
                await function.InvokeAsync(new RotationEvent(s, arn, token, run.RotationToken), default);
            if (phase == RotationPhases.Started)
                await function.InvokeAsync(new RotationEvent(step, arn, token, run.RotationToken), default);
            Assert.True(await _rig.Secrets.RecordRotationStepAsync(arn, token, step, phase, default));

            _rig.Restart();
            BuiltInRotators.Register(_rig.Catalog, _rig.Secrets, new DatabaseRotatorOptions());
            Assert.Equal(1, await _rig.TickAsync());
            var status = await _rig.StatusAsync(arn);
            Assert.True(status.Status == "idle", $"after a crash at {step}/{phase}: {status.Status} {status.LastFailure}");
            var after = await _rig.Secrets.ListSecretVersionIdsAsync(RotationRig.Ctx, new ListSecretVersionIdsRequest { SecretId = arn, IncludeDeprecated = true }, default);
            Assert.Equal(before + 1, after.Versions.Count);
            Assert.Contains(StagingLabels.Current, after.Versions.Single(v => v.VersionId == token).VersionStages!);
            await AssertHealthyAsync(arn);
        }
    }

    protected async Task DatabaseDownDuringSetSecret(string strategy)
    {
        await using var proxy = new TcpFaultProxy(_db.Host, _db.Port);
        var (arn, _, _) = await SetUpAsync(strategy, port: proxy.Port);
        var before = await CurrentAsync(arn);
        await _rig.RotateAsync(arn, Function(strategy));
        proxy.Passing = false;
        await _rig.TickAsync();
        var status = await _rig.StatusAsync(arn);
        Assert.Equal("retrying", status.Status);
        Assert.Equal(RotationSteps.SetSecret, status.LastFailure!.Step);
        Assert.Contains("could not connect", status.LastFailure.Reason);
        var pending = JsonDocument.Parse((await _rig.ValueAsync(arn, StagingLabels.Pending))!).RootElement.GetProperty("password").GetString()!;
        Assert.DoesNotContain(pending, status.LastFailure.Reason);
        Assert.DoesNotContain(before.Password, status.LastFailure.Reason);
        Assert.Equal(before, await CurrentAsync(arn));
        Assert.True(await _db.CanLoginAsync(before.User, before.Password), "AWSCURRENT must still log in");

        proxy.Passing = true;
        _rig.Clock.Advance(TimeSpan.FromMinutes(1));
        Assert.Equal(1, await _rig.TickAsync());
        status = await _rig.StatusAsync(arn);
        Assert.True(status.Status == "idle", $"retry did not finish: {status.Status} {status.LastFailure}");
        Assert.NotEqual(before.Password, (await CurrentAsync(arn)).Password);
        await AssertHealthyAsync(arn);
    }

    protected async Task TwentyConcurrentRotateSecretCallsRotateOnce(string strategy)
    {
        var (arn, _, _) = await SetUpAsync(strategy);
        await _rig.RotateAsync(arn, Function(strategy), immediately: false); // configure (test-only run)
        await _rig.TickAsync();
        var ok = 0;
        await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => Task.Run(async () =>
        {
            try { await _rig.RotateAsync(arn); Interlocked.Increment(ref ok); }
            catch (Core.ServiceException e) when (e.Message == SecretService.PreviousRotationIncomplete) { }
        })));
        Assert.Equal(1, ok);
        await _rig.TickAsync();
        var labelled = (await _rig.DescribeAsync(arn)).VersionIdsToStages!;
        Assert.Equal(2, labelled.Count);
        await AssertHealthyAsync(arn);
    }

    protected async Task OddUserNamesAreQuoted(string strategy, string user)
    {
        var usersBefore = await _db.UsersAsync();
        var (arn, _, _) = await SetUpAsync(strategy, user);
        await _rig.RotateAsync(arn, Function(strategy));
        await _rig.TickAsync();
        var status = await _rig.StatusAsync(arn);
        Assert.True(status.Status == "idle", $"{status.Status} {status.LastFailure}");
        await AssertHealthyAsync(arn);
        var added = (await _db.UsersAsync()).Except(usersBefore).ToList();
        Assert.All(added, u => Assert.StartsWith(user, u, StringComparison.Ordinal)); // nothing else was created
    }
}

public sealed class MariaDbRotatorTests() : DatabaseRotatorTests(MariaDb.Instance)
{
    [MariaDbTheory, InlineData("single-user"), InlineData("alternating-users")]
    public Task Full_rotation_twice(string strategy) => FullRotationTwice(strategy);

    [MariaDbTheory, InlineData("single-user"), InlineData("alternating-users")]
    public Task Each_step_rerun_with_the_same_token_is_a_no_op(string strategy) => EachStepRerunIsANoOp(strategy);

    [MariaDbTheory, InlineData("single-user"), InlineData("alternating-users")]
    public Task A_crash_between_steps_resumes_to_one_new_version(string strategy) => CrashBetweenStepsResumes(strategy);

    [MariaDbTheory, InlineData("single-user"), InlineData("alternating-users")]
    public Task Database_down_during_setSecret_fails_visibly_and_the_retry_succeeds(string strategy) => DatabaseDownDuringSetSecret(strategy);

    [MariaDbTheory, InlineData("single-user"), InlineData("alternating-users")]
    public Task Twenty_concurrent_RotateSecret_calls_rotate_once(string strategy) => TwentyConcurrentRotateSecretCallsRotateOnce(strategy);

    [MariaDbTheory, InlineData("single-user", "o'brien"), InlineData("alternating-users", "a'b\"c;--")]
    public Task Odd_user_names_are_quoted(string strategy, string user) => OddUserNamesAreQuoted(strategy, user + Guid.NewGuid().ToString("N")[..4]);
}

public sealed class PostgresRotatorTests() : DatabaseRotatorTests(Postgres.Instance)
{
    [PostgresTheory, InlineData("single-user"), InlineData("alternating-users")]
    public Task Full_rotation_twice(string strategy) => FullRotationTwice(strategy);

    [PostgresTheory, InlineData("single-user"), InlineData("alternating-users")]
    public Task Each_step_rerun_with_the_same_token_is_a_no_op(string strategy) => EachStepRerunIsANoOp(strategy);

    [PostgresTheory, InlineData("single-user"), InlineData("alternating-users")]
    public Task A_crash_between_steps_resumes_to_one_new_version(string strategy) => CrashBetweenStepsResumes(strategy);

    [PostgresTheory, InlineData("single-user"), InlineData("alternating-users")]
    public Task Database_down_during_setSecret_fails_visibly_and_the_retry_succeeds(string strategy) => DatabaseDownDuringSetSecret(strategy);

    [PostgresTheory, InlineData("single-user"), InlineData("alternating-users")]
    public Task Twenty_concurrent_RotateSecret_calls_rotate_once(string strategy) => TwentyConcurrentRotateSecretCallsRotateOnce(strategy);

    [PostgresTheory, InlineData("single-user", "O'Brien \"x\"; DROP ROLE y; --"), InlineData("alternating-users", "we\"ird$$")]
    public Task Odd_user_names_are_quoted(string strategy, string user) => OddUserNamesAreQuoted(strategy, user + Guid.NewGuid().ToString("N")[..4]);
}
