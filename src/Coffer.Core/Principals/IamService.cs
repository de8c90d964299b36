using System.Text;
using System.Text.RegularExpressions;
using Coffer.Core.Policies;

namespace Coffer.Core.Principals;

/// <summary>Temporary credentials as AssumeRole and GetSessionToken return them.</summary>
public sealed record TemporaryCredentials(string AccessKeyId, string SecretAccessKey, string SessionToken, DateTimeOffset Expiration);

public sealed record AssumeRoleResult(TemporaryCredentials Credentials, string AssumedRoleId, string Arn, int PackedPolicySize,
    string? SourceIdentity = null);

public sealed record CallerIdentityResult(string UserId, string Account, string Arn);

/// <summary>One simulated (action, resource) pair: the decision and the statements that decided it.</summary>
public sealed record SimulationResult(string Action, string Resource, EvaluationResult Result);

/// <summary>
/// The IAM and STS actions. Every IAM action is itself authorised (iam:&lt;Action&gt; on the entity's ARN) with
/// the same evaluator as Secrets Manager; the bootstrap administrator may do everything. STS AssumeRole checks the
/// role's trust policy: a trust policy naming the caller (or its role) suffices; one naming only the account also
/// needs an identity policy allowing sts:AssumeRole.
/// </summary>
public sealed partial class IamService(IamDirectory directory, AccessControl access, AccessKeyService keys, IIamStore store, SessionTokens sessions)
{
    public IamDirectory Directory => directory;
    public AccessControl Access => access;
    private string AccountId => directory.AccountId;

    /// <summary>
    /// Announces every committed IAM change on <paramref name="feed"/> (<see cref="Secrets.SecretChangeFeed.PublishIamChange"/>),
    /// so that a caching agent re-checks what it serves within seconds instead of after its TTL. The two points
    /// hooked are the ones that already end cached authorization state here: the directory's generation (every
    /// user, group, role, policy, attachment, boundary and tag change; the compiled-policy cache of
    /// <see cref="AccessControl"/> keys on it) and a forgotten access key (deactivated, reactivated, deleted).
    /// Issuing session credentials changes nothing and is not announced; revoking sessions is a policy change.
    /// </summary>
    public void AnnounceChangesTo(Secrets.SecretChangeFeed feed)
    {
        directory.Changed += feed.PublishIamChange;
        keys.Changed += feed.PublishIamChange;
    }

    private void Demand(RequestContext ctx, string action, string resource, IConditionValues? extra = null) =>
        access.Demand(ctx, action, resource, extra);

    private string UserArn(string path, string name) => $"arn:aws:iam::{AccountId}:user{path ?? "/"}{name}";
    private string ArnOf(string kind, string name) => kind switch
    {
        "user" => directory.FindUser(name)?.Arn ?? $"arn:aws:iam::{AccountId}:user/{name}",
        "group" => directory.FindGroup(name)?.Arn ?? $"arn:aws:iam::{AccountId}:group/{name}",
        _ => directory.FindRole(name)?.Arn ?? $"arn:aws:iam::{AccountId}:role/{name}",
    };

    private static string Title(string kind) => char.ToUpperInvariant(kind[0]) + kind[1..];

    // ---- users, groups, roles ----

    public Task<IamUser> CreateUserAsync(RequestContext ctx, string userName, string? path, IEnumerable<KeyValuePair<string, string>>? tags, CancellationToken ct) =>
        CreateUserAsync(ctx, userName, path, tags, null, ct);

    /// <summary>CreateUser, with the permissions boundary given (condition key iam:PermissionsBoundary).</summary>
    public Task<IamUser> CreateUserAsync(RequestContext ctx, string userName, string? path, IEnumerable<KeyValuePair<string, string>>? tags,
        string? permissionsBoundary, CancellationToken ct)
    {
        Demand(ctx, "iam:CreateUser", UserArn(path ?? "/", userName), BoundaryKey(permissionsBoundary));
        return directory.CreateUserAsync(userName, path, tags, permissionsBoundary, ct);
    }

    public IamUser GetUser(RequestContext ctx, string? userName)
    {
        if (userName is null)
        {
            if (ctx.Caller.Kind != PrincipalKind.User)
                throw IamErrors.Validation("Must specify userName when calling with non-User credentials");
            userName = ctx.Caller.UserName;
            if (ctx.Caller.IsAdministrator)
                return new IamUser { UserName = userName, UserId = ctx.Caller.UserId, Arn = ctx.Caller.Arn, CreateDate = DateTimeOffset.UnixEpoch };
        }
        Demand(ctx, "iam:GetUser", ArnOf("user", userName));
        return directory.RequireUser(userName);
    }

    public IReadOnlyList<IamUser> ListUsers(RequestContext ctx, string? pathPrefix)
    {
        Demand(ctx, "iam:ListUsers", $"arn:aws:iam::{AccountId}:user/");
        var prefix = PathPrefix(pathPrefix);
        return [.. directory.Users.Where(u => u.Path.StartsWith(prefix, StringComparison.Ordinal))];
    }

