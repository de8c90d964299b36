namespace Coffer.Core.Secrets;

// One request and one result type per Secrets Manager action (spec §3). Member names are the AWS wire names,
// so the protocol edge (de)serialises these types directly. Types that can carry a value are classes, not
// records, so that no generated ToString can print the value.

public sealed class CreateSecretRequest
{
    public string? Name { get; set; }
    public string? ClientRequestToken { get; set; }
    public string? Description { get; set; }
    public string? KmsKeyId { get; set; }
    public string? SecretString { get; set; }
    public byte[]? SecretBinary { get; set; }
    public List<Tag>? Tags { get; set; }
    public List<ReplicaRegion>? AddReplicaRegions { get; set; }
    public bool? ForceOverwriteReplicaSecret { get; set; }
    public string? Type { get; set; }
}

public sealed record ReplicaRegion(string? Region, string? KmsKeyId);

public sealed class CreateSecretResult
{
    public required string ARN { get; init; }
    public required string Name { get; init; }
    public string? VersionId { get; init; }
    public List<ReplicationStatusEntry>? ReplicationStatus { get; init; }
}

public sealed record ReplicationStatusEntry(string Region, string? KmsKeyId, string Status, string? StatusMessage);

public sealed class PutSecretValueRequest
{
    public string? SecretId { get; set; }
    public string? ClientRequestToken { get; set; }
    public string? SecretString { get; set; }
    public byte[]? SecretBinary { get; set; }
    public List<string>? VersionStages { get; set; }
    public string? RotationToken { get; set; }
}

public sealed class PutSecretValueResult
{
    public required string ARN { get; init; }
    public required string Name { get; init; }
    public required string VersionId { get; init; }
    public required List<string> VersionStages { get; init; }
}

public sealed class GetSecretValueRequest
{
    public string? SecretId { get; set; }
    public string? VersionId { get; set; }
    public string? VersionStage { get; set; }
}

public sealed class GetSecretValueResult
{
    public required string ARN { get; init; }
    public required string Name { get; init; }
    public required string VersionId { get; init; }
    public string? SecretString { get; init; }
    public byte[]? SecretBinary { get; init; }
    public required List<string> VersionStages { get; init; }
    public required DateTimeOffset CreatedDate { get; init; }
    public override string ToString() => $"GetSecretValueResult({ARN}, {VersionId})";
}

public sealed class BatchGetSecretValueRequest
{
    public List<string>? SecretIdList { get; set; }
    public List<Filter>? Filters { get; set; }
    public int? MaxResults { get; set; }
    public string? NextToken { get; set; }
}

public sealed class BatchGetSecretValueResult
{
    public required List<GetSecretValueResult> SecretValues { get; init; }
    public required List<ApiError> Errors { get; init; }
    public string? NextToken { get; init; }
}

public sealed record ApiError(string SecretId, string ErrorCode, string Message);

public sealed record Filter(string? Key, List<string>? Values);

public sealed class DescribeSecretRequest
{
    public string? SecretId { get; set; }
}

/// <summary>The metadata of one secret, as DescribeSecret and ListSecrets show it (spec §2.1).</summary>
public sealed class DescribeSecretResult
{
    public required string ARN { get; init; }
    public required string Name { get; init; }
    public string? Type { get; init; }
    public string? Description { get; init; }
    public string? KmsKeyId { get; init; }
    public bool? RotationEnabled { get; init; }
    public string? RotationLambdaARN { get; init; }
    public RotationRules? RotationRules { get; init; }
    public DateTimeOffset? LastRotatedDate { get; init; }
    public DateTimeOffset? LastChangedDate { get; init; }
    public DateTimeOffset? LastAccessedDate { get; init; }
    public DateTimeOffset? DeletedDate { get; init; }
    public DateTimeOffset? NextRotationDate { get; init; }
    public List<Tag>? Tags { get; init; }
    /// <summary>DescribeSecret's name for the label map; ListSecrets uses <see cref="SecretVersionsToStages"/>.</summary>
    public Dictionary<string, List<string>>? VersionIdsToStages { get; init; }
    public Dictionary<string, List<string>>? SecretVersionsToStages { get; init; }
    public string? OwningService { get; init; }
    public DateTimeOffset? CreatedDate { get; init; }
    public string? PrimaryRegion { get; init; }
    public List<ReplicationStatusEntry>? ReplicationStatus { get; init; }
}

