using System.Security.Cryptography;
using System.Text;
using Coffer.Core.Principals;
using Coffer.Core.Rotation;

namespace Coffer.Core.Secrets;

/// <summary>
/// Rotation (spec §4, §3.2, §3.17): RotateSecret and CancelRotateSecret, and the durable state transitions the
/// rotation engine (Coffer.Rotation) drives. Every transition is one store transaction, so the labels and the
/// recorded step never disagree: the AWSPENDING placeholder and the run that fills it appear together.
/// </summary>
public sealed partial class SecretService
{
    public const string PreviousRotationIncomplete = "A previous rotation isn't complete. That rotation will be reattempted.";
    public const string NoRotationFunction = "No Lambda rotation function ARN is associated with this secret.";
    public const string CannotInvoke =
        "Secrets Manager cannot invoke the specified Lambda function. Ensure that the function policy grants access to the principal secretsmanager.amazonaws.com.";

    /// <summary>The rotation functions RotateSecret may name; null means none exist (every RotateSecret is refused).</summary>
    public IRotationFunctionCatalog? RotationFunctions { get; set; }

    /// <summary>Accept <c>rate(N minutes)</c> test schedules (off by default; AWS's minimum is 4 hours).</summary>
    public bool AllowTestSchedules { get; set; }

    /// <summary>Raised after a committed RotateSecret, so the engine starts the run without waiting for its next tick.</summary>
    public RotationSignal RotationRequests { get; } = new();

    /// <summary>The principal built-in rotation functions act as (the analogue of a Lambda's execution role).</summary>
    public RequestContext RotationContext(string region) =>
        new(new Principal($"arn:aws:iam::{AccountId}:role/coffer-rotation", AccountId, "coffer-rotation", "coffer-rotation", null, false),
            region, "rotation-" + Guid.NewGuid().ToString("N"));

    // ---- API ---------------------------------------------------------------------------------------------------

    public async Task<SecretIdentityResult> RotateSecretAsync(RequestContext ctx, RotateSecretRequest request, CancellationToken ct)
    {
        var secretId = Validation.SecretId(request.SecretId);
        // Recorded: RotateSecret, unlike the other token-taking actions, answers InvalidParameterException here.
        if (request.ClientRequestToken is null) throw ServiceException.InvalidParameter(Validation.MissingToken);
        var token = request.ClientRequestToken;
        Validation.Length(token, "clientRequestToken", 32, 64);
        Validation.Length(request.RotationLambdaARN, "rotationLambdaARN", 0, 2048);
        Validation.Length(request.ExternalSecretRotationRoleArn, "externalSecretRotationRoleArn", 20, 2048);
        RotationSchedule? schedule = null;
        RotationRules? rules = null;
        if (request.RotationRules is { } given)
        {
            schedule = RotationSchedule.Parse(given, AllowTestSchedules);
            rules = new RotationRules
            {
                AutomaticallyAfterDays = given.AutomaticallyAfterDays ?? schedule.IntervalDays,
                Duration = given.Duration,
                ScheduleExpression = given.ScheduleExpression,
            };
        }
        var requestedFunction = string.IsNullOrEmpty(request.RotationLambdaARN) ? null : request.RotationLambdaARN;
        if (requestedFunction is not null && RotationFunctions?.Find(requestedFunction) is null)
            throw ServiceException.AccessDenied(CannotInvoke);
        var immediately = request.RotateImmediately != false;

        var result = await WriteAsync(tx =>
        {
            var secret = ResolveForWrite(tx, ctx, secretId, "secretsmanager:RotateSecret", Keys(
                ("secretsmanager:RotationLambdaARN", requestedFunction),
                ("secretsmanager:RotateImmediately", immediately ? "true" : "false"),
                ("secretsmanager:ModifyRotationRules", rules is not null ? "true" : "false")));
            if (secret.OwningService is not null)
                throw ServiceException.InvalidRequest($"You can't modify this secret because it's managed by {secret.OwningService}.");
            // A replayed request (same token) changes nothing and answers as the first did.
            if (secret.Rotation?.Run?.Token == token || (secret.FindVersion(token) is not null && secret.Rotation?.Run is null))
                return new SecretIdentityResult { ARN = secret.Arn, Name = secret.Name, VersionId = token };
            var function = requestedFunction ?? secret.RotationLambdaArn ?? throw ServiceException.InvalidRequest(NoRotationFunction);
            // The requested function was looked up before the transaction; only a stored one is looked up here.
            if (requestedFunction is null && RotationFunctions?.Find(function) is null) throw ServiceException.AccessDenied(CannotInvoke);
            CheckNoRotationInProgress(secret);
            if (secret.FindVersion(token) is not null) throw TokenInUse(token, secret);
            var current = secret.FindByStage(StagingLabels.Current);
            if (current is null || !current.HasValue)
                throw ServiceException.InvalidRequest("You can't rotate a secret that has no AWSCURRENT value.");

            var now = Now();
            secret.RotationLambdaArn = function;
            if (rules is not null) secret.RotationRules = rules;
            secret.RotationEnabled = true;
            var state = secret.Rotation ?? new RotationState();
            secret.Rotation = state;
            if (schedule is not null || state.WindowStart is null) ScheduleNext(secret, now);
            if (immediately) StartRun(tx, secret, token, function, isTest: false, now);
            else StartRun(tx, secret, token, function, isTest: true, now);
            secret.LastChangedDate = now;
            tx.UpdateSecret(secret);
            return new SecretIdentityResult { ARN = secret.Arn, Name = secret.Name, VersionId = token };
        }, r => r.ARN, ct).ConfigureAwait(false);
        RotationRequests.Notify();
        return result;
    }

