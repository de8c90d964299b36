using System.Text.RegularExpressions;

namespace Coffer.Core.Secrets;

/// <summary>
/// ListSecrets / BatchGetSecretValue filters (spec §3.11). Filters combine with AND, values within a filter with
/// OR, and a value starting with '!' matches secrets that do not match the rest of it.
/// name, tag-key, tag-value, primary-region, owning-service: case-sensitive prefix.
/// description: every query word is a case-insensitive prefix of some word of the description (observed).
/// all: the same word rule over name, description, tag keys and tag values.
/// </summary>
public static partial class SecretFilters
{
    public static readonly string[] Keys = ["description", "name", "tag-key", "tag-value", "primary-region", "owning-service", "all"];

    public static void Validate(List<Filter>? filters)
    {
        if (filters is null) return;
        if (filters.Count > 10)
            throw Validation.Constraint(null, "filters", "Member must have length less than or equal to 10");
        for (var i = 0; i < filters.Count; i++)
        {
            var f = filters[i];
            if (f?.Key is null || !Keys.Contains(f.Key, StringComparer.Ordinal))
                throw Validation.Constraint(f?.Key, $"filters.{i + 1}.member.key",
                    "Member must satisfy enum value set: [all, name, tag-key, description, tag-value, primary-region, owning-service]");
            if (f.Values is null || f.Values.Count == 0)
                throw ServiceException.InvalidParameter($"The filter {f.Key} must have at least one value.");
            if (f.Values.Count > 10)
                throw Validation.Constraint(null, $"filters.{i + 1}.member.values", "Member must have length less than or equal to 10");
            for (var j = 0; j < f.Values.Count; j++)
            {
                // A JSON null in Values ("Values":[null]) is refused here: Matches reads every value as a string.
                if (f.Values[j] is not { } v)
                    throw Validation.Constraint(null, $"filters.{i + 1}.member.values.{j + 1}.member", "Member must not be null");
                if (v.Length > 512 || !ValuePattern().IsMatch(v))
                    throw Validation.Constraint(Validation.Truncate(v), $"filters.{i + 1}.member.values.{j + 1}.member",
                        "Member must satisfy regular expression pattern: ^\\!?[a-zA-Z0-9 :_@\\/\\+\\=\\.\\-\\!]*$");
            }
        }
    }

    public static bool Matches(Secret secret, List<Filter>? filters)
    {
        if (filters is null) return true;
        foreach (var f in filters)
        {
            var any = false;
            foreach (var raw in f.Values!)
            {
                var negate = raw.StartsWith('!');
                var value = negate ? raw[1..] : raw;
                if (MatchesValue(secret, f.Key!, value) != negate) { any = true; break; }
            }
            if (!any) return false;
        }
        return true;
    }

    private static bool MatchesValue(Secret s, string key, string value) => key switch
    {
        "name" => s.Name.StartsWith(value, StringComparison.Ordinal),
        "tag-key" => s.Tags?.Any(t => t.Key.StartsWith(value, StringComparison.Ordinal)) == true,
        "tag-value" => s.Tags?.Any(t => t.Value.StartsWith(value, StringComparison.Ordinal)) == true,
        "primary-region" => s.PrimaryRegion.StartsWith(value, StringComparison.Ordinal),
        "owning-service" => s.OwningService?.StartsWith(value, StringComparison.Ordinal) == true,
        "description" => WordsMatch(Words(s.Description), value),
        "all" => WordsMatch(Words(s.Name).Concat(Words(s.Description))
            .Concat(s.Tags?.SelectMany(t => Words(t.Key).Concat(Words(t.Value))) ?? []).ToList(), value),
        _ => false,
    };

    private static bool WordsMatch(IReadOnlyCollection<string> stored, string query)
    {
        var wanted = Words(query);
        if (wanted.Count == 0) return false;
        return wanted.All(w => stored.Any(s => s.StartsWith(w, StringComparison.OrdinalIgnoreCase)));
    }

    /// <summary>
    /// Splits at the separators / _ + = . @ - and space, at lower→upper case changes, between letters and digits,
    /// and before the last capital of a run of capitals followed by a lower-case letter.
    /// </summary>
    public static List<string> Words(string? text)
    {
        var words = new List<string>();
        if (string.IsNullOrEmpty(text)) return words;
        var start = -1;
        for (var i = 0; i <= text.Length; i++)
        {
            var c = i < text.Length ? text[i] : ' ';
            var separator = !char.IsLetterOrDigit(c);
            if (separator)
            {
                if (start >= 0) { words.Add(text[start..i]); start = -1; }
                continue;
            }
            if (start >= 0)
            {
                var p = text[i - 1];
                var boundary = (char.IsLower(p) && char.IsUpper(c))
                    || (char.IsLetter(p) != char.IsLetter(c))
                    || (char.IsUpper(p) && char.IsUpper(c) && i + 1 < text.Length && char.IsLower(text[i + 1]));
                if (boundary) { words.Add(text[start..i]); start = i; }
            }
            else start = i;
        }
        return words;
    }

    [GeneratedRegex(@"^\!?[a-zA-Z0-9 :_@\/\+\=\.\-\!]*$")]
    private static partial Regex ValuePattern();
}
