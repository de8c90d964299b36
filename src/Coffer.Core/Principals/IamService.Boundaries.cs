using Coffer.Core.Policies;

namespace Coffer.Core.Principals;

/// <summary>
/// Permissions boundaries: a managed policy that sets the most a user's or role's identity policies can grant
/// (IAM User Guide, "Permissions boundaries for IAM entities"). The delegated-administration pattern relies on the
/// condition key <c>iam:PermissionsBoundary</c>: an administrator may create roles only with a given boundary, and
/// may not remove it.
/// </summary>
public sealed partial class IamService
{
    /// <summary>Put{User,Role}PermissionsBoundary (kind "user" or "role").</summary>
    public Task PutPermissionsBoundaryAsync(RequestContext ctx, string kind, string name, string policyArn, CancellationToken ct)
    {
        Demand(ctx, $"iam:Put{Title(kind)}PermissionsBoundary", ArnOf(kind, name), BoundaryKey(policyArn));
        return directory.SetPermissionsBoundaryAsync(kind, name, policyArn, ct);
    }

    /// <summary>Delete{User,Role}PermissionsBoundary; the key names the boundary being removed.</summary>
    public Task DeletePermissionsBoundaryAsync(RequestContext ctx, string kind, string name, CancellationToken ct)
    {
        Demand(ctx, $"iam:Delete{Title(kind)}PermissionsBoundary", ArnOf(kind, name), BoundaryKey(BoundaryOf(kind, name)));
        return directory.SetPermissionsBoundaryAsync(kind, name, null, ct);
    }

    /// <summary>The user's or role's current boundary ARN (null without one, or for a missing entity).</summary>
    private string? BoundaryOf(string kind, string name) => kind switch
    {
        "user" => directory.FindUser(name)?.PermissionsBoundary,
        "role" => directory.FindRole(name)?.PermissionsBoundary,
        _ => null,
    };

    /// <summary>
    /// The keys of a change to a user's or role's permissions: iam:PermissionsBoundary is its current boundary, so
    /// a policy can allow attaching only to entities that have the boundary it requires.
    /// </summary>
    private ConditionValues EntityKeys(string kind, string name) =>
        BoundaryOf(kind, name) is { } boundary ? new ConditionValues().Set("iam:PermissionsBoundary", boundary) : new ConditionValues();

    private static ConditionValues? BoundaryKey(string? policyArn) =>
        policyArn is null ? null : new ConditionValues().Set("iam:PermissionsBoundary", policyArn);
}
