namespace Coffer.Core.Secrets;

/// <summary>
/// A secret's metadata and its versions (without values). Objects handed out by <see cref="ISecretStore"/>
/// are private copies: changing one changes nothing until it is written back through a transaction.
/// </summary>
public sealed class Secret
{
    /// <summary>Store-assigned surrogate key; 0 until inserted.</summary>
    public long Id { get; set; }
    public required string Region { get; init; }
    public required string Name { get; init; }
    public required string Arn { get; init; }
    public string? Description { get; set; }
    public string? KmsKeyId { get; set; }
    public string? Type { get; set; }
    /// <summary>Null until the secret was first tagged; DescribeSecret then shows [] after all tags are removed (observed).</summary>
    public List<Tag>? Tags { get; set; }
    public string? ResourcePolicy { get; set; }
    public DateTimeOffset CreatedDate { get; init; }
    public DateTimeOffset LastChangedDate { get; set; }
    /// <summary>Day resolution (midnight UTC).</summary>
    public DateTimeOffset? LastAccessedDate { get; set; }
    /// <summary>When DeleteSecret was called; null unless scheduled for deletion.</summary>
    public DateTimeOffset? DeletedDate { get; set; }
    /// <summary>When the sweeper may purge the secret; null unless scheduled for deletion.</summary>
    public DateTimeOffset? DeletionDate { get; set; }
    /// <summary>Null when rotation was never configured.</summary>
    public bool? RotationEnabled { get; set; }
    public string? RotationLambdaArn { get; set; }
    public RotationRules? RotationRules { get; set; }
    public DateTimeOffset? LastRotatedDate { get; set; }
    public DateTimeOffset? NextRotationDate { get; set; }
    /// <summary>Durable rotation state (schedule window, run in progress, last failure); null when none.</summary>
    public Rotation.RotationState? Rotation { get; set; }
    public string? OwningService { get; set; }
    public required string PrimaryRegion { get; init; }
    public List<SecretVersion> Versions { get; set; } = [];

    public bool IsScheduledForDeletion => DeletedDate is not null;

    public SecretVersion? FindVersion(string versionId) => Versions.Find(v => v.VersionId == versionId);

    public SecretVersion? FindByStage(string stage) => Versions.Find(v => v.Stages.Contains(stage));

    public Secret Clone()
    {
        var copy = (Secret)MemberwiseClone();
        copy.Tags = Tags is null ? null : [.. Tags];
        copy.Rotation = Rotation?.Clone();
        copy.RotationRules = RotationRules is null ? null : new RotationRules
        {
            AutomaticallyAfterDays = RotationRules.AutomaticallyAfterDays,
            Duration = RotationRules.Duration,
            ScheduleExpression = RotationRules.ScheduleExpression,
        };
        copy.Versions = Versions.ConvertAll(v => v.Clone());
        return copy;
    }
}

public sealed class SecretVersion
{
    public required string VersionId { get; init; }
    public List<string> Stages { get; set; } = [];
    public DateTimeOffset CreatedDate { get; init; }
    /// <summary>Day resolution (midnight UTC).</summary>
    public DateTimeOffset? LastAccessedDate { get; set; }
    /// <summary>False only for the value-less AWSPENDING placeholder that a rotation creates.</summary>
    public bool HasValue { get; set; }
    /// <summary>Master key id the value's data key is wrapped under.</summary>
    public string? KeyId { get; set; }

    public SecretVersion Clone()
    {
        var copy = (SecretVersion)MemberwiseClone();
        copy.Stages = [.. Stages];
        return copy;
    }
}

public sealed record Tag(string Key, string Value);

public sealed class RotationRules
{
    public long? AutomaticallyAfterDays { get; set; }
    public string? Duration { get; set; }
    public string? ScheduleExpression { get; set; }
}
