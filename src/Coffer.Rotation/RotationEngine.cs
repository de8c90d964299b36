using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Coffer.Core;
using Coffer.Core.Rotation;
using Coffer.Core.Secrets;
using Microsoft.Extensions.Logging;

namespace Coffer.Rotation;

/// <summary>
/// The scheduler and four-step runner (spec §4). Each tick reads the secrets that rotate and:
/// resumes runs recorded as running (a crash or restart happened mid-rotation: same token, from the recorded
/// step — a step recorded as started runs again, which is safe because steps are idempotent); starts retries
/// whose backoff has passed; and starts rotations whose window has opened. A window that closed while the server
/// was down gives one catch-up rotation, after which the next window is computed from that rotation.
///
/// Invariants: at most one run per secret (the store holds one run per secret, and this process runs each at most
/// once at a time); at most <see cref="RotationOptions.MaxConcurrentRotations"/> runs at once; each step is
/// recorded before and after it runs; a failure records the step and a reason that never holds a password and
/// leaves AWSCURRENT where it was.
/// </summary>
public sealed partial class RotationEngine
{
    private static readonly Meter Meter = new("Coffer.Rotation");
    private static readonly Counter<long> Started = Meter.CreateCounter<long>("coffer_rotation_started_total");
    private static readonly Counter<long> Succeeded = Meter.CreateCounter<long>("coffer_rotation_succeeded_total");
    private static readonly Counter<long> Failures = Meter.CreateCounter<long>("coffer_rotation_failures_total");

    private readonly SecretService _secrets;
    private readonly IRotationFunctionCatalog _functions;
    private readonly RotationOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _log;
    private readonly SemaphoreSlim _slots;
    private readonly ConcurrentDictionary<string, Task> _running = new(StringComparer.Ordinal);

    public RotationEngine(SecretService secrets, IRotationFunctionCatalog functions, RotationOptions options, TimeProvider time, ILogger<RotationEngine> log)
    {
        _secrets = secrets;
        _functions = functions;
        _options = options;
        _time = time;
        _log = log;
        _slots = new SemaphoreSlim(options.MaxConcurrentRotations, options.MaxConcurrentRotations);
    }

