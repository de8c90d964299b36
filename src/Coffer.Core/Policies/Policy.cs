using System.Text.Json;

namespace Coffer.Core.Policies;

/// <summary>Where a policy document is used; the grammar differs in the Principal and Resource elements.</summary>
public enum PolicyKind
{
    /// <summary>Attached to a user, group or role (managed or inline): no Principal, Resource required.</summary>
    Identity,
    /// <summary>A secret's resource policy: Principal required, Resource optional ("*" means this secret).</summary>
    Resource,
    /// <summary>A role's trust policy: Principal required, sts actions.</summary>
    Trust,
    /// <summary>A session policy passed to AssumeRole: like an identity policy, it can only narrow.</summary>
    Session,
}

/// <summary>
/// A parsed and compiled IAM policy document (Version, Id, Statement with Sid, Effect, Principal/NotPrincipal,
/// Action/NotAction, Resource/NotResource, Condition). Parsing is strict: duplicate keys, unknown elements,
/// wrong types, unknown operators are refused with MalformedPolicyDocument naming the problem. Compile once and
/// reuse: evaluation allocates nothing for literal and wildcard patterns.
/// </summary>
public sealed class Policy
{
    private static readonly HashSet<string> ConditionOperators = new(StringComparer.Ordinal)
    {
        "StringEquals", "StringNotEquals", "StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase", "StringLike", "StringNotLike",
        "NumericEquals", "NumericNotEquals", "NumericLessThan", "NumericLessThanEquals", "NumericGreaterThan", "NumericGreaterThanEquals",
        "DateEquals", "DateNotEquals", "DateLessThan", "DateLessThanEquals", "DateGreaterThan", "DateGreaterThanEquals",
        "Bool", "BinaryEquals", "IpAddress", "NotIpAddress", "ArnEquals", "ArnLike", "ArnNotEquals", "ArnNotLike", "Null",
    };

    private Policy(string source, PolicyKind kind, IReadOnlyList<PolicyStatementRule> statements)
    {
        Source = source;
        Kind = kind;
        Statements = statements;
    }

    /// <summary>What the policy is, for explanations: a managed policy ARN, "user/bob inline P", "resource policy"…</summary>
    public string Source { get; }
    public PolicyKind Kind { get; }
    public IReadOnlyList<PolicyStatementRule> Statements { get; }