    public Task<SecretIdentityResult> CancelRotateSecretAsync(RequestContext ctx, SecretIdRequest request, CancellationToken ct)
    {
        var secretId = Validation.SecretId(request.SecretId);
        return WriteAsync(tx =>
        {
            var found = Resolve(tx, ctx.Region, secretId);
            Authorize(ctx, "secretsmanager:CancelRotateSecret", found, secretId);
            var secret = found ?? throw ServiceException.ResourceNotFound();
            if (secret.RotationLambdaArn is null && secret.RotationEnabled is null)
                throw ServiceException.InvalidRequest(
                    "You tried to enable rotation on a secret that doesn't already have a Lambda function ARN configured and you didn't include such an ARN as a parameter in this call.");
            // The interrupted rotation's version keeps its labels (spec §3.2): the caller repairs them.
            var versionId = secret.Rotation?.Run?.Token ?? secret.FindByStage(StagingLabels.Pending) switch
            {
                { } pending when !pending.Stages.Contains(StagingLabels.Current) => pending.VersionId,
                _ => null,
            };
            secret.RotationEnabled = false;
            secret.NextRotationDate = null;
            if (secret.Rotation is { } state)
            {
                state.Run = null;
                state.WindowStart = null;
            }
            secret.LastChangedDate = Now();
            tx.UpdateSecret(secret);
            return new SecretIdentityResult { ARN = secret.Arn, Name = secret.Name, VersionId = versionId };
        }, r => r.ARN, ct);
    }

    public async Task<RotationStatusResult> DescribeRotationAsync(RequestContext ctx, SecretIdRequest request, CancellationToken ct)
    {
        var secret = await ResolveAsync(ctx.Region, Validation.SecretId(request.SecretId), ct).ConfigureAwait(false)
            ?? throw ServiceException.ResourceNotFound();
        return RotationStatus(secret, time.GetUtcNow());
    }

    public static RotationStatusResult RotationStatus(Secret s, DateTimeOffset now)
    {
        var run = s.Rotation?.Run;
        return new RotationStatusResult
        {
            ARN = s.Arn,
            Name = s.Name,
            RotationEnabled = s.RotationEnabled,
            RotationLambdaARN = s.RotationLambdaArn,
            RotationRules = s.RotationRules,
            LastRotatedDate = s.LastRotatedDate,
            NextRotationDate = s.NextRotationDate,
            NextWindowStart = s.Rotation?.WindowStart,
            Status = run?.Status ?? "idle",
            VersionId = run?.Token,
            Step = run?.Step,
            Phase = run?.Phase,
            Attempt = run?.Attempt,
            TestOnly = run?.IsTest,
            StartedDate = run?.StartedDate,
            NextAttemptDate = run?.NextAttemptDate,
            LastFailure = s.Rotation?.LastFailure,
            RotationOccurringAsScheduled = s.RotationEnabled == true
                ? !(s.NextRotationDate is { } next && next < now)
                : null,
        };
    }

