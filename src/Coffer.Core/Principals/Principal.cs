using Coffer.Core.Policies;

namespace Coffer.Core.Principals;

/// <summary>What kind of caller a principal is (aws:PrincipalType: Account, User, AssumedRole).</summary>
public enum PrincipalKind { User, AssumedRole, Account }

/// <summary>
/// An authenticated caller. <see cref="Arn"/> is IAM-shaped: arn:aws:iam::ACCOUNT:user/NAME for users (and the
/// bootstrap administrator), arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION for role sessions.
/// Temporary credentials carry their role, session policy, expiry and issue time (aws:TokenIssueTime).
/// </summary>
public sealed record Principal(
    string Arn,
    string AccountId,
    string UserId,
    string UserName,
    string? AccessKeyId,
    bool IsAdministrator,
    PrincipalKind Kind = PrincipalKind.User,
    string? RoleArn = null,
    Policy? SessionPolicy = null,
    DateTimeOffset? Expiration = null,
    DateTimeOffset? TokenIssueTime = null)
{
    /// <summary>
    /// A role session's session tags (its own and those inherited from the session that assumed the role): as
    /// aws:PrincipalTag/… they override the role's tags of the same key, whatever its case.
    /// </summary>
    public IReadOnlyList<KeyValuePair<string, string>> SessionTags { get; init; } = [];

    /// <summary>The keys of <see cref="SessionTags"/> that pass on to the sessions this one assumes (role chaining).</summary>
    public IReadOnlyList<string> TransitiveTagKeys { get; init; } = [];

    /// <summary>The session's source identity (aws:SourceIdentity); once set, every chained session carries it unchanged.</summary>
    public string? SourceIdentity { get; init; }

    /// <summary>The identity that policies' Principal elements compare with.</summary>
    public CallerIdentity Caller => new(Arn, AccountId, RoleArn, IsAccountRoot: Kind == PrincipalKind.Account);

    public bool IsTemporary => Expiration is not null;
}
