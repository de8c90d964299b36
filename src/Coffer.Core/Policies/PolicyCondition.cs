using System.Globalization;
using System.Net;

namespace Coffer.Core.Policies;

/// <summary>
/// The request context a condition reads: key → values (condition keys are case-insensitive). Null means the
/// key is absent from the request, which is not the same as an empty list (see the Null operator).
/// </summary>
public interface IConditionValues
{
    IReadOnlyList<string>? Get(string key);
}

/// <summary>A plain dictionary context, for tests, the simulator and `coffer admin can`.</summary>
public sealed class ConditionValues : IConditionValues
{
    private readonly Dictionary<string, IReadOnlyList<string>> _values = new(StringComparer.OrdinalIgnoreCase);

    public ConditionValues Set(string key, params string[] values)
    {
        _values[key] = values;
        return this;
    }

    public IReadOnlyList<string>? Get(string key) => _values.TryGetValue(key, out var v) ? v : null;
}

internal enum ConditionQualifier { None, ForAnyValue, ForAllValues }

/// <summary>
/// One key test inside a Condition block: operator, qualifier, IfExists, key, values (OR-ed). Semantics
/// (IAM's "condition operators" rules):
/// - key absent: …IfExists → true; ForAllValues → true; ForAnyValue → false; a negated operator
///   (StringNotEquals, NotIpAddress, ArnNotLike, …) → TRUE (the trap: "Deny unless tag = x" also denies callers
///   without the tag, and "Allow if tag != x" also allows them); any other operator → false.
/// - a multi-valued key without qualifier: a positive operator matches if any value matches; a negated one if
///   none does.
/// - Null: "true" means the key must be absent, "false" that it is present.
/// </summary>
internal sealed class PolicyCondition
{
    private readonly string _baseOperator;
    private readonly bool _negated;
    private readonly bool _ifExists;
    private readonly ConditionQualifier _qualifier;
    private readonly string[] _values;
    private readonly PolicyPattern[]? _patterns;
    private readonly IPNetwork[]? _networks;

    public PolicyCondition(string operatorName, string key, string[] values, bool variables)
    {
        Operator = operatorName;
        Key = key;
        var name = operatorName;
        if (name.StartsWith("ForAnyValue:", StringComparison.Ordinal)) { _qualifier = ConditionQualifier.ForAnyValue; name = name["ForAnyValue:".Length..]; }
        else if (name.StartsWith("ForAllValues:", StringComparison.Ordinal)) { _qualifier = ConditionQualifier.ForAllValues; name = name["ForAllValues:".Length..]; }
        if (name != "Null" && name.EndsWith("IfExists", StringComparison.Ordinal)) { _ifExists = true; name = name[..^"IfExists".Length]; }
        (_baseOperator, _negated) = name switch
        {
            "StringNotEquals" => ("StringEquals", true),
            "StringNotEqualsIgnoreCase" => ("StringEqualsIgnoreCase", true),
            "StringNotLike" => ("StringLike", true),
            "NumericNotEquals" => ("NumericEquals", true),
            "DateNotEquals" => ("DateEquals", true),
            "NotIpAddress" => ("IpAddress", true),
            "ArnNotEquals" => ("ArnLike", true),
            "ArnNotLike" => ("ArnLike", true),
            "ArnEquals" => ("ArnLike", false),
            _ => (name, false),
        };
        _values = values;
        switch (_baseOperator)
        {
            case "StringLike":
                _patterns = [.. values.Select(v => PolicyPattern.Compile(v, ignoreCase: false, variables))];
                break;
            case "StringEquals" or "StringEqualsIgnoreCase":
                if (variables && values.Any(v => v.Contains("${", StringComparison.Ordinal)))
                    _patterns = [.. values.Select(v => PolicyPattern.Compile(v, ignoreCase: false, variables))];
                break;
            case "IpAddress":
                _networks = [.. values.Select(v => ParseNetwork(v) ?? throw ServiceException.MalformedPolicy(
                    $"The value {v} of condition key {key} is not an IP address or CIDR block."))];
                break;
            case "Numeric":
                break;
        }
        if (_baseOperator.StartsWith("Numeric", StringComparison.Ordinal) && values.Any(v => !TryNumber(v, out _)))
            throw ServiceException.MalformedPolicy($"The values of condition key {key} must be numbers for {operatorName}.");
        if (_baseOperator.StartsWith("Date", StringComparison.Ordinal) && values.Any(v => !TryDate(v, out _)))
            throw ServiceException.MalformedPolicy($"The values of condition key {key} must be dates for {operatorName}.");
        if (_baseOperator is "Bool" or "Null" && values.Any(v => !bool.TryParse(v, out _)))
            throw ServiceException.MalformedPolicy($"The values of condition key {key} must be true or false for {operatorName}.");
    }

    public string Operator { get; }
    public string Key { get; }

