using Coffer.Core;
using Coffer.Core.Rotation;
using Coffer.Core.Secrets;

namespace Coffer.Rotation.Tests;

/// <summary>
/// RotateSecret/CancelRotateSecret and the engine on a real SQLite store with a Lambda-style function and an
/// injected clock: the four steps, durable state, resume after restart, retries, schedules. No sleeps.
/// </summary>
public sealed class RotationEngineTests : IAsyncLifetime
{
    private const string Fn = "arn:aws:lambda:us-east-1:111111111111:function:scripted";
    private RotationRig _rig = null!;
    private ScriptedFunction _fn = null!;

    public Task InitializeAsync()
    {
        _rig = new RotationRig();
        _fn = new ScriptedFunction(() => _rig.Secrets);
        _rig.Catalog.Register("scripted", _fn);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _rig.DisposeAsync();

    private static async Task<ServiceException> Error(Func<Task> call) => await Assert.ThrowsAsync<ServiceException>(call);

    [Fact]
    public async Task RotateSecret_creates_the_pending_placeholder_before_any_step_and_the_engine_finishes()
    {
        var arn = await _rig.CreateAsync("app/db", "v0");
        var r = await _rig.RotateAsync(arn, Fn, new RotationRules { AutomaticallyAfterDays = 30 });
        // Spec §4.5 item 1: the value-less AWSPENDING version exists as soon as RotateSecret returns.
        var d = await _rig.DescribeAsync(arn);
        Assert.Equal([StagingLabels.Pending], d.VersionIdsToStages![r.VersionId!]);
        Assert.True(d.RotationEnabled);
        Assert.Equal(Fn, d.RotationLambdaARN);
        var pending = await Error(() => _rig.Secrets.GetSecretValueAsync(RotationRig.Ctx,
            new GetSecretValueRequest { SecretId = arn, VersionId = r.VersionId, VersionStage = StagingLabels.Pending }, default));
        Assert.Equal("ResourceNotFoundException", pending.Code);
        Assert.Equal("running", (await _rig.StatusAsync(arn)).Status);

        Assert.Equal(1, await _rig.TickAsync());
        Assert.Equal(RotationSteps.All, _fn.Calls.Select(c => c.Step));
        Assert.All(_fn.Calls, c => Assert.Equal(r.VersionId, c.ClientRequestToken));
        Assert.All(_fn.Calls, c => Assert.Equal(arn, c.SecretId));
        Assert.Single(_fn.Calls.Select(c => c.RotationToken).Distinct());

        d = await _rig.DescribeAsync(arn);
        Assert.Equal([StagingLabels.Current], d.VersionIdsToStages![r.VersionId!]);
        Assert.Equal(2, d.VersionIdsToStages.Count);
        Assert.Equal(_rig.Clock.GetUtcNow().ToUnixTimeSeconds(), d.LastRotatedDate!.Value.ToUnixTimeSeconds());
        Assert.Equal(new DateTimeOffset(2026, 4, 1, 0, 0, 0, TimeSpan.Zero), d.NextRotationDate); // window 31 Mar, ends midnight
        Assert.Equal(30, d.RotationRules!.AutomaticallyAfterDays);
        Assert.Equal("v-" + r.VersionId, await _rig.ValueAsync(arn));
        Assert.Equal("v0", await _rig.ValueAsync(arn, StagingLabels.Previous));
        Assert.Equal("idle", (await _rig.StatusAsync(arn)).Status);
        await _rig.AssertLabelsAsync(arn);
    }

    [Fact]
    public async Task Rotation_errors_match_aws()
    {
        var arn = await _rig.CreateAsync("app/e", "v0");
        var noFn = await Error(() => _rig.RotateAsync(arn));
        Assert.Equal(("InvalidRequestException", SecretService.NoRotationFunction), (noFn.Code, noFn.Message));
        var unknown = await Error(() => _rig.RotateAsync(arn, "arn:aws:lambda:us-east-1:111111111111:function:nope"));
        Assert.Equal(("AccessDeniedException", SecretService.CannotInvoke), (unknown.Code, unknown.Message));
        Assert.Null((await _rig.DescribeAsync(arn)).RotationEnabled); // nothing stored
        var noToken = await Error(() => _rig.Secrets.RotateSecretAsync(RotationRig.Ctx, new RotateSecretRequest { SecretId = arn, RotationLambdaARN = Fn }, default));
        Assert.Equal("InvalidParameterException", noToken.Code);
        Assert.Equal("InvalidParameterException", (await Error(() => _rig.RotateAsync(arn, Fn,
            new RotationRules { AutomaticallyAfterDays = 1, ScheduleExpression = "rate(1 day)" }))).Code);
        Assert.Equal("ResourceNotFoundException", (await Error(() => _rig.RotateAsync("app/none", Fn))).Code);
        var cancelNone = await Error(() => _rig.Secrets.CancelRotateSecretAsync(RotationRig.Ctx, new SecretIdRequest { SecretId = arn }, default));
        Assert.Equal("InvalidRequestException", cancelNone.Code);
        // A bare function name works as well as a Lambda ARN.
        await _rig.RotateAsync(arn, "scripted");
        await _rig.TickAsync();
        await _rig.Secrets.DeleteSecretAsync(RotationRig.Ctx, new DeleteSecretRequest { SecretId = arn }, default);
        Assert.Equal("InvalidRequestException", (await Error(() => _rig.RotateAsync(arn))).Code);
    }

    [Fact]
    public async Task Twenty_concurrent_RotateSecret_calls_start_one_rotation()
    {
        var arn = await _rig.CreateAsync("app/c", "v0");
        var calls = Enumerable.Range(0, 20).Select(_ => Task.Run(async () =>
        {
            try { return (await _rig.RotateAsync(arn, Fn)).VersionId; }
            catch (ServiceException e) { return e.Code + ":" + e.Message; }
        })).ToArray();
        var results = await Task.WhenAll(calls);
        var started = results.Where(r => !r!.Contains(':')).ToList();
        Assert.Single(started);
        Assert.All(results.Where(r => r!.Contains(':')), r => Assert.Equal("InvalidRequestException:" + SecretService.PreviousRotationIncomplete, r));
        await _rig.TickAsync();
        Assert.Equal(4, _fn.Calls.Count);
        Assert.Equal(2, (await _rig.DescribeAsync(arn)).VersionIdsToStages!.Count);
        await _rig.AssertLabelsAsync(arn);
    }

    [Fact]
    public async Task Replaying_RotateSecret_with_the_same_token_creates_nothing()
    {
        var arn = await _rig.CreateAsync("app/r", "v0");
        var token = Guid.NewGuid().ToString();
        await _rig.RotateAsync(arn, Fn, token: token);
        Assert.Equal(token, (await _rig.RotateAsync(arn, Fn, token: token)).VersionId);
        await _rig.TickAsync();
        Assert.Equal(token, (await _rig.RotateAsync(arn, Fn, token: token)).VersionId);
        await _rig.TickAsync();
        Assert.Equal(4, _fn.Calls.Count);
    }

    [Theory]
    [InlineData(RotationSteps.CreateSecret, RotationPhases.Pending)]
    [InlineData(RotationSteps.SetSecret, RotationPhases.Started)]
    [InlineData(RotationSteps.TestSecret, RotationPhases.Pending)]
    [InlineData(RotationSteps.FinishSecret, RotationPhases.Started)]
    public async Task A_restart_resumes_from_the_recorded_step_with_the_same_token(string step, string phase)
    {
        var arn = await _rig.CreateAsync("app/k", "v0");
        var token = (await _rig.RotateAsync(arn, Fn)).VersionId!;
        // Run the steps before the crash point by hand, as the killed process did, and record where it was.
        var rotationToken = (await _rig.Store.FindByArnAsync(arn, default))!.Rotation!.Run!.RotationToken;
        foreach (var s in RotationSteps.All.TakeWhile(s => s != step))
            await _fn.InvokeAsync(new RotationEvent(s, arn, token, rotationToken), default);
        if (phase == RotationPhases.Started) await _fn.InvokeAsync(new RotationEvent(step, arn, token, rotationToken), default);
        Assert.True(await _rig.Secrets.RecordRotationStepAsync(arn, token, step, phase, default));
        _fn.Calls.Clear();

        _rig.Restart();
        Assert.Equal(1, await _rig.TickAsync());
        Assert.Equal(RotationSteps.All.SkipWhile(s => s != step), _fn.Calls.Select(c => c.Step));
        Assert.All(_fn.Calls, c => Assert.Equal(token, c.ClientRequestToken));
        var d = await _rig.DescribeAsync(arn);
        Assert.Equal(2, d.VersionIdsToStages!.Count); // exactly one new version
        Assert.Equal([StagingLabels.Current], d.VersionIdsToStages[token]);
        await _rig.AssertLabelsAsync(arn);
    }

    [Fact]
    public async Task A_failed_step_is_recorded_retried_with_backoff_and_then_given_up()
    {
        var arn = await _rig.CreateAsync("app/f", "v0");
        var token = (await _rig.RotateAsync(arn, Fn)).VersionId!;
        _fn.FailNext(RotationSteps.SetSecret, new RotationStepException(RotationFailureKind.Transient, "could not connect to the database"), times: 3);
        await _rig.TickAsync();
        var status = await _rig.StatusAsync(arn);
        Assert.Equal("retrying", status.Status);
        Assert.Equal(RotationSteps.SetSecret, status.LastFailure!.Step);
        Assert.Equal("could not connect to the database", status.LastFailure.Reason);
        Assert.Equal(_rig.Clock.GetUtcNow().AddMinutes(1).ToUnixTimeSeconds(), status.NextAttemptDate!.Value.ToUnixTimeSeconds());
        Assert.Equal("v0", await _rig.ValueAsync(arn)); // AWSCURRENT untouched

        Assert.Equal(0, await _rig.TickAsync()); // not before the backoff
        _rig.Clock.Advance(TimeSpan.FromMinutes(1));
        Assert.Equal(1, await _rig.TickAsync());
        status = await _rig.StatusAsync(arn);
        Assert.Equal((2, "retrying"), (status.Attempt!.Value, status.Status));
        Assert.Equal(_rig.Clock.GetUtcNow().AddMinutes(2).ToUnixTimeSeconds(), status.NextAttemptDate!.Value.ToUnixTimeSeconds()); // doubled
        _rig.Clock.Advance(TimeSpan.FromMinutes(2));
        await _rig.TickAsync();
        status = await _rig.StatusAsync(arn);
        Assert.Equal("failed", status.Status); // MaxAttempts = 3
        Assert.Null(status.NextAttemptDate);
        _rig.Clock.Advance(TimeSpan.FromDays(1));
        Assert.Equal(0, await _rig.TickAsync()); // never loops
        // A second RotateSecret gets AWS's error while the failed rotation holds AWSPENDING.
        Assert.Equal(SecretService.PreviousRotationIncomplete, (await Error(() => _rig.RotateAsync(arn))).Message);
        // The documented recovery: cancel, take AWSPENDING off, rotate again.
        var cancel = await _rig.Secrets.CancelRotateSecretAsync(RotationRig.Ctx, new SecretIdRequest { SecretId = arn }, default);
        Assert.Equal(token, cancel.VersionId);
        Assert.False((await _rig.DescribeAsync(arn)).RotationEnabled);
        await _rig.Secrets.UpdateSecretVersionStageAsync(RotationRig.Ctx, new UpdateSecretVersionStageRequest
        { SecretId = arn, VersionStage = StagingLabels.Pending, RemoveFromVersionId = token }, default);
        var again = await _rig.RotateAsync(arn);
        await _rig.TickAsync();
        Assert.Equal("v-" + again.VersionId, await _rig.ValueAsync(arn));
        await _rig.AssertLabelsAsync(arn);
    }

    [Fact]
    public async Task A_rejected_password_is_retried_under_a_fresh_token()
    {
        var arn = await _rig.CreateAsync("app/p", "v0");
        var first = (await _rig.RotateAsync(arn, Fn)).VersionId!;
        _fn.FailNext(RotationSteps.SetSecret, new RotationStepException(RotationFailureKind.PasswordRejected, "the database refused the new password"));
        await _rig.TickAsync();
        var status = await _rig.StatusAsync(arn);
        Assert.NotEqual(first, status.VersionId);
        var d = await _rig.DescribeAsync(arn);
        Assert.False(d.VersionIdsToStages!.ContainsKey(first)); // abandoned: no label left
        Assert.Equal([StagingLabels.Pending], d.VersionIdsToStages[status.VersionId!]);
        _rig.Clock.Advance(TimeSpan.FromMinutes(1));
        await _rig.TickAsync();
        Assert.Equal("v-" + status.VersionId, await _rig.ValueAsync(arn));
        Assert.Equal("idle", (await _rig.StatusAsync(arn)).Status);
        await _rig.AssertLabelsAsync(arn);
    }

    [Fact]
    public async Task A_permanent_failure_stops_at_once()
    {
        var arn = await _rig.CreateAsync("app/x", "v0");
        await _rig.RotateAsync(arn, Fn);
        _fn.FailNext(RotationSteps.CreateSecret, new RotationStepException(RotationFailureKind.Permanent, "target changed"));
        await _rig.TickAsync();
        var status = await _rig.StatusAsync(arn);
        Assert.Equal(("failed", "target changed"), (status.Status, status.LastFailure!.Reason));
    }

    [Fact]
    public async Task A_step_that_runs_past_its_timeout_fails_as_transient()
    {
        await using var rig = new RotationRig(options: new RotationOptions { StepTimeout = TimeSpan.FromMilliseconds(200), MaxAttempts = 2 });
        var fn = new ScriptedFunction(() => rig.Secrets) { Before = (e, ct) => e.Step == RotationSteps.TestSecret ? Task.Delay(Timeout.Infinite, ct) : Task.CompletedTask };
        rig.Catalog.Register("scripted", fn);
        var arn = await rig.CreateAsync("app/t", "v0");
        await rig.RotateAsync(arn, "scripted");
        await rig.TickAsync();
        var status = await rig.StatusAsync(arn);
        Assert.Equal("retrying", status.Status);
        Assert.Equal(RotationSteps.TestSecret, status.LastFailure!.Step);
        Assert.Contains("timed out", status.LastFailure.Reason);
    }

    [Fact]
    public async Task CancelRotateSecret_keeps_the_configuration_and_stops_the_run()
    {
        var arn = await _rig.CreateAsync("app/n", "v0");
        var token = (await _rig.RotateAsync(arn, Fn, new RotationRules { ScheduleExpression = "rate(10 days)" })).VersionId;
        var cancel = await _rig.Secrets.CancelRotateSecretAsync(RotationRig.Ctx, new SecretIdRequest { SecretId = arn }, default);
        Assert.Equal(token, cancel.VersionId);
        Assert.Equal(0, await _rig.TickAsync());
        var d = await _rig.DescribeAsync(arn);
        Assert.False(d.RotationEnabled);
        Assert.Equal(Fn, d.RotationLambdaARN);
        Assert.Equal("rate(10 days)", d.RotationRules!.ScheduleExpression);
        Assert.Null(d.NextRotationDate);
        Assert.Equal([StagingLabels.Pending], d.VersionIdsToStages![token!]); // labels are the caller's to repair
    }

    [Fact]
    public async Task Test_only_rotation_runs_testSecret_on_a_copy_and_leaves_current_alone()
    {
        var arn = await _rig.CreateAsync("app/o", "v0");
        var r = await _rig.RotateAsync(arn, Fn, new RotationRules { AutomaticallyAfterDays = 7 }, immediately: false);
        var d = await _rig.DescribeAsync(arn);
        Assert.Equal([StagingLabels.Pending], d.VersionIdsToStages![r.VersionId!]);
        Assert.Equal("v0", await _rig.ValueAsync(arn, StagingLabels.Pending));
        await _rig.TickAsync();
        Assert.Equal([RotationSteps.TestSecret], _fn.Calls.Select(c => c.Step));
        d = await _rig.DescribeAsync(arn);
        Assert.False(d.VersionIdsToStages!.ContainsKey(r.VersionId!));
        Assert.Null(d.LastRotatedDate);
        Assert.True(d.RotationEnabled);
        Assert.Equal(new DateTimeOffset(2026, 3, 8, 0, 0, 0, TimeSpan.Zero), (await _rig.StatusAsync(arn)).NextWindowStart);
    }

    [Fact]
    public async Task A_test_schedule_fires_on_time_with_the_injected_clock()
    {
        var arn = await _rig.CreateAsync("app/s", "v0");
        await _rig.RotateAsync(arn, Fn, new RotationRules { ScheduleExpression = "rate(1 minute)" });
        await _rig.TickAsync(); // the immediate rotation
        _fn.Calls.Clear();
        _rig.Clock.Advance(TimeSpan.FromSeconds(59));
        Assert.Equal(0, await _rig.TickAsync());
        _rig.Clock.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(1, await _rig.TickAsync());
        Assert.Equal(4, _fn.Calls.Count);
        Assert.Equal(3, (await _rig.Secrets.ListSecretVersionIdsAsync(RotationRig.Ctx, new ListSecretVersionIdsRequest { SecretId = arn, IncludeDeprecated = true }, default)).Versions.Count);
        Assert.Equal(0, await _rig.TickAsync());
    }

    [Fact]
    public async Task Downtime_gives_one_catch_up_rotation_then_the_schedule_restarts_from_it()
    {
        var arn = await _rig.CreateAsync("app/d", "v0");
        await _rig.RotateAsync(arn, Fn, new RotationRules { AutomaticallyAfterDays = 1 });
        await _rig.TickAsync();
        _fn.Calls.Clear();
        _rig.Restart();
        _rig.Clock.Advance(TimeSpan.FromDays(10)); // the server was down for ten windows
        Assert.Equal(1, await _rig.TickAsync());
        Assert.Equal(1, await _rig.TickAsync() + 1); // no second catch-up
        Assert.Equal(4, _fn.Calls.Count);
        var d = await _rig.DescribeAsync(arn);
        Assert.Equal(new DateTimeOffset(2026, 3, 13, 0, 0, 0, TimeSpan.Zero), d.NextRotationDate);
    }

    [Fact]
    public async Task Bounded_concurrency_runs_every_due_rotation()
    {
        await using var rig = new RotationRig(options: new RotationOptions { MaxConcurrentRotations = 2 });
        var inFlight = 0;
        var peak = 0;
        var fn = new ScriptedFunction(() => rig.Secrets)
        {
            Before = async (_, _) =>
            {
                var n = Interlocked.Increment(ref inFlight);
                lock (this) peak = Math.Max(peak, n);
                await Task.Yield();
                Interlocked.Decrement(ref inFlight);
            },
        };
        rig.Catalog.Register("scripted", fn);
        var arns = new List<string>();
        for (var i = 0; i < 10; i++) arns.Add(await rig.CreateAsync("b/" + i, "v0"));
        foreach (var arn in arns) await rig.RotateAsync(arn, "scripted");
        Assert.Equal(10, await rig.TickAsync());
        Assert.True(peak <= 2, $"peak {peak}");
        foreach (var arn in arns) Assert.Equal("idle", (await rig.StatusAsync(arn)).Status);
    }

    [Fact]
    public async Task A_new_current_value_written_during_a_rotation_abandons_it()
    {
        var arn = await _rig.CreateAsync("app/a", "v0");
        var token = (await _rig.RotateAsync(arn, Fn)).VersionId!;
        await _rig.Secrets.PutSecretValueAsync(RotationRig.Ctx, new PutSecretValueRequest { SecretId = arn, SecretString = "manual", ClientRequestToken = Guid.NewGuid().ToString() }, default);
        Assert.Equal(0, await _rig.TickAsync());
        var status = await _rig.StatusAsync(arn);
        Assert.Equal("idle", status.Status);
        Assert.StartsWith("abandoned", status.LastFailure!.Reason);
        Assert.False((await _rig.DescribeAsync(arn)).VersionIdsToStages!.ContainsKey(token));
    }

    [Fact]
    public async Task PutSecretValue_checks_the_rotation_token()
    {
        var arn = await _rig.CreateAsync("app/w", "v0");
        var token = (await _rig.RotateAsync(arn, Fn)).VersionId!;
        var e = await Error(() => _rig.Secrets.PutSecretValueAsync(RotationRig.Ctx, new PutSecretValueRequest
        {
            SecretId = arn, ClientRequestToken = token, SecretString = "x", VersionStages = [StagingLabels.Pending],
            RotationToken = Guid.NewGuid().ToString(),
        }, default));
        Assert.Equal("InvalidRequestException", e.Code);
    }
}
