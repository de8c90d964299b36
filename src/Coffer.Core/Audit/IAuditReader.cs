namespace Coffer.Core.Audit;

/// <summary>Filters for reading the trail back (`coffer audit`, LookupEvents). Null means "any".</summary>
public sealed record AuditQuery
{
    public DateTimeOffset? From { get; init; }
    public DateTimeOffset? To { get; init; }
    /// <summary>A user name or principal ARN.</summary>
    public string? Principal { get; init; }
    /// <summary>A secret ARN or name; matches a record when any of its resources is that secret.</summary>
    public string? Secret { get; init; }
    /// <summary>A CloudTrail resource type (<c>AWS::SecretsManager::Secret</c>, <c>AWS::IAM::Role</c>…); matches a record when any of its resources has it.</summary>
    public string? ResourceType { get; init; }
    public string? EventName { get; init; }
    public string? EventId { get; init; }
    public string? EventSource { get; init; }
    public string? AccessKeyId { get; init; }
    /// <summary>Only events made in this Region (their <c>awsRegion</c>), as CloudTrail's LookupEvents answers one Region's events.</summary>
    public string? Region { get; init; }
    public bool? ReadOnly { get; init; }
    public AuditOutcome? Outcome { get; init; }
    /// <summary>Only records with a sequence number below this one (paging, newest first).</summary>
    public long? BeforeSeq { get; init; }
    public int Limit { get; init; } = 50;

    /// <summary>
    /// Whether a record's resource (an ARN, or the id a failed call gave) is the secret <paramref name="secret"/>
    /// names: the same text, or an ARN whose name is <paramref name="secret"/> followed by "-" and the six random
    /// characters. "prod/db" is not "prod/db-test".
    /// </summary>
    public static bool NamesSecret(string resource, string secret) =>
        resource == secret ||
        (resource.Length >= secret.Length + 15 && resource[^7] == '-' &&
         resource.AsSpan(0, resource.Length - 7).EndsWith(":secret:" + secret, StringComparison.Ordinal));
}

/// <summary>A sink that can be read back: the store. Results are newest first.</summary>
public interface IAuditReader
{
    Task<IReadOnlyList<AuditRecord>> QueryAsync(AuditQuery query, CancellationToken ct);

    /// <summary>Every record in storage order with its chain fields, for verification.</summary>
    IEnumerable<AuditRecord> ReadAll();

    IReadOnlyList<AuditCheckpoint> ReadCheckpoints();
}
