using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.RegularExpressions;
using Coffer.Core.Policies;

namespace Coffer.Core.Principals;

/// <summary>
/// The account's IAM entities, held in memory and written through to <see cref="IIamStore"/>. Reads are lock-free
/// (published objects are never changed); changes are serialised by one lock and stored before they are
/// published, so a reader never sees a change that is not durable. <see cref="Generation"/> moves on every change;
/// caches of compiled policies compare it.
/// Names are unique case-insensitively, as in IAM. Every policy document is parsed (and so validated) before it is
/// stored, and compiled policies are cached per document.
/// </summary>
public sealed partial class IamDirectory
{
    public const int MaxAccessKeysPerUser = 2;
    public const int MaxPolicyVersions = 5;
    public const int MaxAttachedPolicies = 10;

    private readonly IIamStore _store;
    private readonly TimeProvider _time;
    private readonly SemaphoreSlim _lock = new(1, 1);
    private readonly ConcurrentDictionary<string, IamUser> _users = new(StringComparer.OrdinalIgnoreCase);
    private readonly ConcurrentDictionary<string, IamGroup> _groups = new(StringComparer.OrdinalIgnoreCase);
    private readonly ConcurrentDictionary<string, IamRole> _roles = new(StringComparer.OrdinalIgnoreCase);
    private readonly ConcurrentDictionary<string, IamManagedPolicy> _policies = new(StringComparer.Ordinal); // by ARN
    private readonly ConcurrentDictionary<(string, PolicyKind, string), Policy> _compiled = new();
    private long _generation;

    private IamDirectory(IIamStore store, string accountId, TimeProvider time)
    {
        _store = store;
        AccountId = accountId;
        _time = time;
    }

    public string AccountId { get; }
    public long Generation => Interlocked.Read(ref _generation);

    /// <summary>
    /// Raised after every committed change, once <see cref="Generation"/> has moved (so an evaluation that starts
    /// after it sees the change), under the change lock: handlers must be quick and must not throw or call back.
    /// </summary>
    public event Action? Changed;

    public static async Task<IamDirectory> LoadAsync(IIamStore store, string accountId, TimeProvider time, CancellationToken ct)
    {
        var d = new IamDirectory(store, accountId, time);
        foreach (var row in await store.LoadIamEntitiesAsync(ct).ConfigureAwait(false))
        {
            switch (row.Kind)
            {
                case "user": var u = JsonSerializer.Deserialize(row.Document, IamJsonContext.Default.IamUser)!; d._users[u.UserName] = u; break;
                case "group": var g = JsonSerializer.Deserialize(row.Document, IamJsonContext.Default.IamGroup)!; d._groups[g.GroupName] = g; break;
                case "role": var r = JsonSerializer.Deserialize(row.Document, IamJsonContext.Default.IamRole)!; d._roles[r.RoleName] = r; break;
                case "policy": var p = JsonSerializer.Deserialize(row.Document, IamJsonContext.Default.IamManagedPolicy)!; d._policies[p.Arn] = p; break;
            }
        }
        return d;
    }

    // ---- reads -------------------------------------------------------------------------------------------

    public IamUser? FindUser(string name) => _users.TryGetValue(name, out var u) ? u : null;
    public IamGroup? FindGroup(string name) => _groups.TryGetValue(name, out var g) ? g : null;
    public IamRole? FindRole(string name) => _roles.TryGetValue(name, out var r) ? r : null;
    public IamManagedPolicy? FindPolicy(string arn) => _policies.TryGetValue(arn, out var p) ? p : null;
    public IReadOnlyList<IamUser> Users => [.. _users.Values.OrderBy(u => u.UserName, StringComparer.OrdinalIgnoreCase)];
    public IReadOnlyList<IamGroup> Groups => [.. _groups.Values.OrderBy(g => g.GroupName, StringComparer.OrdinalIgnoreCase)];
    public IReadOnlyList<IamRole> Roles => [.. _roles.Values.OrderBy(r => r.RoleName, StringComparer.OrdinalIgnoreCase)];
    public IReadOnlyList<IamManagedPolicy> Policies => [.. _policies.Values.OrderBy(p => p.PolicyName, StringComparer.OrdinalIgnoreCase)];

