using System.Buffers;
using System.Collections.Frozen;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Xml.Linq;
using Coffer.Core;
using Coffer.Core.Audit;
using Microsoft.AspNetCore.Http;

namespace Coffer.Protocol.Query;

/// <summary>
/// The Query edge's part of the audit trail (issue 4), as <see cref="AwsJsonEndpoint"/> does for AWS JSON: one
/// record per recognised IAM or STS call, handed to <see cref="AuditTrail"/> before the response is written.
/// A mutating call first checks that a sink is available (no write is applied that cannot be recorded); a call
/// whose record no sink takes is answered only with the 500 error (fail closed). Request parameters and response
/// elements go through allow-lists that never hold a password, secret access key or session token.
/// </summary>
public sealed partial class QueryEndpoint
{
    /// <summary>The trail refused a record or the pre-write check: answer the 500 error and record nothing more.</summary>
    private sealed class AuditRefusedException : Exception;

    /// <summary>
    /// The request parameters an IAM or STS record may carry. Names only an action takes appear only for that
    /// action. Never: Password, OldPassword, NewPassword, SecretAccessKey, SessionToken, SerialNumber, TokenCode.
    /// </summary>
    private static readonly FrozenSet<string> RequestAllowList = FrozenSet.ToFrozenSet(
    [
        "UserName", "GroupName", "RoleName", "PolicyName", "PolicyArn", "Path", "PathPrefix", "NewPath", "AccessKeyId",
        "Status", "VersionId", "SetAsDefault", "Description", "MaxSessionDuration", "AssumeRolePolicyDocument",
        "PolicyDocument", "PolicySourceArn", "Scope", "OnlyAttached", "PolicyUsageFilter", "Marker", "MaxItems",
        "RoleArn", "RoleSessionName", "DurationSeconds", "Policy", "ExternalId", "PermissionsBoundary", "SourceIdentity",
        "ActionNames.member.1", "ResourceArns.member.1", "CallerArn", "ResourcePolicy",
    ], StringComparer.Ordinal);

    /// <summary>
    /// The lists a record keeps whole, as CloudTrail does: tags (session tags, TagUser/TagRole, and tags given at
    /// creation) and tag keys. Tags are attributes for access control, not secrets.
    /// </summary>
    private static readonly FrozenSet<string> RequestLists = FrozenSet.ToFrozenSet(["Tags", "TagKeys", "TransitiveTagKeys"], StringComparer.Ordinal);

    /// <summary>Per action, the response elements (paths under the Result element) a record keeps.</summary>
    private static readonly FrozenDictionary<string, string[]> ResponseAllowList = new Dictionary<string, string[]>
    {
        ["CreateUser"] = ["User/Path", "User/UserName", "User/UserId", "User/Arn", "User/CreateDate",
            "User/PermissionsBoundary/PermissionsBoundaryType", "User/PermissionsBoundary/PermissionsBoundaryArn"],
        ["CreateGroup"] = ["Group/Path", "Group/GroupName", "Group/GroupId", "Group/Arn", "Group/CreateDate"],
        ["CreateRole"] = ["Role/Path", "Role/RoleName", "Role/RoleId", "Role/Arn", "Role/CreateDate",
            "Role/PermissionsBoundary/PermissionsBoundaryType", "Role/PermissionsBoundary/PermissionsBoundaryArn"],
        ["CreateAccessKey"] = ["AccessKey/UserName", "AccessKey/AccessKeyId", "AccessKey/Status", "AccessKey/CreateDate"],
        ["CreatePolicy"] = ["Policy/PolicyName", "Policy/PolicyId", "Policy/Arn", "Policy/Path", "Policy/DefaultVersionId"],
        ["CreatePolicyVersion"] = ["PolicyVersion/VersionId", "PolicyVersion/IsDefaultVersion"],
        ["AssumeRole"] = ["Credentials/AccessKeyId", "Credentials/Expiration", "AssumedRoleUser/AssumedRoleId", "AssumedRoleUser/Arn", "PackedPolicySize", "SourceIdentity"],
        ["GetSessionToken"] = ["Credentials/AccessKeyId", "Credentials/Expiration"],
    }.ToFrozenDictionary(StringComparer.Ordinal);

    /// <summary>CloudTrail's readOnly: the Get/List/Simulate actions (GetCallerIdentity included).</summary>
    internal static bool IsReadOnly(string action) =>
        action.StartsWith("Get", StringComparison.Ordinal) || action.StartsWith("List", StringComparison.Ordinal)
        || action.StartsWith("Simulate", StringComparison.Ordinal);

    private async Task EnsureAuditAvailableAsync(string action)
    {
        if (audit is null || IsReadOnly(action)) return;
        try
        {
            await audit.EnsureAvailableAsync().ConfigureAwait(false);
        }
        catch (ServiceException)
        {
            throw new AuditRefusedException();
        }
    }

