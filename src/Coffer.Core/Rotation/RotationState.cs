namespace Coffer.Core.Rotation;

/// <summary>
/// The durable rotation record of one secret, stored with the secret's row so that it changes in the same
/// transaction as the labels it describes. Holds no secret value: the pending value lives in the AWSPENDING
/// version, and the rotation token is an opaque id, not a credential of the target.
/// </summary>
public sealed class RotationState
{
    /// <summary>Start of the next rotation window (spec §4.1); the window ends at the secret's NextRotationDate.</summary>
    public DateTimeOffset? WindowStart { get; set; }

    /// <summary>The rotation in progress (or waiting for a retry, or given up); null when none.</summary>
    public RotationRun? Run { get; set; }

    /// <summary>The most recent failure, kept after later successes are reported separately; cleared on success.</summary>
    public RotationFailure? LastFailure { get; set; }

    public RotationState Clone() => new()
    {
        WindowStart = WindowStart,
        Run = Run?.Clone(),
        LastFailure = LastFailure,
    };
}

/// <summary>One rotation: the version it creates, the step reached, and its attempts (spec §4.2, §4.4).</summary>
public sealed class RotationRun
{
    /// <summary>The ClientRequestToken: id of the AWSPENDING version this rotation fills.</summary>
    public required string Token { get; set; }
    /// <summary>Opaque token handed to the rotation function; PutSecretValue may quote it (spec §3.13).</summary>
    public required string RotationToken { get; set; }
    /// <summary>The RotationLambdaARN the rotation runs with.</summary>
    public required string Function { get; set; }
    /// <summary>True for RotateImmediately=false: only testSecret runs, against a copy of the current value (spec §4.3).</summary>
    public bool IsTest { get; set; }
    /// <summary>The step to run next, or the step running now (see <see cref="Phase"/>).</summary>
    public string Step { get; set; } = RotationSteps.CreateSecret;
    /// <summary><see cref="RotationPhases"/>: recorded before a step runs and after it returns.</summary>
    public string Phase { get; set; } = RotationPhases.Pending;
    /// <summary><see cref="RotationStatuses"/>.</summary>
    public string Status { get; set; } = RotationStatuses.Running;
    /// <summary>Attempts started so far (1 for the first).</summary>
    public int Attempt { get; set; } = 1;
    public DateTimeOffset StartedDate { get; set; }
    public DateTimeOffset UpdatedDate { get; set; }
    /// <summary>When a retrying rotation runs again.</summary>
    public DateTimeOffset? NextAttemptDate { get; set; }

    public RotationRun Clone() => (RotationRun)MemberwiseClone();
}

/// <summary>A failed step: which one, why (a fixed phrase or error code, never a password), and when.</summary>
public sealed record RotationFailure(string Step, string Reason, DateTimeOffset Date, string Token, int Attempt);

public static class RotationSteps
{
    public const string CreateSecret = "createSecret";
    public const string SetSecret = "setSecret";
    public const string TestSecret = "testSecret";
    public const string FinishSecret = "finishSecret";

    public static readonly IReadOnlyList<string> All = [CreateSecret, SetSecret, TestSecret, FinishSecret];

    public static string? After(string step) => step switch
    {
        CreateSecret => SetSecret,
        SetSecret => TestSecret,
        TestSecret => FinishSecret,
        _ => null,
    };
}

public static class RotationPhases
{
    /// <summary>The step has not started.</summary>
    public const string Pending = "pending";
    /// <summary>The step was started and has not been recorded as done: it may or may not have had its effect.</summary>
    public const string Started = "started";
}

public static class RotationStatuses
{
    /// <summary>Steps are running or about to.</summary>
    public const string Running = "running";
    /// <summary>An attempt failed; the next one starts at NextAttemptDate.</summary>
    public const string Retrying = "retrying";
    /// <summary>Attempts are exhausted (or the failure is permanent); nothing runs until an operator acts.</summary>
    public const string Failed = "failed";
}
