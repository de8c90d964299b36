using Coffer.Core.Principals;

namespace Coffer.Core.Audit;

/// <summary>
/// One audit record in CloudTrail's vocabulary (eventVersion 1.08 field names). It never holds a secret value,
/// password, secret access key or session token: <see cref="RequestParameters"/> and
/// <see cref="ResponseElements"/> are built through <see cref="AuditFields"/> allow-lists, and sensitive fields an
/// auditor may need to match appear only as HMACs in <see cref="Hmacs"/>.
/// </summary>
public sealed class AuditEvent
{
    public string EventId { get; init; } = RequestIds.New();
    public required DateTimeOffset EventTime { get; init; }
    /// <summary>e.g. <c>secretsmanager.amazonaws.com</c>.</summary>
    public required string EventSource { get; init; }
    /// <summary>The action, e.g. <c>GetSecretValue</c>; "-" when the target was not recognised.</summary>
    public required string EventName { get; init; }
    public required string AwsRegion { get; init; }
    public string? SourceIPAddress { get; init; }
    public string? UserAgent { get; init; }
    public required AuditIdentity UserIdentity { get; init; }
    /// <summary>A JSON object (UTF-8) of allow-listed request members, or null.</summary>
    public byte[]? RequestParameters { get; init; }
    /// <summary>A JSON object (UTF-8) of allow-listed response members, or null.</summary>
    public byte[]? ResponseElements { get; init; }
    /// <summary>Keyed hashes of sensitive members (member name → "hmac-sha256:…"), see <c>coffer audit hash</c>.</summary>
    public IReadOnlyDictionary<string, string>? Hmacs { get; init; }
    public IReadOnlyList<AuditResource> Resources { get; init; } = [];
    public string? ErrorCode { get; init; }
    public string? ErrorMessage { get; init; }
    public required string RequestId { get; init; }
    public required bool ReadOnly { get; init; }
    /// <summary>The account that owns the resources (the installation's account).</summary>
    public string? RecipientAccountId { get; init; }
    /// <summary><c>AwsApiCall</c> for calls, <c>AwsServiceEvent</c> for events the service raises itself (rotation).</summary>
    public string EventType { get; init; } = "AwsApiCall";

    public AuditOutcome Outcome => AuditOutcomes.Of(ErrorCode);
}

/// <summary>CloudTrail's userIdentity. <see cref="Type"/>: IAMUser, Root, AssumedRole, or Unknown (unauthenticated).</summary>
public sealed record AuditIdentity(
    string Type,
    string? PrincipalId,
    string? Arn,
    string? AccountId,
    string? AccessKeyId,
    string? UserName,
    AuditSessionContext? SessionContext = null)
{
    /// <summary>The identity of an authenticated caller.</summary>
    public static AuditIdentity Of(Principal principal) => principal.Kind == PrincipalKind.AssumedRole && principal.RoleArn is { } roleArn
        ? new("AssumedRole", principal.UserId, principal.Arn, principal.AccountId, principal.AccessKeyId, null,
            new AuditSessionContext("Role", roleArn, principal.UserId.Split(':')[0], roleArn[(roleArn.LastIndexOf('/') + 1)..], null)
            {
                SourceIdentity = principal.SourceIdentity,
            })
        : new(principal.Arn.EndsWith(":root", StringComparison.Ordinal) ? "Root" : "IAMUser",
            principal.UserId, principal.Arn, principal.AccountId, principal.AccessKeyId, principal.UserName);

    /// <summary>
    /// The name LookupEvents answers as <c>Username</c> and filters on (and <c>coffer audit --principal</c>): the
    /// user's name, or for an assumed role its session name — the last segment of
    /// arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION — as CloudTrail does. The record itself has no userName then.
    /// </summary>
    public static string? LookupUserName(string? type, string? userName, string? arn) =>
        userName ?? (type == "AssumedRole" && arn is { } a && a.LastIndexOf('/') is var slash and >= 0 && slash < a.Length - 1 ? a[(slash + 1)..] : null);

    /// <summary>A caller whose signature was not verified: only the access key id it claimed (if any) is known.</summary>
    public static AuditIdentity Unauthenticated(string? claimedAccessKeyId) =>
        new("Unknown", null, null, null, claimedAccessKeyId, null);
}

/// <summary>For assumed roles (STS): who issued the session and, when known, when it was created.</summary>
public sealed record AuditSessionContext(string IssuerType, string IssuerArn, string IssuerPrincipalId, string? IssuerUserName, DateTimeOffset? CreationDate, bool MfaAuthenticated = false)
{
    /// <summary>The session's source identity (set with AssumeRole's SourceIdentity), CloudTrail's sessionContext.sourceIdentity.</summary>
    public string? SourceIdentity { get; init; }
}

/// <summary>A resource the call touched: CloudTrail's ARN/accountId/type, plus the version and staging label when one was addressed.</summary>
public sealed record AuditResource(string Arn, string? AccountId, string Type = AuditResource.SecretType, string? VersionId = null, string? StagingLabel = null)
{
    public const string SecretType = "AWS::SecretsManager::Secret";
}

public enum AuditOutcome
{
    Success,
    /// <summary>Refused by access control (AccessDenied…).</summary>
    Denied,
    /// <summary>Rejected at authentication: no, a malformed or a wrong signature, or an unknown key.</summary>
    Unauthenticated,
    /// <summary>Any other error (validation, not found, internal).</summary>
    Failed,
}

public static class AuditOutcomes
{
    public static AuditOutcome Of(string? errorCode) => errorCode switch
    {
        null => AuditOutcome.Success,
        "AccessDeniedException" or "AccessDenied" => AuditOutcome.Denied,
        // The JSON protocols' codes, then the AWS Query (IAM, STS) spellings of the same rejections.
        "MissingAuthenticationTokenException" or "IncompleteSignatureException" or "UnrecognizedClientException"
            or "InvalidSignatureException" or "ExpiredTokenException"
            or "MissingAuthenticationToken" or "IncompleteSignature" or "SignatureDoesNotMatch" or "InvalidClientTokenId" or "ExpiredToken" => AuditOutcome.Unauthenticated,
        _ => AuditOutcome.Failed,
    };

    public static string Name(AuditOutcome outcome) => outcome switch
    {
        AuditOutcome.Success => "success",
        AuditOutcome.Denied => "denied",
        AuditOutcome.Unauthenticated => "unauthenticated",
        _ => "failed",
    };

    public static bool TryParse(string text, out AuditOutcome outcome)
    {
        foreach (var o in Enum.GetValues<AuditOutcome>())
            if (string.Equals(Name(o), text, StringComparison.OrdinalIgnoreCase)) { outcome = o; return true; }
        outcome = default;
        return false;
    }
}
