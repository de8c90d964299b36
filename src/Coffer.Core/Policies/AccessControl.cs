using System.Collections.Concurrent;
using System.Globalization;
using Coffer.Core.Principals;

namespace Coffer.Core.Policies;

/// <summary>
/// Answers "may this caller do this" for every service: it gathers the caller's identity policies from the
/// <see cref="IamDirectory"/> (compiled once and cached per principal until IAM changes), adds the global
/// condition keys (aws:SourceIp, aws:CurrentTime, aws:PrincipalArn, aws:PrincipalTag/…, …) to the service's own
/// keys, and asks the pure <see cref="PolicyEvaluator"/>.
/// The bootstrap administrator holds an implicit allow-everything identity policy (like an account root), so a
/// resource policy's explicit deny still applies to it.
/// </summary>
public sealed class AccessControl(IamDirectory directory, TimeProvider time)
{
    private static readonly Policy AdministratorPolicy = Policy.Parse(
        """{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}""", PolicyKind.Identity, "administrator (full access)");

    /// <summary>
    /// What the built-in rotation functions may do (the analogue of a rotation Lambda's execution role, as AWS's
    /// rotation templates grant it): read and label versions, write the pending one, generate passwords.
    /// </summary>
    private static readonly Policy RotationPolicy = Policy.Parse("""
        {"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":["secretsmanager:DescribeSecret","secretsmanager:GetSecretValue",
         "secretsmanager:PutSecretValue","secretsmanager:UpdateSecretVersionStage","secretsmanager:GetRandomPassword"],"Resource":"*"}}
        """, PolicyKind.Identity, "built-in rotation role coffer-rotation");

    /// <summary>The role name of the built-in rotation principal (reserved: IAM refuses to create it).</summary>
    public const string RotationRoleName = "coffer-rotation";

    private readonly ConcurrentDictionary<string, PrincipalPolicies> _cache = new(StringComparer.Ordinal);

    public IamDirectory Directory => directory;

    /// <summary>What a principal's policies and attributes are, as of one IAM generation.</summary>
    internal sealed class PrincipalPolicies(long generation, IReadOnlyList<Policy> identity, IReadOnlyDictionary<string, string> tags, string userId,
        Policy? boundary = null)
    {
        public long Generation { get; } = generation;
        public IReadOnlyList<Policy> Identity { get; } = identity;
        /// <summary>The user's or role's permissions boundary, if it has one.</summary>
        public Policy? Boundary { get; } = boundary;
        public IReadOnlyDictionary<string, string> Tags { get; } = tags;
        public string UserId { get; } = userId;
    }

    public EvaluationResult Evaluate(RequestContext ctx, string action, string resource, IConditionValues? extra = null, Policy? resourcePolicy = null)
    {
        var caller = ctx.Caller;
        var policies = PoliciesOf(caller);
        var context = new RequestConditions(ctx, policies, extra, time);
        var session = caller.SessionPolicy is { } sp ? new[] { sp } : null;
        return PolicyEvaluator.Evaluate(new AuthorizationQuery(caller.Caller, action, resource, context), policies.Identity, session, resourcePolicy, policies.Boundary);
    }

    /// <summary>
    /// The request's condition keys (the global aws:… keys, then <paramref name="extra"/>), for callers that
    /// evaluate statements themselves, such as a role's trust policy in AssumeRole.
    /// </summary>
    public IConditionValues Conditions(RequestContext ctx, IConditionValues? extra = null) =>
        new RequestConditions(ctx, PoliciesOf(ctx.Caller), extra, time);

    /// <summary>
    /// SimulatePrincipalPolicy's evaluation: a value given in ContextEntries is used "whenever a context key is
    /// evaluated" (IAM API reference), so it takes precedence over the request's own keys (aws:SourceIp, …).
    /// </summary>
    public EvaluationResult Simulate(RequestContext ctx, string action, string resource, IConditionValues? given) =>
        Simulate(ctx, ctx.Caller, action, resource, given, null);