    /// <summary>Runs until cancelled: a tick every <see cref="RotationOptions.TickInterval"/>, or at once after a RotateSecret.</summary>
    public async Task RunAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            try { await TickAsync(ct).ConfigureAwait(false); }
            catch (OperationCanceledException) when (ct.IsCancellationRequested) { break; }
            catch (Exception e) { LogTickFailed(_log, e.GetType().FullName ?? "?"); }
            try { await _secrets.RotationRequests.WaitAsync(_options.TickInterval, ct).ConfigureAwait(false); }
            catch (OperationCanceledException) { break; }
        }
        await WhenIdleAsync().ConfigureAwait(false);
    }

    /// <summary>Starts every run that is due now; returns how many were started. Runs continue in the background.</summary>
    public async Task<int> TickAsync(CancellationToken ct)
    {
        var now = _time.GetUtcNow();
        var started = 0;
        foreach (var secret in await _secrets.ListRotatingAsync(ct).ConfigureAwait(false))
        {
            if (_running.ContainsKey(secret.Arn)) continue;
            var run = secret.Rotation?.Run;
            if (run is not null)
            {
                if (run.Status == RotationStatuses.Running) { Launch(secret.Arn, run, resumed: true); started++; }
                else if (run.Status == RotationStatuses.Retrying && run.NextAttemptDate <= now)
                {
                    if (await _secrets.BeginRetryAsync(secret.Arn, run.Token, ct).ConfigureAwait(false))
                    {
                        run.Attempt++;
                        run.Step = RotationSteps.CreateSecret;
                        run.Phase = RotationPhases.Pending;
                        Launch(secret.Arn, run, resumed: false);
                        started++;
                    }
                }
                continue;
            }
            if (secret.RotationEnabled == true && secret.Rotation?.WindowStart is { } start && start <= now)
            {
                var scheduled = await _secrets.StartScheduledRotationAsync(secret.Arn, ct).ConfigureAwait(false);
                if (scheduled is not null)
                {
                    Launch(secret.Arn, scheduled, resumed: false);
                    started++;
                }
            }
        }
        return started;
    }

    /// <summary>Completes when no run of this engine is in flight (tests: tick, then wait for the runs).</summary>
    public async Task WhenIdleAsync()
    {
        while (!_running.IsEmpty)
        {
            try { await Task.WhenAll(_running.Values).ConfigureAwait(false); }
            catch (Exception) { /* each run records its own outcome */ }
        }
    }

    /// <summary>Runs in flight in this process.</summary>
    public int RunningCount => _running.Count;

    private void Launch(string arn, RotationRun run, bool resumed)
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!_running.TryAdd(arn, gate.Task)) return;
        _ = Task.Run(async () =>
        {
            try { await ExecuteAsync(arn, run, resumed).ConfigureAwait(false); }
            finally
            {
                _running.TryRemove(arn, out _);
                gate.SetResult();
            }
        });
    }

    private async Task ExecuteAsync(string arn, RotationRun run, bool resumed)
    {
        await _slots.WaitAsync().ConfigureAwait(false);
        var step = run.Step;
        try
        {
            if (resumed) LogResumed(_log, arn, run.Token, step, run.Phase);
            else if (run.Attempt == 1) Started.Add(1);
            var function = _functions.Find(run.Function)
                ?? throw new RotationStepException(RotationFailureKind.Permanent, "rotation function not found");
            while (true)
            {
                if (!await _secrets.RecordRotationStepAsync(arn, run.Token, step, RotationPhases.Started, CancellationToken.None).ConfigureAwait(false))
                {
                    LogGone(_log, arn, run.Token);
                    return;
                }
                await InvokeStepAsync(function, new RotationEvent(step, arn, run.Token, run.RotationToken)).ConfigureAwait(false);
                var next = run.IsTest ? null : RotationSteps.After(step);
                if (next is null) break;
                if (!await _secrets.RecordRotationStepAsync(arn, run.Token, next, RotationPhases.Pending, CancellationToken.None).ConfigureAwait(false))
                {
                    LogGone(_log, arn, run.Token);
                    return;
                }
                step = next;
            }
            if (await _secrets.CompleteRotationAsync(arn, run.Token, CancellationToken.None).ConfigureAwait(false))
            {
                if (!run.IsTest) Succeeded.Add(1);
                LogSucceeded(_log, arn, run.Token, run.IsTest ? "test rotation" : "rotation");
            }
        }
        catch (Exception e)
        {
            var (kind, reason) = Classify(e);
            Failures.Add(1);
            try
            {
                var after = await _secrets.FailRotationAsync(arn, run.Token, step, reason, kind, _options.MaxAttempts,
                    _options.RetryDelay(run.Attempt), CancellationToken.None).ConfigureAwait(false);
                // One line per failed attempt (reliability matrix F4), naming the step; the reason holds no secret.
                if (after is null) LogFailedTest(_log, arn, step, reason);
                else if (after.Status == RotationStatuses.Failed) LogGaveUp(_log, arn, step, run.Attempt, reason);
                else LogFailed(_log, arn, step, run.Attempt, reason, after.NextAttemptDate, after.Token != run.Token);
            }
            catch (Exception recordError)
            {
                LogRecordFailed(_log, arn, recordError.GetType().FullName ?? "?");
            }
        }
        finally
        {
            _slots.Release();
        }
    }

    private async Task InvokeStepAsync(IRotationFunction function, RotationEvent rotationEvent)
    {
        using var timeout = new CancellationTokenSource(_options.StepTimeout, _time);
        try
        {
            await function.InvokeAsync(rotationEvent, timeout.Token).WaitAsync(_options.StepTimeout, _time, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e) when (e is TimeoutException || (e is OperationCanceledException && timeout.IsCancellationRequested))
        {
            throw new RotationStepException(RotationFailureKind.Transient,
                $"{rotationEvent.Step} timed out after {_options.StepTimeout.TotalSeconds:0.#} s", e);
        }
    }

    /// <summary>Reasons are our own phrases or AWS error codes; driver messages are never copied (they may quote input).</summary>
    private static (RotationFailureKind, string) Classify(Exception e) => e switch
    {
        RotationStepException r => (r.Kind, r.Message),
        ServiceException s => (RotationFailureKind.Permanent, $"{s.Code}: {s.Message}"),
        _ => (RotationFailureKind.Transient, "unexpected error " + e.GetType().Name),
    };

    [LoggerMessage(Level = LogLevel.Information, Message = "Rotation of {Arn} resumed (version {Token}, step {Step}, {Phase})")]
    private static partial void LogResumed(ILogger log, string arn, string token, string step, string phase);

    [LoggerMessage(Level = LogLevel.Information, Message = "Rotation of {Arn} ended (version {Token}): the run was cancelled or abandoned")]
    private static partial void LogGone(ILogger log, string arn, string token);

    [LoggerMessage(Level = LogLevel.Information, Message = "RotationSucceeded {Arn} (version {Token}, {Kind})")]
    private static partial void LogSucceeded(ILogger log, string arn, string token, string kind);

    [LoggerMessage(Level = LogLevel.Warning, Message = "RotationFailed {Arn} during {Step} (attempt {Attempt}): {Reason}; next attempt at {NextAttempt:o}{FreshToken}")]
    private static partial void LogFailedCore(ILogger log, string arn, string step, int attempt, string reason, DateTimeOffset? nextAttempt, string freshToken);

    private static void LogFailed(ILogger log, string arn, string step, int attempt, string reason, DateTimeOffset? next, bool freshToken) =>
        LogFailedCore(log, arn, step, attempt, reason, next, freshToken ? " with a new version" : "");

    [LoggerMessage(Level = LogLevel.Error, Message = "RotationFailed {Arn} during {Step} (attempt {Attempt}, giving up): {Reason}")]
    private static partial void LogGaveUp(ILogger log, string arn, string step, int attempt, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "TestRotationFailed {Arn} during {Step}: {Reason}")]
    private static partial void LogFailedTest(ILogger log, string arn, string step, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "Could not record the rotation failure of {Arn}: {ExceptionType}")]
    private static partial void LogRecordFailed(ILogger log, string arn, string exceptionType);

    [LoggerMessage(Level = LogLevel.Error, Message = "Rotation scheduler tick failed: {ExceptionType}")]
    private static partial void LogTickFailed(ILogger log, string exceptionType);
}
