namespace Coffer.Core.Policies;

/// <summary>
/// A compiled Action, Resource or String/ArnLike value: literal text, <c>*</c> (any run), <c>?</c> (any one
/// character) and policy variables (<c>${aws:username}</c>, <c>${key, 'default'}</c>, and the escapes
/// <c>${*}</c>, <c>${?}</c>, <c>${$}</c> that stand for the literal character). Variables are resolved per request;
/// a variable whose key is absent (and has no default) makes the pattern match nothing, as IAM does.
/// </summary>
internal sealed class PolicyPattern
{
    // Private-use characters stand for a literal '*' or '?' that came from ${*} / ${?}; they match only that character.
    private const char LiteralStar = '\uE000';
    private const char LiteralQuestion = '\uE001';

    private readonly string _text;         // after escapes, with variables left as ${...} when present
    private readonly bool _ignoreCase;
    private readonly bool _hasVariables;
    private readonly bool _isWildcard;     // contains * or ?
    private readonly bool _matchesAll;     // exactly "*"

    private PolicyPattern(string text, bool ignoreCase, bool hasVariables)
    {
        _text = text;
        _ignoreCase = ignoreCase;
        _hasVariables = hasVariables;
        _isWildcard = text.AsSpan().IndexOfAny('*', '?') >= 0;
        _matchesAll = text == "*";
    }

    public string Source { get; private init; } = "";

    /// <param name="variables">False for Version 2008-10-17 documents, where ${...} is literal text.</param>
    public static PolicyPattern Compile(string value, bool ignoreCase, bool variables)
    {
        var text = value;
        var hasVariables = variables && value.Contains("${", StringComparison.Ordinal);
        if (hasVariables)
        {
            text = text.Replace("${*}", LiteralStar.ToString(), StringComparison.Ordinal)
                .Replace("${?}", LiteralQuestion.ToString(), StringComparison.Ordinal)
                .Replace("${$}", "$\uE002", StringComparison.Ordinal);
            hasVariables = text.Contains("${", StringComparison.Ordinal);
            text = text.Replace("$\uE002", "$", StringComparison.Ordinal);
        }
        if (ignoreCase) text = text.ToLowerInvariant();
        return new PolicyPattern(text, ignoreCase, hasVariables) { Source = value };
    }

    public bool MatchesAll => _matchesAll && !_hasVariables;

    /// <summary><paramref name="input"/> must already be lower-case when the pattern ignores case.</summary>
    public bool Matches(string input, IConditionValues? context)
    {
        if (_matchesAll) return true;
        var pattern = _text;
        if (_hasVariables)
        {
            var resolved = Resolve(pattern, context);
            if (resolved is null) return false;
            pattern = _ignoreCase ? resolved.ToLowerInvariant() : resolved;
        }
        if (!_isWildcard && !_hasVariables) return string.Equals(pattern, input, StringComparison.Ordinal) || Literal(pattern, input);
        return Glob(pattern, input);
    }

    private static bool Literal(string pattern, string input) =>
        pattern.Length == input.Length && Glob(pattern, input);

    /// <summary>Replaces ${key} and ${key, 'default'}; null when a key is absent and has no default.</summary>
    internal static string? Resolve(string pattern, IConditionValues? context)
    {
        var sb = new System.Text.StringBuilder(pattern.Length + 32);
        var i = 0;
        while (i < pattern.Length)
        {
            var start = pattern.IndexOf("${", i, StringComparison.Ordinal);
            if (start < 0) { sb.Append(pattern, i, pattern.Length - i); break; }
            var end = pattern.IndexOf('}', start + 2);
            if (end < 0) { sb.Append(pattern, i, pattern.Length - i); break; }
            sb.Append(pattern, i, start - i);
            var inner = pattern.AsSpan(start + 2, end - start - 2);
            string? fallback = null;
            var comma = inner.IndexOf(',');
            if (comma >= 0)
            {
                var d = inner[(comma + 1)..].Trim();
                if (d.Length >= 2 && d[0] == '\'' && d[^1] == '\'') fallback = d[1..^1].ToString();
                inner = inner[..comma].Trim();
            }
            var values = context?.Get(inner.ToString());
            string? value = values is { Count: 1 } ? values[0] : null;
            value ??= fallback;
            if (value is null) return null;
            // A substituted value is literal text: its own * and ? do not act as wildcards.
            sb.Append(value.Replace('*', LiteralStar).Replace('?', LiteralQuestion));
            i = end + 1;
        }
        return sb.ToString();
    }

    /// <summary>Iterative glob with single backtrack point: linear in practice.</summary>
    internal static bool Glob(ReadOnlySpan<char> pattern, ReadOnlySpan<char> input)
    {
        int p = 0, s = 0, starP = -1, starS = 0;
        while (s < input.Length)
        {
            if (p < pattern.Length)
            {
                var c = pattern[p];
                if (c == '*') { starP = p++; starS = s; continue; }
                if (c == '?' || c == input[s]
                    || (c == LiteralStar && input[s] == '*') || (c == LiteralQuestion && input[s] == '?'))
                {
                    if (c is not (LiteralStar or LiteralQuestion) || input[s] is '*' or '?') { p++; s++; continue; }
                }
            }
            if (starP < 0) return false;
            p = starP + 1;
            s = ++starS;
        }
        while (p < pattern.Length && pattern[p] == '*') p++;
        return p == pattern.Length;
    }

    public override string ToString() => Source;
}