    // ---- engine transitions ---------------------------------------------------------------------------------

    /// <summary>Secrets the scheduler must look at (rotation enabled or a run recorded), across regions.</summary>
    public Task<IReadOnlyList<Secret>> ListRotatingAsync(CancellationToken ct) => store.ListRotatingAsync(ct);

    /// <summary>
    /// Starts the scheduled rotation of a secret whose window has opened: the AWSPENDING placeholder with a fresh
    /// token and the run, in one transaction. Returns null (and changes nothing) when the secret is no longer due,
    /// already rotating, or cannot rotate (then the reason is recorded as the last failure).
    /// </summary>
    public Task<RotationRun?> StartScheduledRotationAsync(string arn, CancellationToken ct) =>
        WriteAsync<RotationRun?>(tx =>
        {
            var secret = tx.FindByArn(arn);
            var now = Now();
            if (secret is null || secret.IsScheduledForDeletion || secret.RotationEnabled != true || secret.Rotation is not { } state
                || state.Run is not null || state.WindowStart is not { } start || start > now)
                return null;
            var pending = secret.FindByStage(StagingLabels.Pending);
            var current = secret.FindByStage(StagingLabels.Current);
            string? problem = null;
            if (secret.RotationLambdaArn is not { } function || RotationFunctions?.Find(function) is null) problem = "rotation function not found";
            else if (pending is not null && !ReferenceEquals(pending, current)) problem = "AWSPENDING is attached to a version other than AWSCURRENT";
            else if (current is null || !current.HasValue) problem = "the secret has no AWSCURRENT value";
            if (problem is not null)
            {
                // Recorded once per window, not once per tick: the window moves on.
                state.LastFailure = new RotationFailure("schedule", problem, now, "", 0);
                ScheduleNext(secret, now);
                tx.UpdateSecret(secret);
                return null;
            }
            var run = StartRun(tx, secret, Guid.NewGuid().ToString(), secret.RotationLambdaArn!, isTest: false, now);
            tx.UpdateSecret(secret);
            return run.Clone();
        }, r => arn, ct);

    /// <summary>
    /// Records that a step is about to run (<see cref="RotationPhases.Started"/>) or has returned (the next step,
    /// <see cref="RotationPhases.Pending"/>). False when the run is gone (cancelled or abandoned): stop.
    /// </summary>
    public Task<bool> RecordRotationStepAsync(string arn, string token, string step, string phase, CancellationToken ct) =>
        store.WriteAsync(tx =>
        {
            var secret = tx.FindByArn(arn);
            if (secret?.Rotation?.Run is not { } run || run.Token != token) return false;
            run.Step = step;
            run.Phase = phase;
            run.Status = RotationStatuses.Running;
            run.NextAttemptDate = null;
            run.UpdatedDate = Now();
            tx.UpdateSecret(secret);
            return true;
        }, ct);

    /// <summary>
    /// Ends a run whose steps all returned (spec §4.2 row 6): AWSCURRENT must be on the new version; AWSPENDING is
    /// dropped; LastRotatedDate and the next window are set. A test-only run just drops its AWSPENDING label.
    /// Throws <see cref="RotationStepException"/> when finishSecret did not move AWSCURRENT.
    /// </summary>
    public Task<bool> CompleteRotationAsync(string arn, string token, CancellationToken ct) =>
        WriteAsync(tx =>
        {
            var secret = tx.FindByArn(arn);
            if (secret?.Rotation?.Run is not { } run || run.Token != token) return false;
            var now = Now();
            var version = secret.FindVersion(token);
            if (!run.IsTest && (version is null || !version.Stages.Contains(StagingLabels.Current)))
                throw new RotationStepException(RotationFailureKind.Permanent, "finishSecret returned but AWSCURRENT is not on the new version");
            if (version is not null && version.Stages.Remove(StagingLabels.Pending))
                tx.UpsertVersion(secret.Id, version, null);
            secret.Rotation.Run = null;
            if (!run.IsTest)
            {
                secret.Rotation.LastFailure = null;
                secret.LastRotatedDate = now;
                if (secret.RotationEnabled == true) ScheduleNext(secret, now);
            }
            secret.LastChangedDate = now;
            tx.UpdateSecret(secret);
            return true;
        }, _ => arn, ct);