    /// <summary>Throws ServiceException MalformedPolicyDocumentException naming the first problem.</summary>
    public static Policy Parse(string text, PolicyKind kind, string source)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(text, new JsonDocumentOptions { AllowDuplicateProperties = false, MaxDepth = 32 });
        }
        catch (JsonException)
        {
            throw Malformed("The policy is not valid JSON (or it repeats a key).");
        }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw Malformed("The policy must be a JSON object.");
            JsonElement? statement = null;
            var variables = false;
            foreach (var p in root.EnumerateObject())
            {
                switch (p.Name)
                {
                    case "Version":
                        if (p.Value.ValueKind != JsonValueKind.String || p.Value.GetString() is not ("2012-10-17" or "2008-10-17"))
                            throw Malformed("Version must be \"2012-10-17\" or \"2008-10-17\".");
                        variables = p.Value.GetString() == "2012-10-17";
                        break;
                    case "Id":
                        if (p.Value.ValueKind != JsonValueKind.String) throw Malformed("Id must be a string.");
                        break;
                    case "Statement":
                        statement = p.Value;
                        break;
                    default:
                        throw Malformed($"Unknown policy element: {p.Name}.");
                }
            }
            if (statement is not { } s) throw Malformed("The policy has no Statement.");
            var list = new List<PolicyStatementRule>();
            if (s.ValueKind == JsonValueKind.Object) list.Add(ParseStatement(s, kind, variables, 0));
            else if (s.ValueKind == JsonValueKind.Array)
                foreach (var item in s.EnumerateArray())
                {
                    if (item.ValueKind != JsonValueKind.Object) throw Malformed("Each statement must be a JSON object.");
                    list.Add(ParseStatement(item, kind, variables, list.Count));
                }
            else throw Malformed("Statement must be an object or an array of objects.");
            if (list.Count == 0) throw Malformed("The policy has no statements.");
            var sids = new HashSet<string>(StringComparer.Ordinal);
            foreach (var st in list)
                if (st.Sid is { Length: > 0 } sid && !sids.Add(sid))
                    throw Malformed($"Statement IDs (SID) in a single policy must be unique: {sid}.");
            return new Policy(source, kind, list);
        }
    }

    /// <summary>
    /// True when an Allow statement names every principal ("*", {"AWS":"*"}, or NotPrincipal) without a condition
    /// that narrows it (a conservative stand-in for AWS's automated reasoning check).
    /// </summary>
    public bool GrantsPublicAccess() =>
        Statements.Any(s => s.IsAllow && s.Conditions.Count == 0 && (s.NotPrincipal || s.PrincipalAll));

    private static PolicyStatementRule ParseStatement(JsonElement e, PolicyKind kind, bool variables, int index)
    {
        string? sid = null, effect = null;
        List<string>? principalAws = null;
        bool hasPrincipal = false, notPrincipal = false, principalAll = false;
        List<string>? actions = null, resources = null;
        bool notAction = false, notResource = false;
        var conditions = new List<PolicyCondition>();
        foreach (var p in e.EnumerateObject())
        {
            switch (p.Name)
            {
                case "Sid":
                    if (p.Value.ValueKind != JsonValueKind.String) throw Malformed("Sid must be a string.");
                    sid = p.Value.GetString();
                    if (sid!.Any(c => !char.IsAsciiLetterOrDigit(c)) && kind == PolicyKind.Identity)
                        throw Malformed($"Statement IDs (SID) must be alpha-numeric: {sid}.");
                    break;
                case "Effect":
                    effect = p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString() : null;
                    if (effect is not ("Allow" or "Deny")) throw Malformed("Effect must be \"Allow\" or \"Deny\".");
                    break;
                case "Principal" or "NotPrincipal":
                    if (kind is PolicyKind.Identity or PolicyKind.Session)
                        throw Malformed("Policy document should not specify a principal.");
                    if (hasPrincipal) throw Malformed("A statement can have Principal or NotPrincipal, not both.");
                    hasPrincipal = true;
                    notPrincipal = p.Name == "NotPrincipal";
                    principalAws = ReadPrincipal(p.Value, out principalAll);
                    break;
                case "Action" or "NotAction":
                    if (actions is not null) throw Malformed("A statement can have Action or NotAction, not both.");
                    notAction = p.Name == "NotAction";
                    actions = StringOrArray(p.Value, p.Name);
                    foreach (var a in actions)
                        if (a != "*" && !a.Contains(':')) throw Malformed($"Action \"{a}\" must have the form service:action.");
                    break;
                case "Resource" or "NotResource":
                    if (resources is not null) throw Malformed("A statement can have Resource or NotResource, not both.");
                    notResource = p.Name == "NotResource";
                    resources = StringOrArray(p.Value, p.Name);
                    foreach (var r in resources)
                        if (r != "*" && !r.StartsWith("arn:", StringComparison.Ordinal) && kind != PolicyKind.Resource)
                            throw Malformed($"Resource {r} must be in ARN format or \"*\".");
                    break;
                case "Condition":
                    ReadCondition(p.Value, variables, conditions);
                    break;
                default:
                    throw Malformed($"Unknown statement element: {p.Name}.");
            }
        }
        if (effect is null) throw Malformed("Each statement needs an Effect.");
        if (actions is null) throw Malformed("Each statement needs an Action or NotAction.");
        if (kind is PolicyKind.Resource or PolicyKind.Trust && !hasPrincipal)
            throw Malformed("A statement of a resource policy needs a Principal or NotPrincipal.");
        if (kind is PolicyKind.Identity or PolicyKind.Session && resources is null)
            throw Malformed("Policy statement must contain resources.");
        return new PolicyStatementRule(index, sid, effect == "Allow",
            [.. actions.Select(a => PolicyPattern.Compile(a, ignoreCase: true, variables: false))], notAction,
            resources is null ? null : [.. resources.Select(r => PolicyPattern.Compile(r, ignoreCase: false, variables))], notResource,
            hasPrincipal, notPrincipal, principalAll, principalAws ?? [], conditions);
    }

    private static List<string> ReadPrincipal(JsonElement value, out bool all)
    {
        all = false;
        var aws = new List<string>();
        if (value.ValueKind == JsonValueKind.String)
        {
            if (value.GetString() != "*") throw Malformed("A Principal given as a string must be \"*\".");
            all = true;
            return aws;
        }
        if (value.ValueKind != JsonValueKind.Object) throw Malformed("Principal must be \"*\" or an object.");
        foreach (var p in value.EnumerateObject())
        {
            if (p.Name is not ("AWS" or "Service" or "Federated" or "CanonicalUser"))
                throw Malformed($"Unknown principal type: {p.Name}.");
            foreach (var v in StringOrArray(p.Value, "Principal"))
            {
                if (p.Name != "AWS") continue; // service, federated and canonical principals never call Coffer
                if (v == "*" || v.StartsWith("arn:aws:iam::*", StringComparison.Ordinal)) all = true;
                else if (v.Length == 12 && v.All(char.IsAsciiDigit)) aws.Add(v);
                else if (v.StartsWith("arn:aws:iam::", StringComparison.Ordinal) || v.StartsWith("arn:aws:sts::", StringComparison.Ordinal)) aws.Add(v);
                else throw Malformed($"Invalid principal in policy: \"AWS\":\"{v}\".");
            }
        }
        return aws;
    }

    private static void ReadCondition(JsonElement value, bool variables, List<PolicyCondition> into)
    {
        if (value.ValueKind != JsonValueKind.Object) throw Malformed("Condition must be an object.");
        foreach (var op in value.EnumerateObject())
        {
            var name = op.Name;
            if (name.StartsWith("ForAnyValue:", StringComparison.Ordinal)) name = name["ForAnyValue:".Length..];
            else if (name.StartsWith("ForAllValues:", StringComparison.Ordinal)) name = name["ForAllValues:".Length..];
            if (name.EndsWith("IfExists", StringComparison.Ordinal) && name != "Null") name = name[..^"IfExists".Length];
            if (!ConditionOperators.Contains(name))
                throw Malformed($"Unknown condition operator: {op.Name}.");
            if (op.Value.ValueKind != JsonValueKind.Object) throw Malformed($"The {op.Name} condition must be an object.");
            foreach (var key in op.Value.EnumerateObject())
            {
                var values = new List<string>();
                var v = key.Value;
                if (v.ValueKind == JsonValueKind.Array)
                {
                    foreach (var x in v.EnumerateArray()) values.Add(Scalar(x, key.Name));
                    if (values.Count == 0) throw Malformed($"The condition key {key.Name} has an empty list of values.");
                }
                else values.Add(Scalar(v, key.Name));
                into.Add(new PolicyCondition(op.Name, key.Name, [.. values], variables));
            }
        }
    }

    private static string Scalar(JsonElement v, string key) => v.ValueKind switch
    {
        JsonValueKind.String => v.GetString()!,
        JsonValueKind.Number => v.GetRawText(),
        JsonValueKind.True => "true",
        JsonValueKind.False => "false",
        _ => throw Malformed($"The value of condition key {key} must be a string, number, boolean or an array of them."),
    };

    private static List<string> StringOrArray(JsonElement value, string element)
    {
        var list = new List<string>();
        if (value.ValueKind == JsonValueKind.String) list.Add(value.GetString()!);
        else if (value.ValueKind == JsonValueKind.Array)
            foreach (var item in value.EnumerateArray())
            {
                if (item.ValueKind != JsonValueKind.String) throw Malformed($"{element} must be a string or an array of strings.");
                list.Add(item.GetString()!);
            }
        else throw Malformed($"{element} must be a string or an array of strings.");
        if (list.Count == 0) throw Malformed($"{element} must not be empty.");
        return list;
    }

    private static ServiceException Malformed(string message) => ServiceException.MalformedPolicy(message);
}

