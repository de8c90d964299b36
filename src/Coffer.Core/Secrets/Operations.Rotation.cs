using Coffer.Core.Rotation;

namespace Coffer.Core.Secrets;

public sealed class RotateSecretRequest
{
    public string? SecretId { get; set; }
    public string? ClientRequestToken { get; set; }
    public string? RotationLambdaARN { get; set; }
    public RotationRules? RotationRules { get; set; }
    public bool? RotateImmediately { get; set; }
    public List<ExternalSecretRotationMetadataItem>? ExternalSecretRotationMetadata { get; set; }
    public string? ExternalSecretRotationRoleArn { get; set; }
}

public sealed record ExternalSecretRotationMetadataItem(string? Key, string? Value);

/// <summary>
/// Coffer's view of a secret's rotation (not an AWS shape): configuration, schedule, the run in progress and
/// the last failure. Shown by <c>coffer rotation status</c>. Never holds a value or a rotation token.
/// </summary>
public sealed class RotationStatusResult
{
    public required string ARN { get; init; }
    public required string Name { get; init; }
    public bool? RotationEnabled { get; init; }
    public string? RotationLambdaARN { get; init; }
    public RotationRules? RotationRules { get; init; }
    public DateTimeOffset? LastRotatedDate { get; init; }
    public DateTimeOffset? NextRotationDate { get; init; }
    public DateTimeOffset? NextWindowStart { get; init; }
    /// <summary>"idle", or the run's status: running, retrying, failed.</summary>
    public required string Status { get; init; }
    public string? VersionId { get; init; }
    public string? Step { get; init; }
    public string? Phase { get; init; }
    public int? Attempt { get; init; }
    public bool? TestOnly { get; init; }
    public DateTimeOffset? StartedDate { get; init; }
    public DateTimeOffset? NextAttemptDate { get; init; }
    public RotationFailure? LastFailure { get; init; }
    /// <summary>Derived health flag (spec §4.1, AWS Config): false when rotation is enabled and overdue.</summary>
    public bool? RotationOccurringAsScheduled { get; init; }
}
