using System.Collections.Frozen;
using System.Globalization;
using System.Xml;
using Coffer.Core;
using Coffer.Core.Policies;
using Coffer.Core.Principals;

namespace Coffer.Protocol.Query;

/// <summary>The IAM and STS action tables: form parameters in, the action's Result element's content out.</summary>
public sealed partial class QueryEndpoint
{
    private delegate Task Handler(QueryEndpoint endpoint, RequestContext ctx, QueryRequest form, XmlWriter xml, CancellationToken ct);

    private IamService Iam => iam;

    private static readonly FrozenDictionary<string, Handler> IamActions = BuildIam().ToFrozenDictionary(StringComparer.Ordinal);
    private static readonly FrozenDictionary<string, Handler> StsActions = BuildSts().ToFrozenDictionary(StringComparer.Ordinal);

    private static Handler Sync(Action<QueryEndpoint, RequestContext, QueryRequest, XmlWriter> action) =>
        (e, c, f, x, _) => { action(e, c, f, x); return Task.CompletedTask; };

    private static IEnumerable<KeyValuePair<string, Handler>> BuildIam()
    {
        KeyValuePair<string, Handler> A(string name, Handler h) => new(name, h);

        // users
        yield return A("CreateUser", async (e, c, f, x, ct) => User(x, await e.Iam.CreateUserAsync(c, f.Required("UserName"), f.Optional("Path"), f.Tags(),
            f.Optional("PermissionsBoundary"), ct).ConfigureAwait(false)));
        yield return A("GetUser", Sync((e, c, f, x) => User(x, e.Iam.GetUser(c, f.Optional("UserName")))));
        yield return A("ListUsers", Sync((e, c, f, x) => List(x, f, "Users", e.Iam.ListUsers(c, f.Optional("PathPrefix")), u => User(x, u, "member"))));
        yield return A("DeleteUser", (e, c, f, x, ct) => e.Iam.DeleteUserAsync(c, f.Required("UserName"), ct));
        // groups
        yield return A("CreateGroup", async (e, c, f, x, ct) => Group(x, await e.Iam.CreateGroupAsync(c, f.Required("GroupName"), f.Optional("Path"), ct).ConfigureAwait(false)));
        yield return A("GetGroup", Sync((e, c, f, x) =>
        {
            var (group, users) = e.Iam.GetGroup(c, f.Required("GroupName"));
            Group(x, group);
            List(x, f, "Users", users, u => User(x, u, "member"));
        }));
        yield return A("ListGroups", Sync((e, c, f, x) => List(x, f, "Groups", e.Iam.ListGroups(c, f.Optional("PathPrefix")), g => Group(x, g, "member"))));
        yield return A("ListGroupsForUser", Sync((e, c, f, x) => List(x, f, "Groups", e.Iam.ListGroupsForUser(c, f.Required("UserName")), g => Group(x, g, "member"))));
        yield return A("DeleteGroup", (e, c, f, x, ct) => e.Iam.DeleteGroupAsync(c, f.Required("GroupName"), ct));
        yield return A("AddUserToGroup", (e, c, f, x, ct) => e.Iam.AddUserToGroupAsync(c, f.Required("GroupName"), f.Required("UserName"), ct));
        yield return A("RemoveUserFromGroup", (e, c, f, x, ct) => e.Iam.RemoveUserFromGroupAsync(c, f.Required("GroupName"), f.Required("UserName"), ct));
        // roles
        yield return A("CreateRole", async (e, c, f, x, ct) => Role(x, await e.Iam.CreateRoleAsync(c, f.Required("RoleName"), f.Optional("Path"),
            f.Required("AssumeRolePolicyDocument"), f.Optional("Description"), f.Int("MaxSessionDuration"), f.Tags(), f.Optional("PermissionsBoundary"), ct).ConfigureAwait(false)));
        yield return A("GetRole", Sync((e, c, f, x) => Role(x, e.Iam.GetRole(c, f.Required("RoleName")))));
        yield return A("ListRoles", Sync((e, c, f, x) => List(x, f, "Roles", e.Iam.ListRoles(c, f.Optional("PathPrefix")), r => Role(x, r, "member"))));
        yield return A("UpdateAssumeRolePolicy", (e, c, f, x, ct) => e.Iam.UpdateAssumeRolePolicyAsync(c, f.Required("RoleName"), f.Required("PolicyDocument"), ct));
        yield return A("DeleteRole", (e, c, f, x, ct) => e.Iam.DeleteRoleAsync(c, f.Required("RoleName"), ct));
        // access keys
        yield return A("CreateAccessKey", async (e, c, f, x, ct) =>
        {
            var (record, secret) = await e.Iam.CreateAccessKeyAsync(c, f.Optional("UserName"), ct).ConfigureAwait(false);
            x.WriteStartElement("AccessKey");
            x.WriteElementString("UserName", record.UserName);
            x.WriteElementString("AccessKeyId", record.AccessKeyId);
            x.WriteElementString("Status", record.Status);
            x.WriteElementString("SecretAccessKey", secret);
            x.WriteElementString("CreateDate", Date(record.CreatedDate));
            x.WriteEndElement();
        });
        yield return A("ListAccessKeys", async (e, c, f, x, ct) =>
        {
            var (user, keys) = await e.Iam.ListAccessKeysAsync(c, f.Optional("UserName"), ct).ConfigureAwait(false);
            List(x, f, "AccessKeyMetadata", keys, k =>
            {
                x.WriteStartElement("member");
                x.WriteElementString("UserName", user);
                x.WriteElementString("AccessKeyId", k.AccessKeyId);
                x.WriteElementString("Status", k.Status);
                x.WriteElementString("CreateDate", Date(k.CreatedDate));
                x.WriteEndElement();
            });
        });
        yield return A("UpdateAccessKey", (e, c, f, x, ct) => e.Iam.UpdateAccessKeyAsync(c, f.Optional("UserName"), f.Required("AccessKeyId"), f.Required("Status"), ct));
        yield return A("DeleteAccessKey", (e, c, f, x, ct) => e.Iam.DeleteAccessKeyAsync(c, f.Optional("UserName"), f.Required("AccessKeyId"), ct));
        // managed policies
        yield return A("CreatePolicy", async (e, c, f, x, ct) => ManagedPolicy(e, x, await e.Iam.CreatePolicyAsync(c, f.Required("PolicyName"), f.Optional("Path"),
            f.Required("PolicyDocument"), f.Optional("Description"), ct).ConfigureAwait(false)));
        yield return A("GetPolicy", Sync((e, c, f, x) => ManagedPolicy(e, x, e.Iam.GetPolicy(c, f.Required("PolicyArn")))));
        yield return A("ListPolicies", Sync((e, c, f, x) => List(x, f, "Policies",
            e.Iam.ListPolicies(c, f.Optional("Scope"), f.Bool("OnlyAttached"), f.Optional("PathPrefix"), f.Optional("PolicyUsageFilter")), p => ManagedPolicy(e, x, p, "member"))));
        yield return A("DeletePolicy", (e, c, f, x, ct) => e.Iam.DeletePolicyAsync(c, f.Required("PolicyArn"), ct));
        yield return A("CreatePolicyVersion", async (e, c, f, x, ct) =>
        {
            var arn = f.Required("PolicyArn");
            var v = await e.Iam.CreatePolicyVersionAsync(c, arn, f.Required("PolicyDocument"), f.Bool("SetAsDefault"), ct).ConfigureAwait(false);
            Version(x, v, e.Iam.Directory.FindPolicy(arn)?.DefaultVersionId == v.VersionId, withDocument: false);
        });
        yield return A("GetPolicyVersion", Sync((e, c, f, x) =>
        {
            var (p, v) = e.Iam.GetPolicyVersion(c, f.Required("PolicyArn"), f.Required("VersionId"));
            Version(x, v, p.DefaultVersionId == v.VersionId, withDocument: true);
        }));
        yield return A("ListPolicyVersions", Sync((e, c, f, x) =>
        {
            var p = e.Iam.ListPolicyVersions(c, f.Required("PolicyArn"));
            List(x, f, "Versions", p.Versions.AsEnumerable().Reverse().ToList(), v => Version(x, v, p.DefaultVersionId == v.VersionId, withDocument: false, "member"));
        }));
        yield return A("SetDefaultPolicyVersion", (e, c, f, x, ct) => e.Iam.SetDefaultPolicyVersionAsync(c, f.Required("PolicyArn"), f.Required("VersionId"), ct));
        yield return A("DeletePolicyVersion", (e, c, f, x, ct) => e.Iam.DeletePolicyVersionAsync(c, f.Required("PolicyArn"), f.Required("VersionId"), ct));
        // permissions boundaries of users and roles
        foreach (var (kind, title) in new[] { ("user", "User"), ("role", "Role") })
        {
            yield return A($"Put{title}PermissionsBoundary", (e, c, f, x, ct) =>
                e.Iam.PutPermissionsBoundaryAsync(c, kind, f.Required(title + "Name"), f.Required("PermissionsBoundary"), ct));
            yield return A($"Delete{title}PermissionsBoundary", (e, c, f, x, ct) =>
                e.Iam.DeletePermissionsBoundaryAsync(c, kind, f.Required(title + "Name"), ct));
        }
        // attachments and inline policies, for each kind of identity
        foreach (var (kind, title) in new[] { ("user", "User"), ("group", "Group"), ("role", "Role") })
        {
            var nameParam = title + "Name";
            yield return A($"Attach{title}Policy", (e, c, f, x, ct) => e.Iam.AttachPolicyAsync(c, kind, f.Required(nameParam), f.Required("PolicyArn"), ct));
            yield return A($"Detach{title}Policy", (e, c, f, x, ct) => e.Iam.DetachPolicyAsync(c, kind, f.Required(nameParam), f.Required("PolicyArn"), ct));
            yield return A($"ListAttached{title}Policies", Sync((e, c, f, x) => List(x, f, "AttachedPolicies", e.Iam.ListAttachedPolicies(c, kind, f.Required(nameParam)), p =>
            {
                x.WriteStartElement("member");
                x.WriteElementString("PolicyName", p.PolicyName);
                x.WriteElementString("PolicyArn", p.Arn);
                x.WriteEndElement();
            })));
            yield return A($"Put{title}Policy", (e, c, f, x, ct) => e.Iam.PutInlinePolicyAsync(c, kind, f.Required(nameParam), f.Required("PolicyName"), f.Required("PolicyDocument"), ct));
            yield return A($"Get{title}Policy", Sync((e, c, f, x) =>
            {
                var name = f.Required(nameParam);
                var policyName = f.Required("PolicyName");
                var doc = e.Iam.GetInlinePolicy(c, kind, name, policyName);
                x.WriteElementString(nameParam, name);
                x.WriteElementString("PolicyName", policyName);
                x.WriteElementString("PolicyDocument", Uri.EscapeDataString(doc));
            }));
            yield return A($"List{title}Policies", Sync((e, c, f, x) => List(x, f, "PolicyNames", e.Iam.ListInlinePolicies(c, kind, f.Required(nameParam)),
                n => x.WriteElementString("member", n))));
            yield return A($"Delete{title}Policy", (e, c, f, x, ct) => e.Iam.DeleteInlinePolicyAsync(c, kind, f.Required(nameParam), f.Required("PolicyName"), ct));
        }
        // tags of users and roles
        foreach (var (kind, title) in new[] { ("user", "User"), ("role", "Role") })
        {
            var nameParam = title + "Name";
            yield return A($"Tag{title}", (e, c, f, x, ct) => e.Iam.TagAsync(c, kind, f.Required(nameParam), f.Tags() ?? [], ct));
            yield return A($"Untag{title}", (e, c, f, x, ct) => e.Iam.UntagAsync(c, kind, f.Required(nameParam), f.List("TagKeys"), ct));
            yield return A($"List{title}Tags", Sync((e, c, f, x) => List(x, f, "Tags", e.Iam.ListTags(c, kind, f.Required(nameParam)), t =>
            {
                x.WriteStartElement("member");
                x.WriteElementString("Key", t.Key);
                x.WriteElementString("Value", t.Value);
                x.WriteEndElement();
            })));
        }
        yield return A("SimulatePrincipalPolicy", Sync((e, c, f, x) =>
        {
            var results = e.Iam.SimulatePrincipalPolicy(c, f.Required("PolicySourceArn"), f.List("ActionNames"), f.List("ResourceArns"), f.ContextEntries(),
                f.Optional("ResourcePolicy"), f.Optional("CallerArn"));
            List(x, f, "EvaluationResults", results, r =>
            {
                x.WriteStartElement("member");
                x.WriteElementString("EvalActionName", r.Action);
                x.WriteElementString("EvalResourceName", r.Resource);
                x.WriteElementString("EvalDecision", r.Result.Decision switch
                {
                    Decision.Allowed => "allowed",
                    Decision.ExplicitDeny => "explicitDeny",
                    _ => "implicitDeny",
                });
                x.WriteStartElement("MatchedStatements");
                foreach (var s in r.Result.Statements)
                {
                    x.WriteStartElement("member");
                    x.WriteElementString("SourcePolicyId", s.Sid is { Length: > 0 } ? $"{s.PolicySource} ({s.Sid})" : $"{s.PolicySource} statement {s.Index}");
                    x.WriteElementString("SourcePolicyType", SourcePolicyType(s));
                    x.WriteEndElement();
                }
                x.WriteEndElement();
                x.WriteStartElement("MissingContextValues");
                x.WriteEndElement();
                if (r.Result.AllowedByPermissionsBoundary is { } bounded)
                {
                    x.WriteStartElement("PermissionsBoundaryDecisionDetail");
                    x.WriteElementString("AllowedByPermissionsBoundary", bounded ? "true" : "false");
                    x.WriteEndElement();
                }
                x.WriteEndElement();
            });
        }));
    }