public sealed class ListSecretsRequest
{
    public bool? IncludePlannedDeletion { get; set; }
    public int? MaxResults { get; set; }
    public string? NextToken { get; set; }
    public List<Filter>? Filters { get; set; }
    public string? SortOrder { get; set; }
    public string? SortBy { get; set; }
}

public sealed class ListSecretsResult
{
    public required List<DescribeSecretResult> SecretList { get; init; }
    public string? NextToken { get; init; }
}

public sealed class ListSecretVersionIdsRequest
{
    public string? SecretId { get; set; }
    public int? MaxResults { get; set; }
    public string? NextToken { get; set; }
    public bool? IncludeDeprecated { get; set; }
}

public sealed class ListSecretVersionIdsResult
{
    public required List<SecretVersionsListEntry> Versions { get; init; }
    public string? NextToken { get; init; }
    public required string ARN { get; init; }
    public required string Name { get; init; }
}

public sealed record SecretVersionsListEntry(
    string VersionId,
    List<string>? VersionStages,
    DateTimeOffset? LastAccessedDate,
    DateTimeOffset CreatedDate,
    List<string>? KmsKeyIds);

public sealed class UpdateSecretRequest
{
    public string? SecretId { get; set; }
    public string? ClientRequestToken { get; set; }
    public string? Description { get; set; }
    public string? KmsKeyId { get; set; }
    public string? SecretString { get; set; }
    public byte[]? SecretBinary { get; set; }
    public string? Type { get; set; }
}

/// <summary>Result of the actions that answer ARN, Name and sometimes VersionId.</summary>
public sealed class SecretIdentityResult
{
    public required string ARN { get; init; }
    public required string Name { get; init; }
    public string? VersionId { get; init; }
}

public sealed class UpdateSecretVersionStageRequest
{
    public string? SecretId { get; set; }
    public string? VersionStage { get; set; }
    public string? RemoveFromVersionId { get; set; }
    public string? MoveToVersionId { get; set; }
}

public sealed class DeleteSecretRequest
{
    public string? SecretId { get; set; }
    public long? RecoveryWindowInDays { get; set; }
    public bool? ForceDeleteWithoutRecovery { get; set; }
}

public sealed class DeleteSecretResult
{
    public required string ARN { get; init; }
    public required string Name { get; init; }
    public required DateTimeOffset DeletionDate { get; init; }
}

public sealed class SecretIdRequest
{
    public string? SecretId { get; set; }
}

public sealed class GetRandomPasswordRequest
{
    public long? PasswordLength { get; set; }
    public string? ExcludeCharacters { get; set; }
    public bool? ExcludeNumbers { get; set; }
    public bool? ExcludePunctuation { get; set; }
    public bool? ExcludeUppercase { get; set; }
    public bool? ExcludeLowercase { get; set; }
    public bool? IncludeSpace { get; set; }
    public bool? RequireEachIncludedType { get; set; }
}

public sealed class GetRandomPasswordResult
{
    public required string RandomPassword { get; init; }
    public override string ToString() => "GetRandomPasswordResult(***)";
}

public sealed class TagResourceRequest
{
    public string? SecretId { get; set; }
    public List<Tag>? Tags { get; set; }
}

public sealed class UntagResourceRequest
{
    public string? SecretId { get; set; }
    public List<string>? TagKeys { get; set; }
}

public sealed class PutResourcePolicyRequest
{
    public string? SecretId { get; set; }
    public string? ResourcePolicy { get; set; }
    public bool? BlockPublicPolicy { get; set; }
}

public sealed class GetResourcePolicyResult
{
    public required string ARN { get; init; }
    public required string Name { get; init; }
    public string? ResourcePolicy { get; init; }
}

public sealed class ValidateResourcePolicyRequest
{
    public string? SecretId { get; set; }
    public string? ResourcePolicy { get; set; }
}

public sealed class ValidateResourcePolicyResult
{
    public required bool PolicyValidationPassed { get; init; }
    public required List<ValidationErrorsEntry> ValidationErrors { get; init; }
}

public sealed record ValidationErrorsEntry(string CheckName, string ErrorMessage);