/// <summary>How a Principal element relates to the caller.</summary>
public enum PrincipalMatch
{
    None,
    /// <summary>The caller's account is named (account id or :root): delegates to the caller's identity policies.</summary>
    Account,
    /// <summary>The caller itself, its role, or everyone ("*").</summary>
    Direct,
}

/// <summary>One compiled statement.</summary>
public sealed class PolicyStatementRule
{
    private readonly PolicyPattern[] _actions;
    private readonly PolicyPattern[]? _resources;
    private readonly List<string> _principals;

    internal PolicyStatementRule(int index, string? sid, bool isAllow, PolicyPattern[] actions, bool notAction,
        PolicyPattern[]? resources, bool notResource, bool hasPrincipal, bool notPrincipal, bool principalAll,
        List<string> principals, List<PolicyCondition> conditions)
    {
        Index = index;
        Sid = sid;
        IsAllow = isAllow;
        _actions = actions;
        NotAction = notAction;
        _resources = resources;
        NotResource = notResource;
        HasPrincipal = hasPrincipal;
        NotPrincipal = notPrincipal;
        PrincipalAll = principalAll;
        _principals = principals;
        Conditions = conditions;
    }

    public int Index { get; }
    public string? Sid { get; }
    /// <summary>The AWS principals named (ARNs and account ids), for findings.</summary>
    public IReadOnlyList<string> PrincipalArns => _principals;
    public bool IsAllow { get; }
    public bool NotAction { get; }
    public bool NotResource { get; }
    public bool HasPrincipal { get; }
    public bool NotPrincipal { get; }
    public bool PrincipalAll { get; }
    internal IReadOnlyList<PolicyCondition> Conditions { get; }

