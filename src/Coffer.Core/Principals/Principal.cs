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
    /// <summary>The identity that policies' Principal elements compare with.</summary>
    public CallerIdentity Caller => new(Arn, AccountId, RoleArn, IsAccountRoot: Kind == PrincipalKind.Account);

    public bool IsTemporary => Expiration is not null;
}
