using System.Text.Json;

namespace Coffer.Core.Principals;

/// <summary>
/// A role assumed by an AWS service on Coffer's own behalf (a function's execution role, assumed for
/// <c>lambda.amazonaws.com</c>). The policy parser ignores service principals because no service ever calls Coffer
/// with credentials; this is the one place they matter: the role's trust policy must allow the service principal
/// to call sts:AssumeRole, as AWS requires before Lambda may use an execution role.
/// </summary>
public sealed partial class IamService
{
    /// <summary>
    /// Issues temporary credentials of <paramref name="roleArn"/> for <paramref name="servicePrincipal"/>. Throws
    /// AccessDenied when the role does not exist or its trust policy does not allow the service (a statement with
    /// <c>"Principal": {"Service": "…"}</c> or <c>"*"</c>, action sts:AssumeRole, no Condition; an explicit Deny wins).
    /// </summary>
    public AssumeRoleResult AssumeRoleForService(string roleArn, string servicePrincipal, string roleSessionName, TimeSpan lifetime)
    {
        var denied = $"The role defined for the function cannot be assumed by {servicePrincipal}: {roleArn}";
        var name = roleArn[(roleArn.LastIndexOf('/') + 1)..];
        var role = directory.FindRole(name);
        if (role is null || role.Arn != roleArn) throw IamErrors.AccessDenied(denied);
        if (!ServiceTrust.Allows(role.AssumeRolePolicyDocument, servicePrincipal)) throw IamErrors.AccessDenied(denied);
        var sessionArn = $"arn:aws:sts::{AccountId}:assumed-role/{role.RoleName}/{roleSessionName}";
        var userId = $"{role.RoleId}:{roleSessionName}";
        if (lifetime > TimeSpan.FromSeconds(role.MaxSessionDuration)) lifetime = TimeSpan.FromSeconds(role.MaxSessionDuration);
        var (claims, token) = sessions.Issue(sessionArn, userId, roleSessionName, PrincipalKind.AssumedRole, role.Arn, null, lifetime);
        return new AssumeRoleResult(
            new TemporaryCredentials(claims.AccessKeyId, claims.SecretAccessKey, token, DateTimeOffset.FromUnixTimeMilliseconds(claims.ExpiresMs)),
            userId, sessionArn, 0);
    }
}

/// <summary>Whether a trust policy document lets a service principal assume the role (see <see cref="IamService.AssumeRoleForService"/>).</summary>
public static class ServiceTrust
{
    public static bool Allows(string trustPolicy, string servicePrincipal)
    {
        try
        {
            using var doc = JsonDocument.Parse(trustPolicy);
            if (!doc.RootElement.TryGetProperty("Statement", out var statements)) return false;
            var allowed = false;
            foreach (var s in statements.ValueKind == JsonValueKind.Array ? statements.EnumerateArray().ToArray() : [statements])
            {
                if (s.ValueKind != JsonValueKind.Object) continue;
                if (!CoversAction(s) || !NamesService(s, servicePrincipal)) continue;
                var effect = s.TryGetProperty("Effect", out var e) ? e.GetString() : null;
                if (effect == "Deny") return false;
                // Conditions (aws:SourceArn and the like) describe the calling resource, which Coffer does not model.
                if (effect == "Allow" && !s.TryGetProperty("Condition", out _)) allowed = true;
            }
            return allowed;
        }
        catch (JsonException) { return false; }
        catch (InvalidOperationException) { return false; }
    }

    private static bool CoversAction(JsonElement statement)
    {
        if (!statement.TryGetProperty("Action", out var action)) return false;
        foreach (var a in Strings(action))
            if (a is "*" or "sts:*" || string.Equals(a, "sts:AssumeRole", StringComparison.OrdinalIgnoreCase)) return true;
        return false;
    }

    private static bool NamesService(JsonElement statement, string service)
    {
        if (!statement.TryGetProperty("Principal", out var principal)) return false;
        if (principal.ValueKind == JsonValueKind.String) return principal.GetString() == "*";
        if (principal.ValueKind != JsonValueKind.Object || !principal.TryGetProperty("Service", out var services)) return false;
        return Strings(services).Contains(service, StringComparer.Ordinal);
    }

    private static IEnumerable<string> Strings(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.String => [value.GetString()!],
        JsonValueKind.Array => value.EnumerateArray().Where(v => v.ValueKind == JsonValueKind.String).Select(v => v.GetString()!).ToArray(),
        _ => [],
    };
}
