using System.Text;
using Coffer.Core;
using Coffer.Core.Principals;

namespace Coffer.Protocol.Query;

/// <summary>
/// The parameters of an AWS Query request (application/x-www-form-urlencoded body): Action, Version and the
/// action's parameters, with lists flattened as <c>Name.member.N</c>.
/// </summary>
internal sealed class QueryRequest
{
    private readonly Dictionary<string, string> _values = new(StringComparer.Ordinal);

    public static QueryRequest Parse(ReadOnlySpan<byte> body)
    {
        var request = new QueryRequest();
        var text = Encoding.UTF8.GetString(body);
        foreach (var pair in text.Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = pair.IndexOf('=');
            var name = Decode(eq < 0 ? pair : pair[..eq]);
            var value = eq < 0 ? "" : Decode(pair[(eq + 1)..]);
            // Answers (and error messages) echo parameters in XML, which cannot carry control characters; no IAM
            // or STS parameter pattern allows them either.
            if (!XmlSafe(name) || !XmlSafe(value))
                throw IamErrors.Validation("1 validation error detected: a parameter contains a character that is not allowed (a control character).");
            request._values[name] = value;
        }
        return request;
    }

    /// <summary>True when every character may appear in an XML 1.0 document.</summary>
    private static bool XmlSafe(string s)
    {
        for (var i = 0; i < s.Length; i++)
        {
            var c = s[i];
            if (System.Xml.XmlConvert.IsXmlChar(c)) continue;
            if (i + 1 < s.Length && System.Xml.XmlConvert.IsXmlSurrogatePair(s[i + 1], c)) { i++; continue; }
            return false;
        }
        return true;
    }

    private static string Decode(string s)
    {
        try { return Uri.UnescapeDataString(s.Replace('+', ' ')); }
        catch (UriFormatException) { throw IamErrors.InvalidInput("The request body is not valid form-encoded data."); }
    }

    /// <summary>Every parameter as sent (for the audit allow-list; never logged whole).</summary>
    public IEnumerable<KeyValuePair<string, string>> Pairs => _values;

    public string? Action => Optional("Action");
    public string? Version => Optional("Version");

    public string? Optional(string name) => _values.TryGetValue(name, out var v) ? v : null;

    public string Required(string name) => Optional(name) is { Length: > 0 } v ? v
        : throw IamErrors.Validation($"1 validation error detected: Value null at '{char.ToLowerInvariant(name[0]) + name[1..]}' failed to satisfy constraint: Member must not be null");

    public int? Int(string name)
    {
        var v = Optional(name);
        if (v is null) return null;
        return int.TryParse(v, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out var i)
            ? i : throw IamErrors.Validation($"1 validation error detected: Value '{v}' at '{name}' failed to satisfy constraint: Member must be an integer");
    }

    public bool Bool(string name) => string.Equals(Optional(name), "true", StringComparison.OrdinalIgnoreCase);

    /// <summary>Name.member.1, Name.member.2, … until the first gap.</summary>
    public List<string> List(string name)
    {
        var list = new List<string>();
        for (var i = 1; Optional($"{name}.member.{i}") is { } v; i++) list.Add(v);
        return list;
    }

    /// <summary>
    /// Tags.member.N.Key/Value until the first gap, as sent (duplicates included, so that they can be refused);
    /// null when there are none. A missing Value is the empty string, as IAM takes it.
    /// </summary>
    public List<KeyValuePair<string, string>>? Tags(string name = "Tags")
    {
        List<KeyValuePair<string, string>>? tags = null;
        for (var i = 1; Optional($"{name}.member.{i}.Key") is { } k; i++)
            (tags ??= []).Add(new(k, Optional($"{name}.member.{i}.Value") ?? ""));
        return tags;
    }

    /// <summary>SimulatePrincipalPolicy's ContextEntries.member.N.{ContextKeyName, ContextKeyValues.member.M}.</summary>
    public Core.Policies.ConditionValues? ContextEntries()
    {
        Core.Policies.ConditionValues? values = null;
        for (var i = 1; Optional($"ContextEntries.member.{i}.ContextKeyName") is { } k; i++)
            (values ??= new()).Set(k, [.. List($"ContextEntries.member.{i}.ContextKeyValues")]);
        return values;
    }
}