    /// <summary>
    /// Records a failed attempt. Transient failures retry the same token after <paramref name="retryDelay"/>;
    /// a rejected password abandons the version (AWSPENDING removed) and retries under a fresh token; permanent
    /// failures, and the last allowed attempt, stop the run as <see cref="RotationStatuses.Failed"/>. AWSCURRENT
    /// is never touched. A test-only run is ended (its label removed) with the failure recorded.
    /// </summary>
    public Task<RotationRun?> FailRotationAsync(string arn, string token, string step, string reason, RotationFailureKind kind,
        int maxAttempts, TimeSpan retryDelay, CancellationToken ct) =>
        WriteAsync(tx =>
        {
            var secret = tx.FindByArn(arn);
            if (secret?.Rotation?.Run is not { } run || run.Token != token) return null;
            var now = Now();
            secret.Rotation.LastFailure = new RotationFailure(step, reason, now, token, run.Attempt);
            if (run.IsTest)
            {
                if (secret.FindVersion(token) is { } test && test.Stages.Remove(StagingLabels.Pending)) tx.UpsertVersion(secret.Id, test, null);
                secret.Rotation.Run = null;
                tx.UpdateSecret(secret);
                return null;
            }
            run.UpdatedDate = now;
            if (kind == RotationFailureKind.Permanent || run.Attempt >= maxAttempts)
            {
                run.Status = RotationStatuses.Failed;
                run.NextAttemptDate = null;
                tx.UpdateSecret(secret);
                return run.Clone();
            }
            if (kind == RotationFailureKind.PasswordRejected)
            {
                // Never re-send a password the target refused: the pending version is abandoned (unlabelled, so
                // deprecated) and the next attempt fills a new one under a new token.
                if (secret.FindVersion(token) is { } rejected && rejected.Stages.Remove(StagingLabels.Pending))
                    tx.UpsertVersion(secret.Id, rejected, null);
                var attempt = run.Attempt;
                var started = run.StartedDate;
                run = StartRun(tx, secret, Guid.NewGuid().ToString(), run.Function, isTest: false, now);
                run.Attempt = attempt;
                run.StartedDate = started;
            }
            run.Status = RotationStatuses.Retrying;
            run.Step = RotationSteps.CreateSecret;
            run.Phase = RotationPhases.Pending;
            run.NextAttemptDate = now + retryDelay;
            tx.UpdateSecret(secret);
            return run.Clone();
        }, _ => arn, ct);

    /// <summary>Begins the next attempt of a retrying run: all steps again, same token (spec §4.4). False when gone.</summary>
    public Task<bool> BeginRetryAsync(string arn, string token, CancellationToken ct) =>
        store.WriteAsync(tx =>
        {
            var secret = tx.FindByArn(arn);
            if (secret?.Rotation?.Run is not { } run || run.Token != token || run.Status != RotationStatuses.Retrying) return false;
            run.Attempt++;
            run.Status = RotationStatuses.Running;
            run.Step = RotationSteps.CreateSecret;
            run.Phase = RotationPhases.Pending;
            run.NextAttemptDate = null;
            run.UpdatedDate = Now();
            tx.UpdateSecret(secret);
            return true;
        }, ct);

    // ---- helpers --------------------------------------------------------------------------------------------

    private static void CheckNoRotationInProgress(Secret secret)
    {
        if (secret.Rotation?.Run is not null) throw ServiceException.InvalidRequest(PreviousRotationIncomplete);
        var pending = secret.FindByStage(StagingLabels.Pending);
        if (pending is not null && !pending.Stages.Contains(StagingLabels.Current))
            throw ServiceException.InvalidRequest(PreviousRotationIncomplete);
    }