    public async Task DeleteUserAsync(RequestContext ctx, string userName, CancellationToken ct)
    {
        Demand(ctx, "iam:DeleteUser", ArnOf("user", userName));
        await _accessKeyLock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var u = directory.RequireUser(userName);
            var hasKeys = (await store.ListAccessKeysAsync(u.UserName, ct).ConfigureAwait(false)).Count > 0;
            await directory.DeleteUserAsync(userName, hasKeys, ct).ConfigureAwait(false);
        }
        finally { _accessKeyLock.Release(); }
    }

    public Task<IamGroup> CreateGroupAsync(RequestContext ctx, string groupName, string? path, CancellationToken ct)
    {
        Demand(ctx, "iam:CreateGroup", $"arn:aws:iam::{AccountId}:group{path ?? "/"}{groupName}");
        return directory.CreateGroupAsync(groupName, path, ct);
    }

    public (IamGroup Group, IReadOnlyList<IamUser> Users) GetGroup(RequestContext ctx, string groupName)
    {
        Demand(ctx, "iam:GetGroup", ArnOf("group", groupName));
        var g = directory.RequireGroup(groupName);
        return (g, [.. directory.Users.Where(u => u.Groups.Contains(g.GroupName, StringComparer.OrdinalIgnoreCase))]);
    }

    public IReadOnlyList<IamGroup> ListGroups(RequestContext ctx, string? pathPrefix)
    {
        Demand(ctx, "iam:ListGroups", $"arn:aws:iam::{AccountId}:group/");
        var prefix = PathPrefix(pathPrefix);
        return [.. directory.Groups.Where(g => g.Path.StartsWith(prefix, StringComparison.Ordinal))];
    }

    public IReadOnlyList<IamGroup> ListGroupsForUser(RequestContext ctx, string userName)
    {
        Demand(ctx, "iam:ListGroupsForUser", ArnOf("user", userName));
        var u = directory.RequireUser(userName);
        return [.. u.Groups.Select(directory.FindGroup).OfType<IamGroup>()];
    }

    public Task DeleteGroupAsync(RequestContext ctx, string groupName, CancellationToken ct)
    {
        Demand(ctx, "iam:DeleteGroup", ArnOf("group", groupName));
        return directory.DeleteGroupAsync(groupName, ct);
    }

    public Task AddUserToGroupAsync(RequestContext ctx, string groupName, string userName, CancellationToken ct)
    {
        Demand(ctx, "iam:AddUserToGroup", ArnOf("group", groupName));
        return directory.AddUserToGroupAsync(groupName, userName, ct);
    }

    public Task RemoveUserFromGroupAsync(RequestContext ctx, string groupName, string userName, CancellationToken ct)
    {
        Demand(ctx, "iam:RemoveUserFromGroup", ArnOf("group", groupName));
        return directory.RemoveUserFromGroupAsync(groupName, userName, ct);
    }

    public Task<IamRole> CreateRoleAsync(RequestContext ctx, string roleName, string? path, string trustPolicy, string? description,
        int? maxSessionDuration, IEnumerable<KeyValuePair<string, string>>? tags, CancellationToken ct) =>
        CreateRoleAsync(ctx, roleName, path, trustPolicy, description, maxSessionDuration, tags, null, ct);

    /// <summary>CreateRole, with the permissions boundary given (condition key iam:PermissionsBoundary).</summary>
    public Task<IamRole> CreateRoleAsync(RequestContext ctx, string roleName, string? path, string trustPolicy, string? description,
        int? maxSessionDuration, IEnumerable<KeyValuePair<string, string>>? tags, string? permissionsBoundary, CancellationToken ct)
    {
        Demand(ctx, "iam:CreateRole", $"arn:aws:iam::{AccountId}:role{path ?? "/"}{roleName}", BoundaryKey(permissionsBoundary));
        return directory.CreateRoleAsync(roleName, path, trustPolicy, description, maxSessionDuration, tags, permissionsBoundary, ct);
    }

    public IamRole GetRole(RequestContext ctx, string roleName)
    {
        Demand(ctx, "iam:GetRole", ArnOf("role", roleName));
        return directory.RequireRole(roleName);
    }

    public IReadOnlyList<IamRole> ListRoles(RequestContext ctx, string? pathPrefix)
    {
        Demand(ctx, "iam:ListRoles", $"arn:aws:iam::{AccountId}:role/");
        var prefix = PathPrefix(pathPrefix);
        return [.. directory.Roles.Where(r => r.Path.StartsWith(prefix, StringComparison.Ordinal))];
    }

    public Task UpdateAssumeRolePolicyAsync(RequestContext ctx, string roleName, string trustPolicy, CancellationToken ct)
    {
        Demand(ctx, "iam:UpdateAssumeRolePolicy", ArnOf("role", roleName));
        return directory.UpdateAssumeRolePolicyAsync(roleName, trustPolicy, ct);
    }

    public Task DeleteRoleAsync(RequestContext ctx, string roleName, CancellationToken ct)
    {
        Demand(ctx, "iam:DeleteRole", ArnOf("role", roleName));
        return directory.DeleteRoleAsync(roleName, ct);
    }

    // ---- tags of users and roles; kind is "user" or "role" ----

    /// <summary>
    /// The condition keys of a tagging action (Service Authorization Reference, IAM): the entity's current tags as
    /// aws:ResourceTag/… (and iam:ResourceTag/…), the tags sent as aws:RequestTag/…, their keys as aws:TagKeys.
    /// </summary>
    private ConditionValues TagConditions(string kind, string name, IReadOnlyList<KeyValuePair<string, string>>? added, IReadOnlyList<string> keys)
    {
        var values = new ConditionValues();
        var entity = kind == "user" ? directory.FindUser(name)?.Tags : directory.FindRole(name)?.Tags;
        foreach (var (k, v) in entity ?? [])
        {
            values.Set("aws:ResourceTag/" + k, v);
            values.Set("iam:ResourceTag/" + k, v);
        }
        foreach (var (k, v) in added ?? []) values.Set("aws:RequestTag/" + k, v);
        if (keys.Count > 0) values.Set("aws:TagKeys", [.. keys]);
        return values;
    }

    public Task TagAsync(RequestContext ctx, string kind, string name, IReadOnlyList<KeyValuePair<string, string>> tags, CancellationToken ct)
    {
        Demand(ctx, $"iam:Tag{Title(kind)}", ArnOf(kind, name), TagConditions(kind, name, tags, [.. tags.Select(t => t.Key)]));
        return directory.TagAsync(kind, name, tags, ct);
    }

    public Task UntagAsync(RequestContext ctx, string kind, string name, IReadOnlyList<string> keys, CancellationToken ct)
    {
        Demand(ctx, $"iam:Untag{Title(kind)}", ArnOf(kind, name), TagConditions(kind, name, null, keys));
        return directory.UntagAsync(kind, name, keys, ct);
    }

    public IReadOnlyList<KeyValuePair<string, string>> ListTags(RequestContext ctx, string kind, string name)
    {
        Demand(ctx, $"iam:List{Title(kind)}Tags", ArnOf(kind, name), TagConditions(kind, name, null, []));
        return directory.TagsOf(kind, name);
    }

    // ---- access keys ----

    /// <summary>
    /// Serialises CreateAccessKey with itself and with DeleteUser: the quota check and the insert (or the "no keys
    /// left" check and the delete) must not interleave, or a user ends with three keys, or a deleted user keeps a
    /// key that a new user of the same name would inherit.
    /// </summary>
    private readonly SemaphoreSlim _accessKeyLock = new(1, 1);

    private string KeyOwner(RequestContext ctx, string? userName, out string userArn)
    {
        if (userName is null)
        {
            if (ctx.Caller.Kind != PrincipalKind.User)
                throw IamErrors.Validation("Must specify userName when calling with non-User credentials");
            userName = ctx.Caller.UserName;
        }
        if (string.Equals(userName, AccessKeyService.AdministratorName, StringComparison.Ordinal))
        {
            userArn = $"arn:aws:iam::{AccountId}:user/{AccessKeyService.AdministratorName}";
            return userName;
        }
        var u = directory.FindUser(userName);
        userArn = u?.Arn ?? $"arn:aws:iam::{AccountId}:user/{userName}";
        return u?.UserName ?? userName;
    }

    public async Task<(AccessKeyRecord Record, string SecretAccessKey)> CreateAccessKeyAsync(RequestContext ctx, string? userName, CancellationToken ct)
    {
        var name = KeyOwner(ctx, userName, out var arn);
        Demand(ctx, "iam:CreateAccessKey", arn);
        await _accessKeyLock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (name != AccessKeyService.AdministratorName) directory.RequireUser(name);
            if ((await store.ListAccessKeysAsync(name, ct).ConfigureAwait(false)).Count >= IamDirectory.MaxAccessKeysPerUser)
                throw IamErrors.LimitExceeded($"Cannot exceed quota for AccessKeysPerUser: {IamDirectory.MaxAccessKeysPerUser}");
            return await keys.CreateUserKeyAsync(name, arn, ct).ConfigureAwait(false);
        }
        finally { _accessKeyLock.Release(); }
    }

    public async Task<(string UserName, IReadOnlyList<AccessKeyRecord> Keys)> ListAccessKeysAsync(RequestContext ctx, string? userName, CancellationToken ct)
    {
        var name = KeyOwner(ctx, userName, out var arn);
        Demand(ctx, "iam:ListAccessKeys", arn);
        if (name != AccessKeyService.AdministratorName) directory.RequireUser(name);
        return (name, await store.ListAccessKeysAsync(name, ct).ConfigureAwait(false));
    }

    public async Task UpdateAccessKeyAsync(RequestContext ctx, string? userName, string accessKeyId, string status, CancellationToken ct)
    {
        if (status is not ("Active" or "Inactive"))
            throw IamErrors.Validation("1 validation error detected: Value at 'status' failed to satisfy constraint: Member must satisfy enum value set: [Active, Inactive]");
        var name = KeyOwner(ctx, userName, out var arn);
        Demand(ctx, "iam:UpdateAccessKey", arn);
        var owned = await store.ListAccessKeysAsync(name, ct).ConfigureAwait(false);
        if (owned.All(k => k.AccessKeyId != accessKeyId))
            throw IamErrors.NoSuchEntity($"The Access Key with id {accessKeyId} cannot be found.");
        await store.UpdateAccessKeyStatusAsync(accessKeyId, status, ct).ConfigureAwait(false);
        keys.Forget(accessKeyId);
    }

    public async Task DeleteAccessKeyAsync(RequestContext ctx, string? userName, string accessKeyId, CancellationToken ct)
    {
        var name = KeyOwner(ctx, userName, out var arn);
        Demand(ctx, "iam:DeleteAccessKey", arn);
        var owned = await store.ListAccessKeysAsync(name, ct).ConfigureAwait(false);
        if (owned.All(k => k.AccessKeyId != accessKeyId))
            throw IamErrors.NoSuchEntity($"The Access Key with id {accessKeyId} cannot be found.");
        await store.DeleteAccessKeyAsync(accessKeyId, ct).ConfigureAwait(false);
        keys.Forget(accessKeyId);
    }

    // ---- managed policies ----

    public Task<IamManagedPolicy> CreatePolicyAsync(RequestContext ctx, string policyName, string? path, string document, string? description, CancellationToken ct)
    {
        Demand(ctx, "iam:CreatePolicy", $"arn:aws:iam::{AccountId}:policy{path ?? "/"}{policyName}");
        return directory.CreatePolicyAsync(policyName, path, document, description, ct);
    }

    public IamManagedPolicy GetPolicy(RequestContext ctx, string arn)
    {
        Demand(ctx, "iam:GetPolicy", arn);
        return directory.RequirePolicy(arn);
    }

    public IReadOnlyList<IamManagedPolicy> ListPolicies(RequestContext ctx, string? scope, bool onlyAttached, string? pathPrefix) =>
        ListPolicies(ctx, scope, onlyAttached, pathPrefix, null);

    /// <summary>
    /// ListPolicies; <paramref name="usage"/> (PolicyUsageFilter) keeps only the policies in use as permissions
    /// policies (PermissionsPolicy) or as permissions boundaries (PermissionsBoundary).
    /// </summary>
    public IReadOnlyList<IamManagedPolicy> ListPolicies(RequestContext ctx, string? scope, bool onlyAttached, string? pathPrefix, string? usage)
    {
        Demand(ctx, "iam:ListPolicies", $"arn:aws:iam::{AccountId}:policy/");
        if (usage is not (null or "PermissionsPolicy" or "PermissionsBoundary"))
            throw IamErrors.Validation($"1 validation error detected: Value '{usage}' at 'policyUsageFilter' failed to satisfy constraint: Member must satisfy enum value set: [PermissionsPolicy, PermissionsBoundary]");
        if (scope == "AWS") return [];
        var prefix = PathPrefix(pathPrefix);
        return [.. directory.Policies.Where(p => p.Path.StartsWith(prefix, StringComparison.Ordinal)
            && (!onlyAttached || directory.AttachmentCount(p.Arn) > 0 || directory.BoundaryUsageCount(p.Arn) > 0)
            && usage switch
            {
                "PermissionsPolicy" => directory.AttachmentCount(p.Arn) > 0,
                "PermissionsBoundary" => directory.BoundaryUsageCount(p.Arn) > 0,
                _ => true,
            })];
    }

    public Task DeletePolicyAsync(RequestContext ctx, string arn, CancellationToken ct)
    {
        Demand(ctx, "iam:DeletePolicy", arn);
        return directory.DeletePolicyAsync(arn, ct);
    }

    public Task<IamPolicyVersion> CreatePolicyVersionAsync(RequestContext ctx, string arn, string document, bool setAsDefault, CancellationToken ct)
    {
        Demand(ctx, "iam:CreatePolicyVersion", arn);
        return directory.CreatePolicyVersionAsync(arn, document, setAsDefault, ct);
    }

    public (IamManagedPolicy Policy, IamPolicyVersion Version) GetPolicyVersion(RequestContext ctx, string arn, string versionId)
    {
        Demand(ctx, "iam:GetPolicyVersion", arn);
        var p = directory.RequirePolicy(arn);
        var v = p.Versions.FirstOrDefault(x => x.VersionId == versionId)
            ?? throw IamErrors.NoSuchEntity($"Policy {arn} version {versionId} does not exist or is not attachable.");
        return (p, v);
    }

    public IamManagedPolicy ListPolicyVersions(RequestContext ctx, string arn)
    {
        Demand(ctx, "iam:ListPolicyVersions", arn);
        return directory.RequirePolicy(arn);
    }

    public Task SetDefaultPolicyVersionAsync(RequestContext ctx, string arn, string versionId, CancellationToken ct)
    {
        Demand(ctx, "iam:SetDefaultPolicyVersion", arn);
        return directory.SetDefaultPolicyVersionAsync(arn, versionId, ct);
    }

    public Task DeletePolicyVersionAsync(RequestContext ctx, string arn, string versionId, CancellationToken ct)
    {
        Demand(ctx, "iam:DeletePolicyVersion", arn);
        return directory.DeletePolicyVersionAsync(arn, versionId, ct);
    }

    // ---- attachments and inline policies; kind is "user", "group" or "role" ----

    public Task AttachPolicyAsync(RequestContext ctx, string kind, string name, string policyArn, CancellationToken ct)
    {
        Demand(ctx, $"iam:Attach{Title(kind)}Policy", ArnOf(kind, name), EntityKeys(kind, name).Set("iam:PolicyARN", policyArn));
        return directory.AttachPolicyAsync(kind, name, policyArn, ct);
    }

    public Task DetachPolicyAsync(RequestContext ctx, string kind, string name, string policyArn, CancellationToken ct)
    {
        Demand(ctx, $"iam:Detach{Title(kind)}Policy", ArnOf(kind, name), EntityKeys(kind, name).Set("iam:PolicyARN", policyArn));
        return directory.DetachPolicyAsync(kind, name, policyArn, ct);
    }

    public IReadOnlyList<IamManagedPolicy> ListAttachedPolicies(RequestContext ctx, string kind, string name)
    {
        Demand(ctx, $"iam:ListAttached{Title(kind)}Policies", ArnOf(kind, name));
        return [.. directory.PoliciesOf(kind, name).Attached.Select(directory.FindPolicy).OfType<IamManagedPolicy>()];
    }

    public Task PutInlinePolicyAsync(RequestContext ctx, string kind, string name, string policyName, string document, CancellationToken ct)
    {
        Demand(ctx, $"iam:Put{Title(kind)}Policy", ArnOf(kind, name), EntityKeys(kind, name));
        return directory.PutInlinePolicyAsync(kind, name, policyName, document, ct);
    }

    public string GetInlinePolicy(RequestContext ctx, string kind, string name, string policyName)
    {
        Demand(ctx, $"iam:Get{Title(kind)}Policy", ArnOf(kind, name));
        return directory.PoliciesOf(kind, name).Inline.TryGetValue(policyName, out var doc)
            ? doc : throw IamErrors.NoSuchEntity($"The {kind} policy with name {policyName} cannot be found.");
    }

    public IReadOnlyList<string> ListInlinePolicies(RequestContext ctx, string kind, string name)
    {
        Demand(ctx, $"iam:List{Title(kind)}Policies", ArnOf(kind, name));
        return [.. directory.PoliciesOf(kind, name).Inline.Keys.Order(StringComparer.Ordinal)];
    }

    public Task DeleteInlinePolicyAsync(RequestContext ctx, string kind, string name, string policyName, CancellationToken ct)
    {
        Demand(ctx, $"iam:Delete{Title(kind)}Policy", ArnOf(kind, name), EntityKeys(kind, name));
        return directory.DeleteInlinePolicyAsync(kind, name, policyName, ct);
    }

    // ---- simulation ----

    /// <summary>
    /// SimulatePrincipalPolicy: evaluates the identity policies of a user, group or role (no resource policies) for
    /// each action and resource, in the caller's request context plus the given context entries. A user's include
    /// its groups' policies; a group's are only its own (IAM API reference, PolicySourceArn).
    /// </summary>
    public IReadOnlyList<SimulationResult> SimulatePrincipalPolicy(RequestContext ctx, string policySourceArn,
        IReadOnlyList<string> actions, IReadOnlyList<string>? resources, ConditionValues? context) =>
        SimulatePrincipalPolicy(ctx, policySourceArn, actions, resources, context, null, null);

    /// <summary>
    /// SimulatePrincipalPolicy with the optional ResourcePolicy (evaluated as a secret's resource policy, so a
    /// grant to the caller's user or session ARN is not limited by the boundary) and CallerArn (an IAM user whose
    /// ARN and keys stand for the caller, with the policies of <paramref name="policySourceArn"/>). Without a
    /// CallerArn the caller is the subject itself (for a role, a session named "simulation").
    /// </summary>
    public IReadOnlyList<SimulationResult> SimulatePrincipalPolicy(RequestContext ctx, string policySourceArn,
        IReadOnlyList<string> actions, IReadOnlyList<string>? resources, ConditionValues? context, string? resourcePolicy, string? callerArn)
    {
        Demand(ctx, "iam:SimulatePrincipalPolicy", policySourceArn);
        if (callerArn is not null && !callerArn.StartsWith($"arn:aws:iam::{AccountId}:user/", StringComparison.Ordinal))
            throw IamErrors.InvalidInput($"Invalid CallerArn: {callerArn}. The caller must be an IAM user of this account.");
        var resourceDocument = resourcePolicy is null ? null : Policy.Parse(resourcePolicy, PolicyKind.Resource, "resource policy");
        Func<string, string, EvaluationResult> evaluate;
        if (GroupArnName(policySourceArn) is { } groupName)
        {
            var group = directory.FindGroup(groupName) is { } found && found.Arn == policySourceArn
                ? found : throw IamErrors.NoSuchEntity($"The group with name {groupName} cannot be found.");
            if (resourceDocument is not null || callerArn is not null)
                throw IamErrors.InvalidInput("ResourcePolicy and CallerArn are not supported when simulating a group.");
            evaluate = (action, resource) => access.SimulateGroup(ctx, group, action, resource, context);
        }
        else
        {
            var subject = PrincipalFor(policySourceArn);
            var callerContext = ctx with { Caller = callerArn is null ? subject : PrincipalFor(callerArn) };
            evaluate = (action, resource) => access.Simulate(callerContext, subject, action, resource, context, resourceDocument);
        }
        var results = new List<SimulationResult>();
        foreach (var action in actions)
            foreach (var resource in resources is { Count: > 0 } ? resources : ["*"])
                results.Add(new SimulationResult(action, resource, evaluate(action, resource)));
        return results;
    }

    /// <summary>The group name of a group ARN of this account (arn:aws:iam::ACCOUNT:group/PATH/NAME), else null.</summary>
    private string? GroupArnName(string arn) =>
        arn.StartsWith($"arn:aws:iam::{AccountId}:group/", StringComparison.Ordinal) ? arn[(arn.LastIndexOf('/') + 1)..] : null;

    /// <summary>A principal standing for a user or role ARN (or the administrator), for simulation.</summary>
    public Principal PrincipalFor(string arn)
    {
        var name = arn[(arn.LastIndexOf('/') + 1)..];
        if (arn == $"arn:aws:iam::{AccountId}:user/{AccessKeyService.AdministratorName}")
            return new Principal(arn, AccountId, "AIDACOFFERADMIN", name, null, IsAdministrator: true);
        if (arn.Contains(":user/", StringComparison.Ordinal))
        {
            var u = directory.FindUser(name) is { } found && found.Arn == arn ? found : throw IamErrors.NoSuchEntity($"The user with name {name} cannot be found.");
            return new Principal(u.Arn, AccountId, u.UserId, u.UserName, null, IsAdministrator: false);
        }
        if (arn.Contains(":role/", StringComparison.Ordinal))
        {
            var r = directory.FindRole(name) is { } found && found.Arn == arn ? found : throw IamErrors.NoSuchEntity($"The role with name {name} cannot be found.");
            return new Principal($"arn:aws:sts::{AccountId}:assumed-role/{r.RoleName}/simulation", AccountId, r.RoleId + ":simulation",
                "simulation", null, IsAdministrator: false, PrincipalKind.AssumedRole, r.Arn);
        }
        throw IamErrors.InvalidInput($"Invalid ARN: {arn}. The ARN must name a user, a group or a role.");
    }

    // ---- STS ----

    [GeneratedRegex(@"^[\w+=,.@-]{2,64}$", RegexOptions.CultureInvariant)]
    private static partial Regex SessionName();

    /// <summary>A List action's PathPrefix: "/" when absent; otherwise it must start with "/" (IAM's pattern).</summary>
    private static string PathPrefix(string? pathPrefix) =>
        pathPrefix is null ? "/"
        : PathPrefixPattern().IsMatch(pathPrefix) ? pathPrefix
        : throw IamErrors.Validation("1 validation error detected: Value at 'pathPrefix' failed to satisfy constraint: Member must satisfy regular expression pattern: \\u002F[\\u0021-\\u007F]*");

    [GeneratedRegex(@"^/[\u0021-\u007F]{0,511}$", RegexOptions.CultureInvariant)]
    private static partial Regex PathPrefixPattern();

    [GeneratedRegex(@"^[\w+=,.@:/-]{2,1224}$", RegexOptions.CultureInvariant)]
    private static partial Regex ExternalId();

    [GeneratedRegex(@"^[\w+=,.@-]{2,64}$", RegexOptions.CultureInvariant)]
    private static partial Regex SourceIdentityPattern();

    /// <summary>
    /// The budget of a session's packed policy and tags, in bytes: the session policy's characters plus the UTF-8
    /// bytes of every tag key and value the session carries (its own and inherited ones). AWS does not publish its
    /// packed limit; this one keeps a session token within a few kilobytes, so that it fits any HTTP header limit.
    /// </summary>
    public const int PackedPolicyBudget = 4096;

    /// <summary>
    /// STS AssumeRole (STS API reference). Session tags (<paramref name="tags"/>, <paramref name="transitiveTagKeys"/>)
    /// need sts:TagSession and a source identity needs sts:SetSourceIdentity, each allowed the way sts:AssumeRole is
    /// (the trust policy naming the caller, or naming the account plus an identity policy). A caller that is itself
    /// a session passes on its transitive tags, which the request may not set again, and its source identity,
    /// which cannot change; carrying them needs the same permissions as setting them.
    /// </summary>
    public AssumeRoleResult AssumeRole(RequestContext ctx, string roleArn, string roleSessionName, int? durationSeconds, string? sessionPolicy,
        string? externalId = null, IReadOnlyList<KeyValuePair<string, string>>? tags = null, IReadOnlyList<string>? transitiveTagKeys = null,
        string? sourceIdentity = null)
    {
        if (!SessionName().IsMatch(roleSessionName ?? ""))
            throw IamErrors.Validation("1 validation error detected: Value at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*");
        var duration = durationSeconds ?? 3600;
        if (duration is < 900 or > 43200)
            throw IamErrors.Validation($"1 validation error detected: Value '{duration}' at 'durationSeconds' failed to satisfy constraint: Member must have value {(duration < 900 ? "greater than or equal to 900" : "less than or equal to 43200")}");
        if (sessionPolicy is { Length: > 2048 })
            throw IamErrors.Validation("1 validation error detected: Value at 'policy' failed to satisfy constraint: Member must have length less than or equal to 2048");
        if (externalId is not null && !ExternalId().IsMatch(externalId))
            throw IamErrors.Validation("1 validation error detected: Value at 'externalId' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@:\\/-]*");
        if (sourceIdentity is not null && !SourceIdentityPattern().IsMatch(sourceIdentity))
            throw IamErrors.Validation("1 validation error detected: Value at 'sourceIdentity' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*");
        tags ??= [];
        transitiveTagKeys ??= [];
        IamTags.Check(tags, InvalidParameterValue);
        IamTags.CheckKeys(transitiveTagKeys, "transitiveTagKeys");
        if (transitiveTagKeys.Any(k => IamTags.Find(tags, k) is null))
            throw InvalidParameterValue("The specified transitive tag key must be included in the requested tags.");
        if (sessionPolicy is not null) Policy.Parse(sessionPolicy, PolicyKind.Session, "session policy");

        // What the calling session passes on (role chaining): its transitive tags and its source identity.
        var caller = ctx.Caller;
        var inherited = caller.SessionTags.Where(t => caller.TransitiveTagKeys.Contains(t.Key, StringComparer.OrdinalIgnoreCase)).ToList();
        if (tags.Any(t => IamTags.Find(inherited, t.Key) is not null))
            throw InvalidParameterValue("One of the specified transitive tag keys can't be set because it conflicts with a transitive tag key from the calling session.");
        List<KeyValuePair<string, string>> sessionTags = [.. inherited, .. tags];
        // The new session's transitive keys: the inherited ones, then the request's, in the case of their tags.
        var requestTransitive = tags.Where(t => transitiveTagKeys.Contains(t.Key, StringComparer.OrdinalIgnoreCase)).Select(t => t.Key);
        List<string> sessionTransitive = [.. inherited.Select(t => t.Key), .. requestTransitive];
        var packed = (sessionPolicy?.Length ?? 0) + sessionTags.Sum(t => Encoding.UTF8.GetByteCount(t.Key) + Encoding.UTF8.GetByteCount(t.Value));
        var packedPercent = (int)Math.Ceiling(packed * 100.0 / PackedPolicyBudget);
        if (packedPercent > 100)
            throw new ServiceException("PackedPolicyTooLarge", $"Packed policy consumes {packedPercent}% of allotted space, please use smaller policy.");

        var name = roleArn[(roleArn.LastIndexOf('/') + 1)..];
        var role = directory.FindRole(name);
        string Denied(string action) => $"User: {caller.Arn} is not authorized to perform: {action} on resource: {roleArn}";
        if (role is null || role.Arn != roleArn) throw IamErrors.AccessDenied(Denied("sts:AssumeRole"));
        if (caller.Kind == PrincipalKind.AssumedRole && duration > 3600)
            throw IamErrors.Validation("The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.");
        if (duration > role.MaxSessionDuration)
            throw IamErrors.Validation("The requested DurationSeconds exceeds the MaxSessionDuration set for this role.");
        // A source identity, once set, is the session's for good (IAM User Guide, "Monitor and control actions
        // taken with assumed roles"): a chained request naming another one is denied.
        if (caller.SourceIdentity is { } held && sourceIdentity is not null && sourceIdentity != held)
            throw IamErrors.AccessDenied($"{Denied("sts:SetSourceIdentity")}: the source identity of the calling session cannot be changed");
        var effectiveSource = caller.SourceIdentity ?? sourceIdentity;

        // The trust policy's conditions see the request's keys (aws:PrincipalArn, aws:SourceIp, …) and STS's own:
        // the session tags as aws:RequestTag/… and aws:TagKeys (inherited ones included, since the new session
        // carries them), sts:TransitiveTagKeys and sts:SourceIdentity.
        var stsKeys = new ConditionValues().Set("sts:RoleSessionName", roleSessionName!);
        if (externalId is not null) stsKeys.Set("sts:ExternalId", externalId);
        foreach (var (k, v) in sessionTags) stsKeys.Set("aws:RequestTag/" + k, v);
        if (sessionTags.Count > 0) stsKeys.Set("aws:TagKeys", [.. sessionTags.Select(t => t.Key)]);
        if (sessionTransitive.Count > 0) stsKeys.Set("sts:TransitiveTagKeys", [.. sessionTransitive]);
        if (effectiveSource is not null) stsKeys.Set("sts:SourceIdentity", effectiveSource);

        var trust = directory.Compile($"role/{role.RoleName} trust policy", PolicyKind.Trust, role.AssumeRolePolicyDocument);
        var conditions = access.Conditions(ctx, stsKeys);
        // The trust policy must allow the caller each action. It is the role's resource-based policy, evaluated as
        // one: naming only the account delegates to the caller's identity policies, and a statement naming the
        // calling session's role (rather than the session) is limited by that role's permissions boundary and the
        // session policy, as identity policies are (IAM User Guide, "Policy evaluation logic"). An identity policy
        // alone never lets a caller assume a role whose trust policy does not name it.
        void DemandTrust(string action)
        {
            var lowerAction = action.ToLowerInvariant();
            var trusted = trust.Statements.Any(s => s.IsAllow && s.MatchPrincipal(caller.Caller) != PrincipalMatch.None
                && s.MatchesAction(lowerAction) && s.MatchesConditions(conditions));
            if (!trusted || !access.Evaluate(ctx, action, roleArn, stsKeys, trust).IsAllowed)
                throw IamErrors.AccessDenied(Denied(action));
        }
        DemandTrust("sts:AssumeRole");
        if (sessionTags.Count > 0) DemandTrust("sts:TagSession");
        if (effectiveSource is not null) DemandTrust("sts:SetSourceIdentity");

        var sessionArn = $"arn:aws:sts::{AccountId}:assumed-role/{role.RoleName}/{roleSessionName}";
        var userId = $"{role.RoleId}:{roleSessionName}";
        var (claims, token) = sessions.Issue(sessionArn, userId, roleSessionName!, PrincipalKind.AssumedRole, role.Arn, sessionPolicy,
            TimeSpan.FromSeconds(duration), sessionTags, sessionTransitive, effectiveSource);
        return new AssumeRoleResult(
            new TemporaryCredentials(claims.AccessKeyId, claims.SecretAccessKey, token, DateTimeOffset.FromUnixTimeMilliseconds(claims.ExpiresMs)),
            userId, sessionArn, packedPercent, effectiveSource);
    }

    private static ServiceException InvalidParameterValue(string message) => new("InvalidParameterValue", message);

    public TemporaryCredentials GetSessionToken(RequestContext ctx, int? durationSeconds)
    {
        if (ctx.Caller.Kind != PrincipalKind.User || ctx.Caller.IsTemporary)
            throw IamErrors.AccessDenied("Cannot call GetSessionToken with session credentials");
        var duration = durationSeconds ?? 43200;
        if (duration is < 900 or > 129600)
            throw IamErrors.Validation($"1 validation error detected: Value '{duration}' at 'durationSeconds' failed to satisfy constraint: Member must have value between 900 and 129600");
        var (claims, token) = sessions.Issue(ctx.Caller.Arn, ctx.Caller.UserId, ctx.Caller.UserName, PrincipalKind.User, null, null, TimeSpan.FromSeconds(duration));
        return new TemporaryCredentials(claims.AccessKeyId, claims.SecretAccessKey, token, DateTimeOffset.FromUnixTimeMilliseconds(claims.ExpiresMs));
    }

    /// <summary>Always allowed, as in AWS.</summary>
    public CallerIdentityResult GetCallerIdentity(RequestContext ctx)
    {
        var c = ctx.Caller;
        var userId = c.Kind == PrincipalKind.User && directory.FindUser(c.UserName) is { } u && u.Arn == c.Arn ? u.UserId : c.UserId;
        return new CallerIdentityResult(userId, c.AccountId, c.Arn);
    }
}