    /// <summary>
    /// IAM's PolicySourceType for a matched statement: user, group or role (inline policies), user-managed (a
    /// customer managed policy, a permissions boundary included), aws-managed, resource, or none (the built-in ones).
    /// </summary>
    private static string SourcePolicyType(DecidingStatement s) =>
        s.Kind == PolicyKind.Resource ? "resource"
        : s.PolicySource.StartsWith("user/", StringComparison.Ordinal) ? "user"
        : s.PolicySource.StartsWith("group/", StringComparison.Ordinal) ? "group"
        : s.PolicySource.StartsWith("role/", StringComparison.Ordinal) ? "role"
        : s.PolicySource.StartsWith("arn:aws:iam::aws:", StringComparison.Ordinal) ? "aws-managed"
        : s.PolicySource.StartsWith("arn:aws:iam::", StringComparison.Ordinal) ? "user-managed"
        : "none";

    private static IEnumerable<KeyValuePair<string, Handler>> BuildSts()
    {
        yield return new("AssumeRole", Sync((e, c, f, x) =>
        {
            // Managed session policies only narrow a session; ignoring them would issue broader credentials than
            // the caller asked for, so they are refused until supported.
            if (f.Optional("PolicyArns.member.1.arn") is not null)
                throw IamErrors.Validation("PolicyArns is not supported by Coffer: pass the session policy inline in Policy.");
            var r = e.Iam.AssumeRole(c, f.Required("RoleArn"), f.Required("RoleSessionName"), f.Int("DurationSeconds"), f.Optional("Policy"), f.Optional("ExternalId"),
                f.Tags(), f.List("TransitiveTagKeys"), f.Optional("SourceIdentity"));
            Credentials(x, r.Credentials);
            x.WriteStartElement("AssumedRoleUser");
            x.WriteElementString("AssumedRoleId", r.AssumedRoleId);
            x.WriteElementString("Arn", r.Arn);
            x.WriteEndElement();
            x.WriteElementString("PackedPolicySize", r.PackedPolicySize.ToString(CultureInfo.InvariantCulture));
            if (r.SourceIdentity is not null) x.WriteElementString("SourceIdentity", r.SourceIdentity);
        }));
        yield return new("GetSessionToken", Sync((e, c, f, x) => Credentials(x, e.Iam.GetSessionToken(c, f.Int("DurationSeconds")))));
        yield return new("GetCallerIdentity", Sync((e, c, f, x) =>
        {
            var id = e.Iam.GetCallerIdentity(c);
            x.WriteElementString("UserId", id.UserId);
            x.WriteElementString("Account", id.Account);
            x.WriteElementString("Arn", id.Arn);
        }));
    }