    public bool Evaluate(IConditionValues context)
    {
        var actual = context.Get(Key);
        if (_baseOperator == "Null")
        {
            var absent = actual is null || actual.Count == 0;
            return _values.Any(v => bool.Parse(v) == absent);
        }
        if (actual is null || actual.Count == 0)
        {
            if (_ifExists) return true;
            return _qualifier switch
            {
                ConditionQualifier.ForAllValues => true,
                ConditionQualifier.ForAnyValue => false,
                _ => _negated,
            };
        }
        switch (_qualifier)
        {
            case ConditionQualifier.ForAnyValue:
                foreach (var v in actual) if (MatchesAny(v, context) != _negated) return true;
                return false;
            case ConditionQualifier.ForAllValues:
                foreach (var v in actual) if (MatchesAny(v, context) == _negated) return false;
                return true;
            default:
                foreach (var v in actual) if (MatchesAny(v, context)) return !_negated;
                return _negated;
        }
    }

    /// <summary>True when the request value matches one of the policy's values under the positive operator.</summary>
    private bool MatchesAny(string actual, IConditionValues context)
    {
        for (var i = 0; i < _values.Length; i++)
            if (Matches(actual, i, context)) return true;
        return false;
    }

    private bool Matches(string actual, int i, IConditionValues context)
    {
        var expected = _values[i];
        switch (_baseOperator)
        {
            case "StringEquals":
                if (_patterns is not null) { expected = PolicyPattern.Resolve(expected, context) ?? ""; if (expected.Length == 0) return false; expected = Unescape(expected); }
                return string.Equals(actual, expected, StringComparison.Ordinal);
            case "StringEqualsIgnoreCase":
                if (_patterns is not null) { expected = PolicyPattern.Resolve(expected, context) ?? ""; if (expected.Length == 0) return false; expected = Unescape(expected); }
                return string.Equals(actual, expected, StringComparison.OrdinalIgnoreCase);
            case "StringLike":
                return _patterns![i].Matches(actual, context);
            case "Bool":
                return string.Equals(actual, expected, StringComparison.OrdinalIgnoreCase);
            case "BinaryEquals":
                return string.Equals(actual, expected, StringComparison.Ordinal);
            case "IpAddress":
                return IPAddress.TryParse(actual, out var address) && Contains(_networks![i], address);
            case "ArnLike":
                return ArnMatches(expected, actual, context);
        }
        if (_baseOperator.StartsWith("Numeric", StringComparison.Ordinal))
        {
            if (!TryNumber(actual, out var a) || !TryNumber(expected, out var e)) return false;
            return Compare(_baseOperator["Numeric".Length..], a.CompareTo(e));
        }
        if (_baseOperator.StartsWith("Date", StringComparison.Ordinal))
        {
            if (!TryDate(actual, out var a) || !TryDate(expected, out var e)) return false;
            return Compare(_baseOperator["Date".Length..], a.CompareTo(e));
        }
        return false;
    }

    private static string Unescape(string s) => s.Replace('\uE000', '*').Replace('\uE001', '?');

    private static bool Compare(string suffix, int c) => suffix switch
    {
        "Equals" => c == 0,
        "LessThan" => c < 0,
        "LessThanEquals" => c <= 0,
        "GreaterThan" => c > 0,
        "GreaterThanEquals" => c >= 0,
        _ => false,
    };

    /// <summary>ARNs compare per colon-separated part, each part a glob; both need the six parts.</summary>
    private static bool ArnMatches(string pattern, string arn, IConditionValues context)
    {
        var resolved = pattern.Contains("${", StringComparison.Ordinal) ? PolicyPattern.Resolve(pattern, context) : pattern;
        if (resolved is null) return false;
        var p = resolved.Split(':', 6);
        var a = arn.Split(':', 6);
        if (p.Length != 6 || a.Length != 6) return false;
        for (var i = 0; i < 6; i++)
            if (!PolicyPattern.Glob(p[i], a[i])) return false;
        return true;
    }

    internal static bool TryNumber(string s, out double value) =>
        double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out value);

    /// <summary>ISO 8601 (date, or date and time) or epoch seconds, as IAM accepts.</summary>
    internal static bool TryDate(string s, out DateTimeOffset value)
    {
        if (long.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var epoch))
        {
            value = DateTimeOffset.FromUnixTimeSeconds(Math.Clamp(epoch, -62135596800L, 253402300799L));
            return true;
        }
        return DateTimeOffset.TryParse(s, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out value);
    }

    private static IPNetwork? ParseNetwork(string s)
    {
        if (IPNetwork.TryParse(s, out var network)) return network;
        if (IPAddress.TryParse(s, out var address))
            return new IPNetwork(address, address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128);
        // IAM accepts a CIDR whose host bits are set (e.g. 10.1.2.3/16); IPNetwork does not, so mask them.
        var slash = s.IndexOf('/');
        if (slash > 0 && IPAddress.TryParse(s.AsSpan(0, slash), out var host) && int.TryParse(s.AsSpan(slash + 1), out var prefix))
        {
            var bytes = host.GetAddressBytes();
            if (prefix < 0 || prefix > bytes.Length * 8) return null;
            for (var b = 0; b < bytes.Length; b++)
            {
                var keep = Math.Clamp(prefix - b * 8, 0, 8);
                bytes[b] &= (byte)(0xFF << (8 - keep));
            }
            return new IPNetwork(new IPAddress(bytes), prefix);
        }
        return null;
    }

    private static bool Contains(IPNetwork network, IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6 && network.BaseAddress.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork)
            address = address.MapToIPv4();
        return network.Contains(address);
    }
}