    public IamUser RequireUser(string name) => FindUser(name) ?? throw IamErrors.NoSuchEntity($"The user with name {name} cannot be found.");
    public IamGroup RequireGroup(string name) => FindGroup(name) ?? throw IamErrors.NoSuchEntity($"The group with name {name} cannot be found.");
    public IamRole RequireRole(string name) => FindRole(name) ?? throw IamErrors.NoSuchEntity($"The role with name {name} cannot be found.");
    public IamManagedPolicy RequirePolicy(string arn) =>
        FindPolicy(arn) ?? throw (PolicyArnShape().IsMatch(arn ?? "")
            ? IamErrors.NoSuchEntity($"Policy {arn} does not exist or is not attachable.")
            : IamErrors.InvalidInput($"ARN {arn} is not valid."));

    // A managed policy's ARN: this account's or AWS's, then policy/ with an optional path.
    [GeneratedRegex(@"^arn:aws:iam::(\d{12}|aws):policy/[\u0021-\u007E]+$", RegexOptions.CultureInvariant)]
    private static partial Regex PolicyArnShape();

    public int AttachmentCount(string policyArn) =>
        _users.Values.Count(u => u.AttachedPolicies.Contains(policyArn)) + _groups.Values.Count(g => g.AttachedPolicies.Contains(policyArn))
        + _roles.Values.Count(r => r.AttachedPolicies.Contains(policyArn));

    /// <summary>How many users and roles have this managed policy as their permissions boundary.</summary>
    public int BoundaryUsageCount(string policyArn) =>
        _users.Values.Count(u => u.PermissionsBoundary == policyArn) + _roles.Values.Count(r => r.PermissionsBoundary == policyArn);

    /// <summary>
    /// The permissions boundary a user or role has (its managed policy's default version), or null without one. A
    /// boundary whose policy is gone (it cannot be deleted while in use) bounds to nothing: an empty policy.
    /// </summary>
    public Policy? BoundaryOf(string? policyArn) => policyArn is null ? null
        : FindPolicy(policyArn) is { } p ? Compile($"{policyArn} (version {p.DefaultVersionId}, permissions boundary)", PolicyKind.Identity, p.DefaultVersion.Document)
        : Compile($"{policyArn} (permissions boundary, missing)", PolicyKind.Identity, """{"Version":"2012-10-17","Statement":[]}""");

    /// <summary>A compiled policy, cached by (source, kind, text); the text was validated when it was stored.</summary>
    public Policy Compile(string source, PolicyKind kind, string document) =>
        _compiled.GetOrAdd((source, kind, document), static k => Policy.Parse(k.Item3, k.Item2, k.Item1));

    /// <summary>Every identity policy of a user: inline and attached, its own and its groups'.</summary>
    public IReadOnlyList<Policy> PoliciesOfUser(IamUser user)
    {
        var list = new List<Policy>();
        foreach (var (name, doc) in user.InlinePolicies) list.Add(Compile($"user/{user.UserName} inline policy {name}", PolicyKind.Identity, doc));
        foreach (var arn in user.AttachedPolicies) AddManaged(arn, list);
        foreach (var groupName in user.Groups)
            if (FindGroup(groupName) is { } g) AddGroupPolicies(g, list);
        return list;
    }

    /// <summary>A group's inline and attached policies (what its members get from it).</summary>
    public IReadOnlyList<Policy> PoliciesOfGroup(IamGroup group)
    {
        var list = new List<Policy>();
        AddGroupPolicies(group, list);
        return list;
    }

    private void AddGroupPolicies(IamGroup g, List<Policy> list)
    {
        foreach (var (name, doc) in g.InlinePolicies) list.Add(Compile($"group/{g.GroupName} inline policy {name}", PolicyKind.Identity, doc));
        foreach (var arn in g.AttachedPolicies) AddManaged(arn, list);
    }

    public IReadOnlyList<Policy> PoliciesOfRole(IamRole role)
    {
        var list = new List<Policy>();
        foreach (var (name, doc) in role.InlinePolicies) list.Add(Compile($"role/{role.RoleName} inline policy {name}", PolicyKind.Identity, doc));
        foreach (var arn in role.AttachedPolicies) AddManaged(arn, list);
        return list;
    }

    private void AddManaged(string arn, List<Policy> into)
    {
        if (FindPolicy(arn) is { } p) into.Add(Compile($"{arn} (version {p.DefaultVersionId})", PolicyKind.Identity, p.DefaultVersion.Document));
    }