    private async Task RecordAsync(HttpContext http, string requestId, string service, string action, RequestContext? context,
        QueryRequest? form, string? resultXml, string? errorCode, string? errorMessage)
    {
        if (audit is null) return;
        var readOnly = IsReadOnly(action);
        var accountId = context?.Caller.AccountId;
        IReadOnlyList<AuditResource> resources = action == "AssumeRole" && form?.Optional("RoleArn") is { Length: > 0 } roleArn
            ? [new AuditResource(roleArn, accountId, "AWS::IAM::Role")]
            : [];
        var e = new AuditEvent
        {
            EventTime = time.GetUtcNow(),
            EventSource = service + ".amazonaws.com",
            EventName = action,
            AwsRegion = context?.Region ?? ScopeRegion(http.Request.Headers.Authorization.ToString()) ?? "us-east-1",
            SourceIPAddress = context?.SourceIp ?? http.Connection.RemoteIpAddress?.ToString(),
            UserAgent = context?.UserAgent ?? http.Request.Headers.UserAgent.ToString(),
            UserIdentity = context is not null ? AuditIdentity.Of(context.Caller) : AuditIdentity.Unauthenticated(ScopeKeyId(http.Request.Headers.Authorization.ToString())),
            RequestParameters = form is null ? null : RequestParameters(action, form, context),
            ResponseElements = errorCode is null && resultXml is not null ? ResponseElements(action, resultXml) : null,
            Resources = resources,
            ErrorCode = errorCode,
            ErrorMessage = errorMessage,
            RequestId = requestId,
            ReadOnly = readOnly,
            RecipientAccountId = accountId,
        };
        try
        {
            await audit.RecordAsync(e, applied: errorCode is null && !readOnly).ConfigureAwait(false);
        }
        catch (ServiceException)
        {
            throw new AuditRefusedException();
        }
    }

    /// <summary>
    /// The allow-listed parameters; for AssumeRole by a session that passes tags on, also CloudTrail's
    /// <c>incomingTransitiveTags</c> (the tags the new session inherits whether or not the request names them).
    /// </summary>
    private static byte[]? RequestParameters(string action, QueryRequest form, RequestContext? context)
    {
        var json = AuditFields.FromPairs(form.Pairs, RequestAllowList, RequestLists);
        if (action != "AssumeRole" || context?.Caller is not { TransitiveTagKeys.Count: > 0 } caller) return json;
        var node = json is null ? new JsonObject() : (JsonObject)JsonNode.Parse(json)!;
        var incoming = new JsonObject();
        foreach (var (k, v) in caller.SessionTags)
            if (caller.TransitiveTagKeys.Contains(k, StringComparer.OrdinalIgnoreCase)) incoming[k] = v;
        node["incomingTransitiveTags"] = incoming;
        var output = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(output, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
            node.WriteTo(writer);
        return output.WrittenSpan.ToArray();
    }

    /// <summary>Records a failed call; false when the trail refused the record (answer the 500 error instead).</summary>
    private async Task<bool> TryRecordFailureAsync(HttpContext http, string requestId, string service, string action, RequestContext? context,
        QueryRequest? form, string code, string message)
    {
        try
        {
            await RecordAsync(http, requestId, service, action, context, form, null, code, message).ConfigureAwait(false);
            return true;
        }
        catch (AuditRefusedException)
        {
            return false;
        }
    }

    /// <summary>
    /// The allow-listed elements of the response's Result element, as a camelCase JSON object: a path's last name
    /// is a string, the names before it nested objects (CloudTrail's responseElements mirror the response shape,
    /// e.g. user.permissionsBoundary.permissionsBoundaryArn). An element the response lacks is left out.
    /// </summary>
    private static byte[]? ResponseElements(string action, string resultXml)
    {
        if (!ResponseAllowList.TryGetValue(action, out var paths)) return null;
        var root = XDocument.Parse(resultXml).Root;
        var result = root?.Elements().FirstOrDefault(e => e.Name.LocalName == action + "Result");
        if (result is null) return null;
        var output = new ArrayBufferWriter<byte>(256);
        bool any;
        using (var writer = new Utf8JsonWriter(output))
        {
            writer.WriteStartObject();
            any = WriteElements(writer, result, paths);
            writer.WriteEndObject();
        }
        return any ? output.WrittenSpan.ToArray() : null;
    }

    /// <summary>Writes the paths (relative to parent) that parent has; true when it wrote anything.</summary>
    private static bool WriteElements(Utf8JsonWriter writer, XElement parent, IEnumerable<string> paths)
    {
        var any = false;
        foreach (var group in paths.GroupBy(p => p.Split('/', 2)[0], StringComparer.Ordinal))
        {
            if (Child(parent, group.Key) is not { } element) continue;
            var below = group.Where(p => p.Length > group.Key.Length).Select(p => p[(group.Key.Length + 1)..]).ToList();
            if (below.Count == 0)
            {
                writer.WriteString(Camel(group.Key), element.Value);
            }
            else
            {
                writer.WriteStartObject(Camel(group.Key));
                WriteElements(writer, element, below);
                writer.WriteEndObject();
            }
            any = true;
        }
        return any;
    }

    private static XElement? Child(XElement parent, string localName) => parent.Elements().FirstOrDefault(e => e.Name.LocalName == localName);

    private static string Camel(string name) => char.ToLowerInvariant(name[0]) + name[1..];

    /// <summary>The access key id an Authorization header claims, before any check (for unauthenticated records).</summary>
    private static string? ScopeKeyId(string authorization) => ScopePart(authorization, 0) is { } k && k.Length <= 128 && k.All(char.IsAsciiLetterOrDigit) ? k : null;

    private static string? ScopeRegion(string authorization) =>
        ScopePart(authorization, 2) is { } r && r.Length is > 0 and <= 32 && r.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '-') ? r : null;

    private static string? ScopePart(string authorization, int index)
    {
        var i = authorization.IndexOf("Credential=", StringComparison.Ordinal);
        if (i < 0) return null;
        var end = authorization.IndexOfAny([',', ' '], i);
        var parts = authorization[(i + "Credential=".Length)..(end < 0 ? authorization.Length : end)].Split('/');
        return parts.Length > index && parts[index].Length > 0 ? parts[index] : null;
    }
}