    /// <summary>
    /// SimulatePrincipalPolicy with a CallerArn and a ResourcePolicy: <paramref name="subject"/>'s identity policies
    /// and permissions boundary, evaluated for the caller in <paramref name="ctx"/> (its ARN for the resource
    /// policy's Principal, its keys such as aws:username), "as if Bob had David's policies" (IAM API reference).
    /// </summary>
    public EvaluationResult Simulate(RequestContext ctx, Principal subject, string action, string resource, IConditionValues? given, Policy? resourcePolicy)
    {
        var caller = ctx.Caller;
        var policies = PoliciesOf(subject);
        IConditionValues context = new RequestConditions(ctx, PoliciesOf(caller), null, time);
        if (given is not null) context = new Overlay(given, context);
        var session = caller.SessionPolicy is { } sp ? new[] { sp } : null;
        return PolicyEvaluator.Evaluate(new AuthorizationQuery(caller.Caller, action, resource, context), policies.Identity, session, resourcePolicy, policies.Boundary);
    }

    /// <summary>
    /// SimulatePrincipalPolicy for a group: the group's own identity policies, evaluated in the request context
    /// plus the given entries, for a caller that is the group (no user-specific keys such as aws:username).
    /// </summary>
    public EvaluationResult SimulateGroup(RequestContext ctx, IamGroup group, string action, string resource, IConditionValues? given)
    {
        var caller = new Principal(group.Arn, ctx.Caller.AccountId, group.GroupId, group.GroupName, null, IsAdministrator: false, PrincipalKind.Account);
        var policies = new PrincipalPolicies(directory.Generation, directory.PoliciesOfGroup(group), new Dictionary<string, string>(), group.GroupId);
        IConditionValues context = new RequestConditions(ctx with { Caller = caller }, policies, null, time);
        if (given is not null) context = new Overlay(given, context);
        return PolicyEvaluator.Evaluate(new AuthorizationQuery(caller.Caller, action, resource, context), policies.Identity);
    }

    private sealed class Overlay(IConditionValues first, IConditionValues then) : IConditionValues
    {
        public IReadOnlyList<string>? Get(string key) => first.Get(key) ?? then.Get(key);
    }

    /// <summary>Throws AccessDeniedException in AWS's form unless the request is allowed.</summary>
    public void Demand(RequestContext ctx, string action, string resource, IConditionValues? extra = null, Policy? resourcePolicy = null)
    {
        var result = Evaluate(ctx, action, resource, extra, resourcePolicy);
        if (!result.IsAllowed)
            throw ServiceException.AccessDenied(PolicyEvaluator.DeniedMessage(ctx.Caller.Arn, action, resource, result));
    }

    /// <summary>The identity policies of a principal as IAM holds them now (for the simulator and `coffer admin can`).</summary>
    public IReadOnlyList<Policy> IdentityPoliciesOf(Principal principal) => PoliciesOf(principal).Identity;

    internal PrincipalPolicies PoliciesOf(Principal caller)
    {
        var generation = directory.Generation;
        // A role session is keyed by its role's unique id (AROA…) as well as the ARN: a session of a role that was
        // deleted and created again under the same name must not get the new role's policies.
        var key = caller.Kind == PrincipalKind.AssumedRole && caller.RoleArn is { } sessionRole
            ? sessionRole + "#" + RoleIdOf(caller)
            : caller.Arn;
        if (_cache.TryGetValue(key, out var hit) && hit.Generation == generation && !caller.IsAdministrator) return hit;
        PrincipalPolicies built;
        if (caller.IsAdministrator)
            return new PrincipalPolicies(generation, [AdministratorPolicy], new Dictionary<string, string>(), caller.UserId);
        // The rotation runner's in-process principal (SecretService.RotationContext): no access key, the reserved role ARN.
        if (caller.AccessKeyId is null && caller.Kind == PrincipalKind.User
            && caller.Arn == $"arn:aws:iam::{caller.AccountId}:role/{RotationRoleName}")
            return new PrincipalPolicies(generation, [RotationPolicy], new Dictionary<string, string>(), caller.UserId);
        if (caller.Kind == PrincipalKind.AssumedRole && caller.RoleArn is { } roleArn)
        {
            var role = directory.FindRole(roleArn[(roleArn.LastIndexOf('/') + 1)..]);
            built = role is null || role.Arn != roleArn || role.RoleId != RoleIdOf(caller)
                ? new PrincipalPolicies(generation, [], new Dictionary<string, string>(), caller.UserId)
                : new PrincipalPolicies(generation, directory.PoliciesOfRole(role), role.Tags, caller.UserId, directory.BoundaryOf(role.PermissionsBoundary));
        }
        else
        {
            var user = directory.FindUser(caller.UserName);
            built = user is null || user.Arn != caller.Arn
                ? new PrincipalPolicies(generation, [], new Dictionary<string, string>(), caller.UserId)
                : new PrincipalPolicies(generation, directory.PoliciesOfUser(user), user.Tags, user.UserId, directory.BoundaryOf(user.PermissionsBoundary));
        }
        if (_cache.Count > 10_000) _cache.Clear();
        _cache[key] = built;
        return built;
    }