    /// <summary>
    /// Creates the run and its AWSPENDING version (spec §4.2 row 1, §4.5 item 1): value-less for a rotation, a
    /// copy of the current value for a test-only run (spec §4.3). AWSPENDING leaves any other version.
    /// </summary>
    private RotationRun StartRun(ISecretTransaction tx, Secret secret, string token, string function, bool isTest, DateTimeOffset now)
    {
        var version = new SecretVersion { VersionId = token, CreatedDate = now, HasValue = false };
        byte[]? blob = null;
        if (isTest)
        {
            var current = secret.FindByStage(StagingLabels.Current)!;
            var currentBlob = tx.ReadBlob(secret.Id, current.VersionId) ?? throw ServiceException.ResourceNotFound(
                $"Secrets Manager can't find the specified secret value for staging label: {StagingLabels.Current}");
            byte[] plain;
            try { plain = cipher.Open(currentBlob, Aad(secret.Arn, current.VersionId)); }
            catch (Crypto.EnvelopeException) { throw ServiceException.DecryptionFailure(); }
            try { blob = cipher.Seal(plain, Aad(secret.Arn, token)); }
            finally { CryptographicOperations.ZeroMemory(plain); }
            version.HasValue = true;
            version.KeyId = cipher.CurrentKeyId;
        }
        secret.Versions.Add(version);
        var changed = StagingLabels.Move(secret, StagingLabels.Pending, version);
        CheckStageQuota(secret);
        foreach (var doomed in Retention.SelectForDeletion(secret, now, options))
        {
            secret.Versions.Remove(doomed);
            changed.Remove(doomed);
            tx.DeleteVersion(secret.Id, doomed.VersionId);
        }
        tx.UpsertVersion(secret.Id, version, blob);
        changed.Remove(version);
        foreach (var v in changed) tx.UpsertVersion(secret.Id, v, null);
        var run = new RotationRun
        {
            Token = token,
            RotationToken = Guid.NewGuid().ToString(),
            Function = function,
            IsTest = isTest,
            Step = isTest ? RotationSteps.TestSecret : RotationSteps.CreateSecret,
            StartedDate = now,
            UpdatedDate = now,
        };
        (secret.Rotation ??= new RotationState()).Run = run;
        return run;
    }

    /// <summary>Sets the next window from <paramref name="from"/>; NextRotationDate is its end (an upper bound, spec §4.1).</summary>
    private void ScheduleNext(Secret secret, DateTimeOffset from)
    {
        var state = secret.Rotation ??= new RotationState();
        if (secret.RotationRules is not { } rules || (rules.AutomaticallyAfterDays is null && rules.ScheduleExpression is null))
        {
            state.WindowStart = null;
            secret.NextRotationDate = null;
            return;
        }
        // Stored rules were validated when set; test schedules stay valid even if the server no longer allows new ones.
        var schedule = RotationSchedule.Parse(rules.ScheduleExpression is not null
            ? new RotationRules { ScheduleExpression = rules.ScheduleExpression, Duration = rules.Duration }
            : rules, allowTestSchedules: true);
        var (start, end) = schedule.NextWindow(from);
        state.WindowStart = start;
        secret.NextRotationDate = end;
    }

    /// <summary>A new AWSCURRENT written outside the rotation abandons the run (spec §3.13, RotationAbandoned).</summary>
    private static void AbandonRotation(Secret secret)
    {
        if (secret.Rotation?.Run is not { } run) return;
        secret.Rotation.LastFailure = new RotationFailure(run.Step, "abandoned: a new AWSCURRENT version was written", run.UpdatedDate, run.Token, run.Attempt);
        secret.Rotation.Run = null;
    }

    /// <summary>PutSecretValue's RotationToken must be the running rotation's (spec §3.13); compared in constant time.</summary>
    private static void CheckRotationToken(Secret secret, string? rotationToken)
    {
        if (rotationToken is null) return;
        var expected = secret.Rotation?.Run?.RotationToken;
        if (expected is null || !CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(expected), Encoding.UTF8.GetBytes(rotationToken)))
            throw ServiceException.InvalidRequest("The RotationToken doesn't match a rotation in progress for this secret.");
    }
}

/// <summary>A level-triggered wake-up for the rotation engine: Notify never blocks; WaitAsync returns once per burst.</summary>
public sealed class RotationSignal
{
    private readonly SemaphoreSlim _signal = new(0, 1);

    public void Notify()
    {
        try { _signal.Release(); }
        catch (SemaphoreFullException) { }
    }

    public Task<bool> WaitAsync(TimeSpan timeout, CancellationToken ct) => _signal.WaitAsync(timeout, ct);
}