    // ---- users, groups, roles ------------------------------------------------------------------------------

    [GeneratedRegex(@"^[\w+=,.@-]{1,64}$", RegexOptions.CultureInvariant)]
    private static partial Regex EntityName();

    [GeneratedRegex(@"^[\w+=,.@-]{1,128}$", RegexOptions.CultureInvariant)]
    private static partial Regex PolicyName();

    [GeneratedRegex(@"^(/|/[\u0021-\u007E]{0,510}/)$", RegexOptions.CultureInvariant)]
    private static partial Regex PathPattern();

    private static void CheckName(string? name, string parameter, bool policy = false)
    {
        if (string.IsNullOrEmpty(name) || !(policy ? PolicyName() : EntityName()).IsMatch(name))
            throw IamErrors.Validation($"1 validation error detected: Value at '{parameter}' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+");
    }

    private static string CheckPath(string? path)
    {
        path ??= "/";
        if (!PathPattern().IsMatch(path))
            throw IamErrors.Validation("1 validation error detected: Value at 'path' failed to satisfy constraint: Member must satisfy regular expression pattern: (\\u002F)|(\\u002F[\\u0021-\\u007E]+\\u002F)");
        return path;
    }

    [GeneratedRegex(@"^[\u0009\u000A\u000D\u0020-\u007E\u00A1-\u00FF]{0,1000}$", RegexOptions.CultureInvariant)]
    private static partial Regex RoleDescription();

    // Descriptions and tags are echoed in XML answers: a character XML 1.0 cannot carry (a control character)
    // would make every later Get/List of the entity fail, so they are refused as IAM's patterns refuse them.
    private static void CheckRoleDescription(string? description)
    {
        if (description is not null && !RoleDescription().IsMatch(description))
            throw IamErrors.Validation("1 validation error detected: Value at 'description' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\u0009\\u000A\\u000D\\u0020-\\u007E\\u00A1-\\u00FF]*");
    }

    private static void CheckPolicyDescription(string? description)
    {
        if (description is null) return;
        if (description.Length > 1000)
            throw IamErrors.Validation("1 validation error detected: Value at 'description' failed to satisfy constraint: Member must have length less than or equal to 1000");
        try { System.Xml.XmlConvert.VerifyXmlChars(description); }
        catch (System.Xml.XmlException) { throw IamErrors.Validation("1 validation error detected: Value at 'description' failed to satisfy constraint: Member must not contain control characters"); }
    }

    private static IReadOnlyList<KeyValuePair<string, string>>? CheckTags(IEnumerable<KeyValuePair<string, string>>? tags)
    {
        var list = tags?.ToList();
        IamTags.Check(list, IamErrors.InvalidInput);
        return list;
    }

    // IAM's size quotas (IAM User Guide, "IAM and AWS STS quotas"): characters other than white space.
    public const int ManagedPolicySizeLimit = 6144;
    public const int MaxGroupsPerUser = 10;
    public const int TrustPolicySizeLimit = 2048;

    private static int InlineSizeLimit(string kind) => kind switch { "user" => 2048, "group" => 5120, _ => 10240 };

    private static int PolicySize(string document)
    {
        var n = 0;
        foreach (var c in document) if (!char.IsWhiteSpace(c)) n++;
        return n;
    }

    private static void CheckManagedSize(string document)
    {
        if (PolicySize(document) > ManagedPolicySizeLimit)
            throw IamErrors.LimitExceeded($"Cannot exceed quota for PolicySize: {ManagedPolicySizeLimit}");
    }

    private static void CheckTrustSize(string document)
    {
        if (PolicySize(document) > TrustPolicySizeLimit)
            throw IamErrors.LimitExceeded($"Cannot exceed quota for ACLSizePerRole: {TrustPolicySizeLimit}");
    }

    private string Arn(string type, string path, string name) => $"arn:aws:iam::{AccountId}:{type}{path}{name}";

