namespace Coffer.Core.Rotation;

/// <summary>
/// What a rotation function receives for each step, exactly as Secrets Manager invokes a Lambda (spec §4.2):
/// <c>{"Step", "SecretId" (the secret ARN), "ClientRequestToken" (the new version id), "RotationToken"}</c>.
/// </summary>
public sealed record RotationEvent(string Step, string SecretId, string ClientRequestToken, string RotationToken)
{
    public override string ToString() => $"RotationEvent({Step}, {SecretId}, {ClientRequestToken})";
}

/// <summary>
/// A rotation function: invoked once per step, sequentially, with the same token for all four steps (spec §4.2).
/// A step succeeds when the call returns; it fails by throwing (a <see cref="RotationStepException"/> says
/// whether a retry can help). Every step must be idempotent: after a crash or a failure the engine runs the
/// step again with the same event, and a step that already had its effect must return success without
/// changing anything. Functions act on secrets through <see cref="Secrets.SecretService"/> as the rotation
/// principal, like a Lambda calling the API.
/// </summary>
public interface IRotationFunction
{
    Task InvokeAsync(RotationEvent rotationEvent, CancellationToken ct);
}

/// <summary>
/// Finds the function named by a secret's RotationLambdaARN: a Lambda ARN
/// <c>arn:aws:lambda:REGION:ACCOUNT:function:NAME</c> or a bare function name.
/// </summary>
public interface IRotationFunctionCatalog
{
    /// <summary>Null when no function of that name exists (RotateSecret then answers AccessDeniedException, as AWS does).</summary>
    IRotationFunction? Find(string rotationLambdaArn);
}

/// <summary>How a failed step should be treated by the retry policy (STYLE: rotation retries only transient failures).</summary>
public enum RotationFailureKind
{
    /// <summary>Network, timeout, a database that is down: retry the same rotation later with the same token.</summary>
    Transient,
    /// <summary>The target refused the new password (policy, length): retry later with a fresh password under a new token.</summary>
    PasswordRejected,
    /// <summary>Misconfiguration that a retry cannot fix (target changed, bad secret JSON): stop and record.</summary>
    Permanent,
}

/// <summary>
/// A step failure with a reason safe to store and show: fixed phrases and error codes only, never a password,
/// connection string or raw driver message.
/// </summary>
public sealed class RotationStepException(RotationFailureKind kind, string reason, Exception? inner = null)
    : Exception(reason, inner)
{
    public RotationFailureKind Kind { get; } = kind;
}

/// <summary>Function names in RotationLambdaARN values.</summary>
public static class RotationFunctionNames
{
    /// <summary>The function name of a Lambda ARN (<c>arn:PARTITION:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]</c>), or the value itself.</summary>
    public static string Of(string rotationLambdaArn)
    {
        if (!rotationLambdaArn.StartsWith("arn:", StringComparison.Ordinal)) return rotationLambdaArn;
        var parts = rotationLambdaArn.Split(':');
        return parts.Length >= 7 && parts[2] == "lambda" && parts[5] == "function" ? parts[6] : "";
    }
}
