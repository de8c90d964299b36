using System.Text.Json;

namespace Coffer.Core.Policies;

/// <summary>
/// The IAM policy grammar as far as resource policies need it now: the document is parsed strictly (duplicate
/// keys, unknown elements, wrong types and wrong case are refused with a message naming the problem). Evaluation
/// comes with access control; this type only answers "is it well formed" and "does it grant public access".
/// </summary>
public sealed class PolicyDocument
{
    private static readonly string[] StatementKeys =
        ["Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction", "Resource", "NotResource", "Condition"];
    private static readonly string[] ConditionOperators =
    [
        "StringEquals", "StringNotEquals", "StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase", "StringLike", "StringNotLike",
        "NumericEquals", "NumericNotEquals", "NumericLessThan", "NumericLessThanEquals", "NumericGreaterThan", "NumericGreaterThanEquals",
        "DateEquals", "DateNotEquals", "DateLessThan", "DateLessThanEquals", "DateGreaterThan", "DateGreaterThanEquals",
        "Bool", "BinaryEquals", "IpAddress", "NotIpAddress", "ArnEquals", "ArnLike", "ArnNotEquals", "ArnNotLike", "Null",
    ];

    private PolicyDocument(IReadOnlyList<PolicyStatement> statements) => Statements = statements;

    public IReadOnlyList<PolicyStatement> Statements { get; }

    /// <summary>Parses a resource policy; throws MalformedPolicyDocumentException naming the first problem.</summary>
    public static PolicyDocument ParseResourcePolicy(string text)
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
            foreach (var p in root.EnumerateObject())
            {
                switch (p.Name)
                {
                    case "Version":
                        if (p.Value.ValueKind != JsonValueKind.String || p.Value.GetString() is not ("2012-10-17" or "2008-10-17"))
                            throw Malformed("Version must be \"2012-10-17\" or \"2008-10-17\".");
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
            var list = new List<PolicyStatement>();
            if (s.ValueKind == JsonValueKind.Object) list.Add(ParseStatement(s));
            else if (s.ValueKind == JsonValueKind.Array)
                foreach (var item in s.EnumerateArray())
                {
                    if (item.ValueKind != JsonValueKind.Object) throw Malformed("Each statement must be a JSON object.");
                    list.Add(ParseStatement(item));
                }
            else throw Malformed("Statement must be an object or an array of objects.");
            if (list.Count == 0) throw Malformed("The policy has no statements.");
            return new PolicyDocument(list);
        }
    }

    /// <summary>
    /// True when an Allow statement names every principal ("*", {"AWS":"*"}, or NotPrincipal) without a condition
    /// that narrows it. This is a conservative stand-in for AWS's automated reasoning check.
    /// </summary>
    public bool GrantsPublicAccess() =>
        Statements.Any(s => s.Effect == "Allow" && !s.HasCondition && (s.NotPrincipal || s.Principals.Contains("*")));

    private static PolicyStatement ParseStatement(JsonElement e)
    {
        string? effect = null;
        var principals = new List<string>();
        bool hasPrincipal = false, notPrincipal = false, hasAction = false, hasResource = false, hasCondition = false;
        foreach (var p in e.EnumerateObject())
        {
            if (!StatementKeys.Contains(p.Name, StringComparer.Ordinal))
                throw Malformed($"Unknown statement element: {p.Name}.");
            switch (p.Name)
            {
                case "Sid":
                    if (p.Value.ValueKind != JsonValueKind.String) throw Malformed("Sid must be a string.");
                    break;
                case "Effect":
                    effect = p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString() : null;
                    if (effect is not ("Allow" or "Deny")) throw Malformed("Effect must be \"Allow\" or \"Deny\".");
                    break;
                case "Principal" or "NotPrincipal":
                    if (hasPrincipal) throw Malformed("A statement can have Principal or NotPrincipal, not both.");
                    hasPrincipal = true;
                    notPrincipal = p.Name == "NotPrincipal";
                    ReadPrincipal(p.Value, principals);
                    break;
                case "Action" or "NotAction":
                    if (hasAction) throw Malformed("A statement can have Action or NotAction, not both.");
                    hasAction = true;
                    foreach (var a in StringOrArray(p.Value, p.Name))
                        if (a != "*" && !a.Contains(':')) throw Malformed($"Action \"{a}\" must have the form service:action.");
                    break;
                case "Resource" or "NotResource":
                    if (hasResource) throw Malformed("A statement can have Resource or NotResource, not both.");
                    hasResource = true;
                    StringOrArray(p.Value, p.Name);
                    break;
                case "Condition":
                    hasCondition = true;
                    ReadCondition(p.Value);
                    break;
            }
        }
        if (effect is null) throw Malformed("Each statement needs an Effect.");
        if (!hasAction) throw Malformed("Each statement needs an Action or NotAction.");
        if (!hasPrincipal) throw Malformed("A statement of a resource policy needs a Principal or NotPrincipal.");
        return new PolicyStatement(effect, principals, notPrincipal, hasCondition);
    }

    private static void ReadPrincipal(JsonElement value, List<string> into)
    {
        if (value.ValueKind == JsonValueKind.String)
        {
            if (value.GetString() != "*") throw Malformed("A Principal given as a string must be \"*\".");
            into.Add("*");
            return;
        }
        if (value.ValueKind != JsonValueKind.Object) throw Malformed("Principal must be \"*\" or an object.");
        foreach (var p in value.EnumerateObject())
        {
            if (p.Name is not ("AWS" or "Service" or "Federated" or "CanonicalUser"))
                throw Malformed($"Unknown principal type: {p.Name}.");
            foreach (var v in StringOrArray(p.Value, "Principal"))
                into.Add(p.Name == "AWS" && (v == "*" || v.StartsWith("arn:aws:iam::*", StringComparison.Ordinal)) ? "*" : v);
        }
    }

    private static void ReadCondition(JsonElement value)
    {
        if (value.ValueKind != JsonValueKind.Object) throw Malformed("Condition must be an object.");
        foreach (var op in value.EnumerateObject())
        {
            var name = op.Name;
            if (name.StartsWith("ForAnyValue:", StringComparison.Ordinal)) name = name["ForAnyValue:".Length..];
            else if (name.StartsWith("ForAllValues:", StringComparison.Ordinal)) name = name["ForAllValues:".Length..];
            if (name.EndsWith("IfExists", StringComparison.Ordinal) && name != "Null") name = name[..^"IfExists".Length];
            if (!ConditionOperators.Contains(name, StringComparer.Ordinal))
                throw Malformed($"Unknown condition operator: {op.Name}.");
            if (op.Value.ValueKind != JsonValueKind.Object) throw Malformed($"The {op.Name} condition must be an object.");
            foreach (var key in op.Value.EnumerateObject())
            {
                var v = key.Value;
                var ok = v.ValueKind is JsonValueKind.String or JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False
                    || (v.ValueKind == JsonValueKind.Array && v.EnumerateArray().All(x =>
                        x.ValueKind is JsonValueKind.String or JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False));
                if (!ok) throw Malformed($"The value of condition key {key.Name} must be a string, number, boolean or an array of them.");
            }
        }
    }

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

public sealed record PolicyStatement(string Effect, IReadOnlyList<string> Principals, bool NotPrincipal, bool HasCondition);
