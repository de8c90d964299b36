using System.Collections.Concurrent;
using Coffer.Core.Policies;

namespace Coffer.Core.Secrets;

/// <summary>
/// Authorization of the Secrets Manager actions (spec §8): each action asks <see cref="Authorize"/> once, with the
/// action name, the secret (or, when it does not exist, the ARN it would have) and the request's condition keys.
/// The pure <see cref="PolicyEvaluator"/> decides, with the secret's resource policy beside the caller's identity
/// policies. A caller that may not act on a missing secret hears AccessDenied, not ResourceNotFound, so names do
/// not leak. Without <see cref="Access"/> (library tests) every call is allowed.
/// </summary>
public sealed partial class SecretService
{
    private readonly ConcurrentDictionary<string, Policy> _resourcePolicies = new(StringComparer.Ordinal);

    /// <summary>The authorizer; null means no access control (tests of the action rules only).</summary>
    public AccessControl? Access { get; init; }

    /// <summary>
    /// Throws AccessDeniedException unless the caller may perform <paramref name="action"/> on the secret. For a
    /// missing secret the resource is the ARN named by <paramref name="secretId"/> (a name becomes its ARN
    /// without suffix, as AWS reports it).
    /// </summary>
    internal void Authorize(RequestContext ctx, string action, Secret? secret, string? secretId, ConditionValues? request = null)
    {
        if (Access is null) return;
        var resource = secret?.Arn ?? (secretId is null ? "*"
            : secretId.StartsWith("arn:", StringComparison.Ordinal) ? secretId
            : $"arn:{SecretArn.Partition}:secretsmanager:{ctx.Region}:{AccountId}:secret:{secretId}");
        var conditions = new SecretConditions(secret, request);
        var policy = secret?.ResourcePolicy is { } text ? CompiledResourcePolicy(text) : null;
        var result = Access.Evaluate(ctx, action, resource, conditions, policy);
        if (result.IsAllowed) return;
        // The administrator cannot lock itself out of a secret's policy: it may always read, replace or remove it.
        if (ctx.Caller.IsAdministrator && action is "secretsmanager:GetResourcePolicy" or "secretsmanager:PutResourcePolicy" or "secretsmanager:DeleteResourcePolicy")
            return;
        throw ServiceException.AccessDenied(PolicyEvaluator.DeniedMessage(ctx.Caller.Arn, action, resource, result));
    }

    /// <summary>For actions on no particular secret (ListSecrets, GetRandomPassword, BatchGetSecretValue): resource "*".</summary>
    public void Authorize(RequestContext ctx, string action) => Authorize(ctx, action, null, null);

    private bool IsAllowed(RequestContext ctx, string action, Secret secret)
    {
        try
        {
            Authorize(ctx, action, secret, null);
            return true;
        }
        catch (ServiceException e) when (e.Code == "AccessDeniedException")
        {
            return false;
        }
    }

    private Policy CompiledResourcePolicy(string text)
    {
        if (_resourcePolicies.TryGetValue(text, out var p)) return p;
        p = Policy.Parse(text, PolicyKind.Resource, "the secret's resource policy");
        if (_resourcePolicies.Count > 10_000) _resourcePolicies.Clear();
        _resourcePolicies[text] = p;
        return p;
    }

    /// <summary>Resolves a secret inside a write and authorises the action on it (or on the ARN it would have).</summary>
    private Secret ResolveForWrite(ISecretTransaction tx, RequestContext ctx, string secretId, string action, ConditionValues? request = null)
    {
        var secret = Resolve(tx, ctx.Region, secretId);
        Authorize(ctx, action, secret, secretId, request);
        if (secret is null) throw ServiceException.ResourceNotFound();
        if (secret.IsScheduledForDeletion) throw ServiceException.InvalidRequest(ServiceException.MarkedForDeletion);
        return secret;
    }

    private async Task<Secret> ResolveAuthorizedAsync(RequestContext ctx, string secretId, string action, ConditionValues? request, CancellationToken ct)
    {
        var secret = await ResolveAsync(ctx.Region, secretId, ct).ConfigureAwait(false);
        Authorize(ctx, action, secret, secretId, request);
        return secret ?? throw ServiceException.ResourceNotFound();
    }

    private static ConditionValues? Keys(params (string Key, string? Value)[] pairs)
    {
        ConditionValues? values = null;
        foreach (var (k, v) in pairs)
            if (v is not null) (values ??= new ConditionValues()).Set(k, v);
        return values;
    }

    private static ConditionValues? TagKeys(ConditionValues? values, IEnumerable<Tag>? tags, bool requestTags)
    {
        if (tags is null) return values;
        values ??= new ConditionValues();
        var list = tags.ToList();
        values.Set("aws:TagKeys", [.. list.Select(t => t.Key)]);
        if (requestTags)
            foreach (var t in list) values.Set("aws:RequestTag/" + t.Key, t.Value ?? "");
        return values;
    }

    /// <summary>
    /// The secret-scoped condition keys (spec §8), read from the secret on demand; request keys come first.
    /// </summary>
    private sealed class SecretConditions(Secret? secret, ConditionValues? request) : IConditionValues
    {
        public IReadOnlyList<string>? Get(string key)
        {
            if (request?.Get(key) is { } v) return v;
            if (secret is null) return null;
            if (key.StartsWith("aws:ResourceTag/", StringComparison.OrdinalIgnoreCase)) return Tag(key["aws:ResourceTag/".Length..]);
            if (key.StartsWith("secretsmanager:ResourceTag/", StringComparison.OrdinalIgnoreCase)) return Tag(key["secretsmanager:ResourceTag/".Length..]);
            return key.ToLowerInvariant() switch
            {
                "secretsmanager:secretid" => [secret.Arn],
                "secretsmanager:secretprimaryregion" => [secret.PrimaryRegion ?? secret.Region],
                "secretsmanager:resource/allowrotationlambdaarn" => secret.RotationLambdaArn is { } l ? [l] : null,
                "secretsmanager:resource/type" => secret.Type is { } t ? [t] : null,
                _ => null,
            };
        }

        private IReadOnlyList<string>? Tag(string name)
        {
            if (secret?.Tags is null) return null;
            foreach (var t in secret.Tags)
                if (t.Key == name) return [t.Value ?? ""];
            return null;
        }
    }
}