    /// <summary><paramref name="lowerAction"/> is the action in lower case ("secretsmanager:getsecretvalue").</summary>
    public bool MatchesAction(string lowerAction)
    {
        var any = false;
        foreach (var a in _actions)
            if (a.Matches(lowerAction, null)) { any = true; break; }
        return any != NotAction;
    }

    /// <summary>A statement without Resource (resource policies) covers the resource the policy is attached to.</summary>
    public bool MatchesResource(string resource, IConditionValues context)
    {
        if (_resources is null) return true;
        var any = false;
        foreach (var r in _resources)
            if (r.Matches(resource, context)) { any = true; break; }
        return any != NotResource;
    }

    public bool MatchesConditions(IConditionValues context)
    {
        foreach (var c in Conditions)
            if (!c.Evaluate(context)) return false;
        return true;
    }

    /// <summary>
    /// How the statement's Principal covers the caller. With NotPrincipal, a caller not named is covered
    /// directly. Role sessions are covered by their role's ARN or their own session ARN.
    /// </summary>
    public PrincipalMatch MatchPrincipal(CallerIdentity caller)
    {
        if (!HasPrincipal) return PrincipalMatch.Direct;
        var match = PrincipalAll ? PrincipalMatch.Direct : PrincipalMatch.None;
        if (match == PrincipalMatch.None)
            foreach (var p in _principals)
            {
                if (p == caller.Arn || (caller.RoleArn is not null && p == caller.RoleArn)) { match = PrincipalMatch.Direct; break; }
                if (p == caller.AccountId || p == $"arn:aws:iam::{caller.AccountId}:root")
                    match = caller.IsAccountRoot ? PrincipalMatch.Direct : PrincipalMatch.Account;
            }
        if (!NotPrincipal) return match;
        return match == PrincipalMatch.None ? PrincipalMatch.Direct : PrincipalMatch.None;
    }

    /// <summary>
    /// Whether the Principal names the caller's role (its ARN) but neither the caller itself nor everyone: such a
    /// grant to a role session is bounded by the role's permissions boundary, a grant to the session ARN is not.
    /// </summary>
    public bool NamesOnlyRoleOf(CallerIdentity caller) =>
        HasPrincipal && !PrincipalAll && !NotPrincipal && caller.RoleArn is { } role &&
        _principals.Contains(role) && !_principals.Contains(caller.Arn);

    public override string ToString() => Sid is { Length: > 0 } ? $"Statement {Index} (Sid {Sid})" : $"Statement {Index}";
}

/// <summary>The caller as policies see it (for Principal elements).</summary>
public sealed record CallerIdentity(string Arn, string AccountId, string? RoleArn = null, bool IsAccountRoot = false);