    /// <summary>The unique id of the role a session was issued for: its aws:userid is "AROA…:session-name".</summary>
    private static string RoleIdOf(Principal session)
    {
        var colon = session.UserId.IndexOf(':');
        return colon < 0 ? session.UserId : session.UserId[..colon];
    }

    /// <summary>The global condition keys, computed only when a condition asks; anything else from the service's keys.</summary>
    private sealed class RequestConditions(RequestContext ctx, PrincipalPolicies policies, IConditionValues? extra, TimeProvider time) : IConditionValues
    {
        private const string PrincipalTagPrefix = "aws:PrincipalTag/";

        public IReadOnlyList<string>? Get(string key)
        {
            var caller = ctx.Caller;
            if (key.StartsWith(PrincipalTagPrefix, StringComparison.OrdinalIgnoreCase))
            {
                // A session tag overrides the role's tag of the same key, whatever its case (IAM User Guide,
                // "Things to know about session tags").
                var tag = key[PrincipalTagPrefix.Length..];
                return (IamTags.Find(caller.SessionTags, tag) ?? IamTags.Find(policies.Tags, tag)) is { } v ? [v] : null;
            }
            switch (key.ToLowerInvariant())
            {
                case "aws:currenttime": return [time.GetUtcNow().UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture)];
                case "aws:epochtime": return [time.GetUtcNow().ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture)];
                case "aws:sourceip": return ctx.SourceIp is { } ip ? [Normalize(ip)] : null;
                case "aws:securetransport": return [ctx.SecureTransport ? "true" : "false"];
                case "aws:principalarn": return [caller.RoleArn ?? caller.Arn];
                case "aws:principalaccount": return [caller.AccountId];
                case "aws:principaltype": return [caller.Kind switch { PrincipalKind.AssumedRole => "AssumedRole", PrincipalKind.Account => "Account", _ => "User" }];
                case "aws:username": return caller.Kind == PrincipalKind.User ? [caller.UserName] : null;
                case "aws:userid": return [caller.Kind == PrincipalKind.AssumedRole ? caller.UserId : policies.UserId];
                case "aws:requestedregion": return [ctx.Region];
                // Present for temporary credentials only: AWS's way to revoke sessions is a Deny on
                // DateLessThan aws:TokenIssueTime (IAM User Guide, "Revoke IAM role temporary security credentials").
                case "aws:tokenissuetime": return caller.TokenIssueTime is { } issued
                    ? [issued.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture)] : null;
                case "aws:sourceidentity": return caller.SourceIdentity is { } source ? [source] : null;
                case "aws:multifactorauthpresent": return null;
                case "aws:viaawsservice": return ["false"];
            }
            return extra?.Get(key);
        }

        private static string Normalize(string ip) =>
            System.Net.IPAddress.TryParse(ip, out var a) && a.IsIPv4MappedToIPv6 ? a.MapToIPv4().ToString() : ip;
    }
}