    private static string NewId(string prefix) => prefix + RandomNumberGenerator.GetString("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 17);

    public Task<IamUser> CreateUserAsync(string userName, string? path, IEnumerable<KeyValuePair<string, string>>? tags, string? permissionsBoundary, CancellationToken ct)
    {
        CheckName(userName, "userName");
        path = CheckPath(path);
        var tagList = CheckTags(tags);
        if (string.Equals(userName, AccessKeyService.AdministratorName, StringComparison.OrdinalIgnoreCase))
            throw IamErrors.EntityAlreadyExists($"User with name {userName} already exists.");
        return ChangeAsync(() =>
        {
            if (_users.ContainsKey(userName)) throw IamErrors.EntityAlreadyExists($"User with name {userName} already exists.");
            if (permissionsBoundary is not null) RequireBoundaryPolicy(permissionsBoundary);
            return new IamUser
            {
                UserName = userName, UserId = NewId("AIDA"), Arn = Arn("user", path, userName), Path = path,
                CreateDate = Now(), Tags = tagList is null ? [] : new Dictionary<string, string>(tagList), PermissionsBoundary = permissionsBoundary,
            };
        }, u => SaveUser(u), ct);
    }

    public Task DeleteUserAsync(string userName, bool hasAccessKeys, CancellationToken ct) => ChangeAsync(() =>
    {
        var u = RequireUser(userName);
        if (hasAccessKeys) throw IamErrors.DeleteConflict("Cannot delete entity, must delete access keys first.");
        if (u.InlinePolicies.Count > 0) throw IamErrors.DeleteConflict("Cannot delete entity, must delete policies first.");
        if (u.AttachedPolicies.Count > 0) throw IamErrors.DeleteConflict("Cannot delete entity, must detach all policies first.");
        if (u.Groups.Count > 0) throw IamErrors.DeleteConflict("Cannot delete entity, must remove users from group first.");
        return u;
    }, async u =>
    {
        await _store.DeleteIamEntityAsync("user", Key(u.UserName), ct).ConfigureAwait(false);
        _users.TryRemove(u.UserName, out _);
    }, ct);

    public Task<IamGroup> CreateGroupAsync(string groupName, string? path, CancellationToken ct)
    {
        CheckName(groupName, "groupName");
        path = CheckPath(path);
        return ChangeAsync(() =>
        {
            if (_groups.ContainsKey(groupName)) throw IamErrors.EntityAlreadyExists($"Group with name {groupName} already exists.");
            return new IamGroup { GroupName = groupName, GroupId = NewId("AGPA"), Arn = Arn("group", path, groupName), Path = path, CreateDate = Now() };
        }, SaveGroup, ct);
    }

    public Task DeleteGroupAsync(string groupName, CancellationToken ct) => ChangeAsync(() =>
    {
        var g = RequireGroup(groupName);
        if (_users.Values.Any(u => u.Groups.Contains(g.GroupName, StringComparer.OrdinalIgnoreCase)))
            throw IamErrors.DeleteConflict("Cannot delete entity, must remove users from group first.");
        if (g.InlinePolicies.Count > 0) throw IamErrors.DeleteConflict("Cannot delete entity, must delete policies first.");
        if (g.AttachedPolicies.Count > 0) throw IamErrors.DeleteConflict("Cannot delete entity, must detach all policies first.");
        return g;
    }, async g =>
    {
        await _store.DeleteIamEntityAsync("group", Key(g.GroupName), ct).ConfigureAwait(false);
        _groups.TryRemove(g.GroupName, out _);
    }, ct);

    public Task AddUserToGroupAsync(string groupName, string userName, CancellationToken ct) => ChangeAsync(() =>
    {
        var g = RequireGroup(groupName);
        var u = Copy(RequireUser(userName));
        if (!u.Groups.Contains(g.GroupName, StringComparer.OrdinalIgnoreCase))
        {
            if (u.Groups.Count >= MaxGroupsPerUser) throw IamErrors.LimitExceeded($"Cannot exceed quota for GroupsPerUser: {MaxGroupsPerUser}");
            u.Groups.Add(g.GroupName);
        }
        return u;
    }, SaveUser, ct);

    public Task RemoveUserFromGroupAsync(string groupName, string userName, CancellationToken ct) => ChangeAsync(() =>
    {
        var g = RequireGroup(groupName);
        var u = Copy(RequireUser(userName));
        if (u.Groups.RemoveAll(x => string.Equals(x, g.GroupName, StringComparison.OrdinalIgnoreCase)) == 0)
            throw IamErrors.NoSuchEntity($"The user with name {userName} cannot be found in group {groupName}.");
        return u;
    }, SaveUser, ct);

    public Task<IamRole> CreateRoleAsync(string roleName, string? path, string trustPolicy, string? description, int? maxSessionDuration,
        IEnumerable<KeyValuePair<string, string>>? tags, string? permissionsBoundary, CancellationToken ct)
    {
        CheckName(roleName, "roleName");
        path = CheckPath(path);
        CheckRoleDescription(description);
        var tagList = CheckTags(tags);
        if (string.Equals(roleName, AccessControl.RotationRoleName, StringComparison.OrdinalIgnoreCase))
            throw IamErrors.EntityAlreadyExists($"Role with name {roleName} already exists.");
        CheckTrustSize(trustPolicy);
        Policy.Parse(trustPolicy, PolicyKind.Trust, "trust policy");
        if (maxSessionDuration is { } m && (m < 3600 || m > 43200))
            throw IamErrors.Validation("1 validation error detected: Value at 'maxSessionDuration' failed to satisfy constraint: Member must have value between 3600 and 43200");
        return ChangeAsync(() =>
        {
            if (_roles.ContainsKey(roleName)) throw IamErrors.EntityAlreadyExists($"Role with name {roleName} already exists.");
            if (permissionsBoundary is not null) RequireBoundaryPolicy(permissionsBoundary);
            return new IamRole
            {
                RoleName = roleName, RoleId = NewId("AROA"), Arn = Arn("role", path, roleName), Path = path, Description = description,
                MaxSessionDuration = maxSessionDuration ?? 3600, CreateDate = Now(), AssumeRolePolicyDocument = trustPolicy,
                Tags = tagList is null ? [] : new Dictionary<string, string>(tagList), PermissionsBoundary = permissionsBoundary,
            };
        }, SaveRole, ct);
    }

    public Task UpdateAssumeRolePolicyAsync(string roleName, string trustPolicy, CancellationToken ct)
    {
        CheckTrustSize(trustPolicy);
        Policy.Parse(trustPolicy, PolicyKind.Trust, "trust policy");
        return ChangeAsync(() =>
        {
            var r = Copy(RequireRole(roleName));
            r.AssumeRolePolicyDocument = trustPolicy;
            return r;
        }, SaveRole, ct);
    }

    public Task DeleteRoleAsync(string roleName, CancellationToken ct) => ChangeAsync(() =>
    {
        var r = RequireRole(roleName);
        if (r.InlinePolicies.Count > 0) throw IamErrors.DeleteConflict("Cannot delete entity, must delete policies first.");
        if (r.AttachedPolicies.Count > 0) throw IamErrors.DeleteConflict("Cannot delete entity, must detach all policies first.");
        return r;
    }, async r =>
    {
        await _store.DeleteIamEntityAsync("role", Key(r.RoleName), ct).ConfigureAwait(false);
        _roles.TryRemove(r.RoleName, out _);
    }, ct);

    // ---- tags of users and roles (kind: user, role) ---------------------------------------------------------

    /// <summary>The tags of a user or role, ordered by key (so that pages of ListUserTags/ListRoleTags are stable).</summary>
    public IReadOnlyList<KeyValuePair<string, string>> TagsOf(string kind, string name) =>
        [.. (kind == "user" ? RequireUser(name).Tags : RequireRole(name).Tags).OrderBy(t => t.Key, StringComparer.OrdinalIgnoreCase)];

    /// <summary>
    /// TagUser/TagRole: adds tags, replacing the value (and the case of the key) of a key already present in any
    /// case. More than 50 tags in all is LimitExceeded, and nothing changes.
    /// </summary>
    public Task TagAsync(string kind, string name, IEnumerable<KeyValuePair<string, string>> tags, CancellationToken ct)
    {
        var added = CheckTags(tags)!;
        if (added.Count == 0)
            throw IamErrors.Validation("1 validation error detected: Value null at 'tags' failed to satisfy constraint: Member must not be null");
        return ChangeAsync<object>(() =>
        {
            if (kind == "user")
            {
                var u = Copy(RequireUser(name));
                u.Tags = IamTags.Merge(u.Tags, added);
                return u.Tags.Count > IamTags.MaxTags ? throw TooManyTags() : u;
            }
            var r = Copy(RequireRole(name));
            r.Tags = IamTags.Merge(r.Tags, added);
            return r.Tags.Count > IamTags.MaxTags ? throw TooManyTags() : r;
        }, SaveAny, ct);
    }

    private static ServiceException TooManyTags() => IamErrors.LimitExceeded("The number of tags has reached the maximum limit.");

    /// <summary>UntagUser/UntagRole: removes the keys in any case; a key the entity does not have is no error.</summary>
    public Task UntagAsync(string kind, string name, IReadOnlyList<string> keys, CancellationToken ct)
    {
        if (keys.Count == 0)
            throw IamErrors.Validation("1 validation error detected: Value null at 'tagKeys' failed to satisfy constraint: Member must not be null");
        IamTags.CheckKeys(keys, "tagKeys");
        return ChangeAsync<object>(() =>
        {
            if (kind == "user")
            {
                var u = Copy(RequireUser(name));
                u.Tags = IamTags.Remove(u.Tags, keys);
                return u;
            }
            var r = Copy(RequireRole(name));
            r.Tags = IamTags.Remove(r.Tags, keys);
            return r;
        }, SaveAny, ct);
    }

    // ---- managed policies ------------------------------------------------------------------------------------

    public Task<IamManagedPolicy> CreatePolicyAsync(string policyName, string? path, string document, string? description, CancellationToken ct)
    {
        CheckName(policyName, "policyName", policy: true);
        path = CheckPath(path);
        CheckPolicyDescription(description);
        CheckManagedSize(document);
        Policy.Parse(document, PolicyKind.Identity, policyName);
        var arn = Arn("policy", path, policyName);
        return ChangeAsync(() =>
        {
            if (_policies.Values.Any(p => string.Equals(p.PolicyName, policyName, StringComparison.OrdinalIgnoreCase)))
                throw IamErrors.EntityAlreadyExists($"A policy called {policyName} already exists. Duplicate names are not allowed.");
            var now = Now();
            return new IamManagedPolicy
            {
                PolicyName = policyName, PolicyId = NewId("ANPA"), Arn = arn, Path = path, Description = description,
                CreateDate = now, UpdateDate = now, DefaultVersionId = "v1",
                Versions = [new IamPolicyVersion { VersionId = "v1", Document = document, CreateDate = now }],
            };
        }, SavePolicy, ct);
    }

    public Task DeletePolicyAsync(string arn, CancellationToken ct) => ChangeAsync(() =>
    {
        var p = RequirePolicy(arn);
        if (AttachmentCount(arn) > 0 || BoundaryUsageCount(arn) > 0) throw IamErrors.DeleteConflict("Cannot delete a policy attached to entities.");
        if (p.Versions.Count > 1) throw IamErrors.DeleteConflict("Cannot delete a policy with non-default versions; delete them first.");
        return p;
    }, async p =>
    {
        await _store.DeleteIamEntityAsync("policy", p.Arn, ct).ConfigureAwait(false);
        _policies.TryRemove(p.Arn, out _);
    }, ct);

    public async Task<IamPolicyVersion> CreatePolicyVersionAsync(string arn, string document, bool setAsDefault, CancellationToken ct)
    {
        CheckManagedSize(document);
        Policy.Parse(document, PolicyKind.Identity, arn);
        IamPolicyVersion? created = null;
        await ChangeAsync(() =>
        {
            var p = Copy(RequirePolicy(arn));
            if (p.Versions.Count >= MaxPolicyVersions)
                throw IamErrors.LimitExceeded("A managed policy can have up to 5 versions. Before you create a new version, you must delete an existing version.");
            created = new IamPolicyVersion { VersionId = "v" + p.NextVersion, Document = document, CreateDate = Now() };
            p.NextVersion++;
            p.Versions.Add(created);
            if (setAsDefault) p.DefaultVersionId = created.VersionId;
            p.UpdateDate = created.CreateDate;
            return p;
        }, SavePolicy, ct).ConfigureAwait(false);
        return created!;
    }

    public Task SetDefaultPolicyVersionAsync(string arn, string versionId, CancellationToken ct) => ChangeAsync(() =>
    {
        var p = Copy(RequirePolicy(arn));
        if (p.Versions.All(v => v.VersionId != versionId))
            throw IamErrors.NoSuchEntity($"Policy {arn} version {versionId} does not exist or is not attachable.");
        p.DefaultVersionId = versionId;
        p.UpdateDate = Now();
        return p;
    }, SavePolicy, ct);

    public Task DeletePolicyVersionAsync(string arn, string versionId, CancellationToken ct) => ChangeAsync(() =>
    {
        var p = Copy(RequirePolicy(arn));
        if (p.DefaultVersionId == versionId) throw IamErrors.DeleteConflict("Cannot delete the default version of a policy.");
        if (p.Versions.RemoveAll(v => v.VersionId == versionId) == 0)
            throw IamErrors.NoSuchEntity($"Policy {arn} version {versionId} does not exist or is not attachable.");
        return p;
    }, SavePolicy, ct);

    // ---- permissions boundaries (target kind: user, role) ------------------------------------------------------

    /// <summary>Sets (policy ARN) or removes (null) a user's or role's permissions boundary.</summary>
    public Task SetPermissionsBoundaryAsync(string kind, string name, string? policyArn, CancellationToken ct) => ChangeAsync<object>(() =>
    {
        if (policyArn is not null) RequireBoundaryPolicy(policyArn);
        switch (kind)
        {
            case "user": { var u = Copy(RequireUser(name)); u.PermissionsBoundary = policyArn; return u; }
            case "role": { var r = Copy(RequireRole(name)); r.PermissionsBoundary = policyArn; return r; }
            default: throw new ArgumentOutOfRangeException(nameof(kind));
        }
    }, SaveAny, ct);

    /// <summary>
    /// A boundary must be an existing managed policy (IAM: "Scope ARN … does not exist or is not attachable"); an ARN
    /// that is not a managed policy's at all is InvalidInput, as for AttachUserPolicy.
    /// </summary>
    public void RequireBoundaryPolicy(string policyArn)
    {
        if (FindPolicy(policyArn) is not null) return;
        throw PolicyArnShape().IsMatch(policyArn)
            ? IamErrors.NoSuchEntity($"Scope ARN: {policyArn} does not exist or is not attachable.")
            : IamErrors.InvalidInput($"ARN {policyArn} is not valid.");
    }

    // ---- attachments and inline policies (target kind: user, group, role) ---------------------------------------

    public Task AttachPolicyAsync(string kind, string name, string policyArn, CancellationToken ct) => ChangeAsync(() =>
    {
        RequirePolicy(policyArn);
        return Mutate(kind, name, attached: list =>
        {
            if (list.Contains(policyArn)) return;
            if (list.Count >= MaxAttachedPolicies) throw IamErrors.LimitExceeded($"Cannot exceed quota for PoliciesPer{Title(kind)}: {MaxAttachedPolicies}.");
            list.Add(policyArn);
        });
    }, SaveAny, ct);

    public Task DetachPolicyAsync(string kind, string name, string policyArn, CancellationToken ct) => ChangeAsync(() =>
        Mutate(kind, name, attached: list =>
        {
            if (!list.Remove(policyArn)) throw IamErrors.NoSuchEntity($"Policy {policyArn} was not found.");
        }), SaveAny, ct);

    public Task PutInlinePolicyAsync(string kind, string name, string policyName, string document, CancellationToken ct)
    {
        CheckName(policyName, "policyName", policy: true);
        Policy.Parse(document, PolicyKind.Identity, policyName);
        return ChangeAsync(() => Mutate(kind, name, inline: map =>
        {
            // IAM's quota is on the sum of an identity's inline policies, not on each one.
            var limit = InlineSizeLimit(kind);
            var total = PolicySize(document) + map.Where(p => p.Key != policyName).Sum(p => PolicySize(p.Value));
            if (total > limit) throw IamErrors.LimitExceeded($"Maximum policy size of {limit} bytes exceeded for {kind} {name}");
            map[policyName] = document;
        }), SaveAny, ct);
    }

    public Task DeleteInlinePolicyAsync(string kind, string name, string policyName, CancellationToken ct) => ChangeAsync(() =>
        Mutate(kind, name, inline: map =>
        {
            if (!map.Remove(policyName)) throw IamErrors.NoSuchEntity($"The {kind} policy with name {policyName} cannot be found.");
        }), SaveAny, ct);

    public (IReadOnlyDictionary<string, string> Inline, IReadOnlyList<string> Attached) PoliciesOf(string kind, string name) => kind switch
    {
        "user" => RequireUser(name) is var u ? (u.InlinePolicies, u.AttachedPolicies) : default,
        "group" => RequireGroup(name) is var g ? (g.InlinePolicies, g.AttachedPolicies) : default,
        "role" => RequireRole(name) is var r ? (r.InlinePolicies, r.AttachedPolicies) : default,
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    private static string Title(string kind) => char.ToUpperInvariant(kind[0]) + kind[1..];

    private object Mutate(string kind, string name, Action<List<string>>? attached = null, Action<Dictionary<string, string>>? inline = null)
    {
        switch (kind)
        {
            case "user": { var u = Copy(RequireUser(name)); attached?.Invoke(u.AttachedPolicies); inline?.Invoke(u.InlinePolicies); return u; }
            case "group": { var g = Copy(RequireGroup(name)); attached?.Invoke(g.AttachedPolicies); inline?.Invoke(g.InlinePolicies); return g; }
            case "role": { var r = Copy(RequireRole(name)); attached?.Invoke(r.AttachedPolicies); inline?.Invoke(r.InlinePolicies); return r; }
            default: throw new ArgumentOutOfRangeException(nameof(kind));
        }
    }

    // ---- plumbing -------------------------------------------------------------------------------------------

    private async Task<T> ChangeAsync<T>(Func<T> change, Func<T, Task> save, CancellationToken ct)
    {
        await _lock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var value = change();
            await save(value).ConfigureAwait(false);
            Interlocked.Increment(ref _generation);
            Changed?.Invoke();
            return value;
        }
        finally { _lock.Release(); }
    }

    private Task SaveAny(object o) => o switch
    {
        IamUser u => SaveUser(u),
        IamGroup g => SaveGroup(g),
        IamRole r => SaveRole(r),
        _ => throw new ArgumentOutOfRangeException(nameof(o)),
    };

    private async Task SaveUser(IamUser u)
    {
        await _store.PutIamEntityAsync(new IamEntityRow("user", Key(u.UserName), JsonSerializer.Serialize(u, IamJsonContext.Default.IamUser)), CancellationToken.None).ConfigureAwait(false);
        _users[u.UserName] = u;
    }

    private async Task SaveGroup(IamGroup g)
    {
        await _store.PutIamEntityAsync(new IamEntityRow("group", Key(g.GroupName), JsonSerializer.Serialize(g, IamJsonContext.Default.IamGroup)), CancellationToken.None).ConfigureAwait(false);
        _groups[g.GroupName] = g;
    }

    private async Task SaveRole(IamRole r)
    {
        await _store.PutIamEntityAsync(new IamEntityRow("role", Key(r.RoleName), JsonSerializer.Serialize(r, IamJsonContext.Default.IamRole)), CancellationToken.None).ConfigureAwait(false);
        _roles[r.RoleName] = r;
    }

    private async Task SavePolicy(IamManagedPolicy p)
    {
        await _store.PutIamEntityAsync(new IamEntityRow("policy", p.Arn, JsonSerializer.Serialize(p, IamJsonContext.Default.IamManagedPolicy)), CancellationToken.None).ConfigureAwait(false);
        _policies[p.Arn] = p;
    }

    private static IamUser Copy(IamUser u) => JsonSerializer.Deserialize(JsonSerializer.Serialize(u, IamJsonContext.Default.IamUser), IamJsonContext.Default.IamUser)!;
    private static IamGroup Copy(IamGroup g) => JsonSerializer.Deserialize(JsonSerializer.Serialize(g, IamJsonContext.Default.IamGroup), IamJsonContext.Default.IamGroup)!;
    private static IamRole Copy(IamRole r) => JsonSerializer.Deserialize(JsonSerializer.Serialize(r, IamJsonContext.Default.IamRole), IamJsonContext.Default.IamRole)!;
    private static IamManagedPolicy Copy(IamManagedPolicy p) => JsonSerializer.Deserialize(JsonSerializer.Serialize(p, IamJsonContext.Default.IamManagedPolicy), IamJsonContext.Default.IamManagedPolicy)!;

    private static string Key(string name) => name.ToLowerInvariant();

    private DateTimeOffset Now() => DateTimeOffset.FromUnixTimeSeconds(_time.GetUtcNow().ToUnixTimeSeconds());
}