    // ---- XML shapes ----

    private static string Date(DateTimeOffset d) => d.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    /// <summary>
    /// Writes one page of a list, as IAM pages: <c>MaxItems</c> (1–1000, default 100) items from the position
    /// <c>Marker</c> names; when more remain, <c>IsTruncated</c> is true and <c>Marker</c> is the value to send for
    /// the next page. Lists are in a stable order (by name), so a marker is the position it continues from.
    /// </summary>
    private static void List<T>(XmlWriter x, QueryRequest f, string element, IReadOnlyCollection<T> items, Action<T> write)
    {
        var (start, count) = Page(f, items.Count);
        x.WriteStartElement(element);
        foreach (var item in items.Skip(start).Take(count)) write(item);
        x.WriteEndElement();
        var next = start + count;
        x.WriteElementString("IsTruncated", next < items.Count ? "true" : "false");
        if (next < items.Count) x.WriteElementString("Marker", MarkerOf(next));
    }

    private const string MarkerPrefix = "coffer-page-v1:";

    private static string MarkerOf(int position) =>
        Convert.ToBase64String(System.Text.Encoding.ASCII.GetBytes(MarkerPrefix + position.ToString(CultureInfo.InvariantCulture)));

    private static (int Start, int Count) Page(QueryRequest f, int total)
    {
        var maxItems = f.Int("MaxItems") ?? 100;
        if (maxItems is < 1 or > 1000)
            throw IamErrors.Validation($"1 validation error detected: Value '{maxItems}' at 'maxItems' failed to satisfy constraint: Member must have value {(maxItems < 1 ? "greater than or equal to 1" : "less than or equal to 1000")}");
        var marker = f.Optional("Marker");
        if (marker is null) return (0, Math.Min(maxItems, total));
        int start;
        try
        {
            var text = System.Text.Encoding.ASCII.GetString(Convert.FromBase64String(marker));
            if (!text.StartsWith(MarkerPrefix, StringComparison.Ordinal) ||
                !int.TryParse(text.AsSpan(MarkerPrefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out start))
                throw new FormatException();
        }
        catch (FormatException)
        {
            throw IamErrors.Validation("Invalid Marker: send the Marker of the previous page's answer unchanged.");
        }
        // A marker past the end (the list shrank since) gives an empty last page.
        start = Math.Min(start, total);
        return (start, Math.Min(maxItems, total - start));
    }

    private static void Tags(XmlWriter x, IReadOnlyDictionary<string, string> tags)
    {
        if (tags.Count == 0) return;
        x.WriteStartElement("Tags");
        foreach (var (k, v) in tags)
        {
            x.WriteStartElement("member");
            x.WriteElementString("Key", k);
            x.WriteElementString("Value", v);
            x.WriteEndElement();
        }
        x.WriteEndElement();
    }

    private static void User(XmlWriter x, IamUser u, string element = "User")
    {
        x.WriteStartElement(element);
        x.WriteElementString("Path", u.Path);
        x.WriteElementString("UserName", u.UserName);
        x.WriteElementString("UserId", u.UserId);
        x.WriteElementString("Arn", u.Arn);
        x.WriteElementString("CreateDate", Date(u.CreateDate));
        // GetUser and CreateUser only: "IAM resource-listing operations return a subset of the available attributes"
        // and ListUsers names PermissionsBoundary and Tags among those it leaves out (API Reference, ListUsers);
        // GetGroup's members are written the same way.
        if (element != "member")
        {
            Boundary(x, u.PermissionsBoundary);
            Tags(x, u.Tags);
        }
        x.WriteEndElement();
    }

    private static void Group(XmlWriter x, IamGroup g, string element = "Group")
    {
        x.WriteStartElement(element);
        x.WriteElementString("Path", g.Path);
        x.WriteElementString("GroupName", g.GroupName);
        x.WriteElementString("GroupId", g.GroupId);
        x.WriteElementString("Arn", g.Arn);
        x.WriteElementString("CreateDate", Date(g.CreateDate));
        x.WriteEndElement();
    }

    private static void Role(XmlWriter x, IamRole r, string element = "Role")
    {
        x.WriteStartElement(element);
        x.WriteElementString("Path", r.Path);
        x.WriteElementString("RoleName", r.RoleName);
        x.WriteElementString("RoleId", r.RoleId);
        x.WriteElementString("Arn", r.Arn);
        x.WriteElementString("CreateDate", Date(r.CreateDate));
        // Policy documents travel URL-encoded in IAM's XML; the SDKs decode them.
        x.WriteElementString("AssumeRolePolicyDocument", Uri.EscapeDataString(r.AssumeRolePolicyDocument));
        if (r.Description is not null) x.WriteElementString("Description", r.Description);
        x.WriteElementString("MaxSessionDuration", r.MaxSessionDuration.ToString(CultureInfo.InvariantCulture));
        // GetRole and CreateRole only: ListRoles leaves out PermissionsBoundary, RoleLastUsed and Tags (API Reference, ListRoles).
        if (element != "member")
        {
            Boundary(x, r.PermissionsBoundary);
            Tags(x, r.Tags);
        }
        x.WriteEndElement();
    }

    /// <summary>
    /// AttachedPermissionsBoundary. Its type is "Policy" on the wire, the only value the API Reference gives in
    /// prose ("can only have a value of Policy") and what IAM sends, although the model's enum is spelled
    /// PermissionsBoundaryPolicy; the SDKs do not check response enums, so clients see "Policy".
    /// </summary>
    private static void Boundary(XmlWriter x, string? policyArn)
    {
        if (policyArn is null) return;
        x.WriteStartElement("PermissionsBoundary");
        x.WriteElementString("PermissionsBoundaryType", "Policy");
        x.WriteElementString("PermissionsBoundaryArn", policyArn);
        x.WriteEndElement();
    }

    private static void ManagedPolicy(QueryEndpoint e, XmlWriter x, IamManagedPolicy p, string element = "Policy")
    {
        x.WriteStartElement(element);
        x.WriteElementString("PolicyName", p.PolicyName);
        x.WriteElementString("PolicyId", p.PolicyId);
        x.WriteElementString("Arn", p.Arn);
        x.WriteElementString("Path", p.Path);
        x.WriteElementString("DefaultVersionId", p.DefaultVersionId);
        x.WriteElementString("AttachmentCount", e.Iam.Directory.AttachmentCount(p.Arn).ToString(CultureInfo.InvariantCulture));
        x.WriteElementString("PermissionsBoundaryUsageCount", e.Iam.Directory.BoundaryUsageCount(p.Arn).ToString(CultureInfo.InvariantCulture));
        x.WriteElementString("IsAttachable", "true");
        if (p.Description is not null) x.WriteElementString("Description", p.Description);
        x.WriteElementString("CreateDate", Date(p.CreateDate));
        x.WriteElementString("UpdateDate", Date(p.UpdateDate));
        x.WriteEndElement();
    }

    private static void Version(XmlWriter x, IamPolicyVersion v, bool isDefault, bool withDocument, string element = "PolicyVersion")
    {
        x.WriteStartElement(element);
        if (withDocument) x.WriteElementString("Document", Uri.EscapeDataString(v.Document));
        x.WriteElementString("VersionId", v.VersionId);
        x.WriteElementString("IsDefaultVersion", isDefault ? "true" : "false");
        x.WriteElementString("CreateDate", Date(v.CreateDate));
        x.WriteEndElement();
    }

    private static void Credentials(XmlWriter x, TemporaryCredentials c)
    {
        x.WriteStartElement("Credentials");
        x.WriteElementString("AccessKeyId", c.AccessKeyId);
        x.WriteElementString("SecretAccessKey", c.SecretAccessKey);
        x.WriteElementString("SessionToken", c.SessionToken);
        x.WriteElementString("Expiration", Date(c.Expiration));
        x.WriteEndElement();
    }
}
