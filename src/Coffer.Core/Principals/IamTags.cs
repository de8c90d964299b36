using System.Text.RegularExpressions;

namespace Coffer.Core.Principals;

/// <summary>
/// The tag rules IAM (users, roles) and STS (session tags) share (IAM User Guide, "Rules for tagging in IAM and
/// AWS STS"): at most 50 tags; keys of 1–128 and values of 0–256 letters, digits, white space and <c>_ . : / = + - @</c>;
/// neither may begin with <c>aws:</c> (reserved); keys are compared without regard to case, and the case a tag was
/// last given in is kept. Shape failures are <c>ValidationError</c>; a duplicate or reserved key is the service's
/// own code (<paramref name="semantic"/>: IAM answers InvalidInput, STS InvalidParameterValue).
/// </summary>
public static partial class IamTags
{
    public const int MaxTags = 50;

    [GeneratedRegex(@"^[\p{L}\p{Z}\p{N}_.:/=+\-@]{1,128}$", RegexOptions.CultureInvariant)]
    private static partial Regex KeyPattern();

    [GeneratedRegex(@"^[\p{L}\p{Z}\p{N}_.:/=+\-@]{0,256}$", RegexOptions.CultureInvariant)]
    private static partial Regex ValuePattern();

    public const string DuplicateKeys = "Duplicate tag keys found. Please note that Tag keys are case insensitive.";

    /// <summary>Checks tags as a request sends them; null is no tags.</summary>
    public static void Check(IReadOnlyList<KeyValuePair<string, string>>? tags, Func<string, ServiceException> semantic)
    {
        if (tags is null) return;
        if (tags.Count > MaxTags)
            throw IamErrors.Validation($"1 validation error detected: Value at 'tags' failed to satisfy constraint: Member must have length less than or equal to {MaxTags}");
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (k, v) in tags)
        {
            CheckKey(k, "tags.member.key");
            if (v is null || !ValuePattern().IsMatch(v))
                throw IamErrors.Validation("1 validation error detected: Value at 'tags.member.value' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*");
            if (k.StartsWith("aws:", StringComparison.OrdinalIgnoreCase) || v.StartsWith("aws:", StringComparison.OrdinalIgnoreCase))
                throw semantic("Tag keys and values cannot begin with 'aws:': the prefix is reserved for AWS use.");
            if (!seen.Add(k)) throw semantic(DuplicateKeys);
        }
    }

    /// <summary>Checks tag keys as a request sends them (UntagUser's TagKeys, AssumeRole's TransitiveTagKeys).</summary>
    public static void CheckKeys(IReadOnlyList<string> keys, string parameter)
    {
        if (keys.Count > MaxTags)
            throw IamErrors.Validation($"1 validation error detected: Value at '{parameter}' failed to satisfy constraint: Member must have length less than or equal to {MaxTags}");
        foreach (var k in keys) CheckKey(k, parameter + ".member");
    }

    private static void CheckKey(string? key, string parameter)
    {
        if (key is null || !KeyPattern().IsMatch(key))
            throw IamErrors.Validation($"1 validation error detected: Value at '{parameter}' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\p{{L}}\\p{{Z}}\\p{{N}}_.:/=+\\-@]+");
    }

    /// <summary>The value of a tag, whatever the case of its key; null when there is none.</summary>
    public static string? Find(IEnumerable<KeyValuePair<string, string>> tags, string key)
    {
        foreach (var (k, v) in tags)
            if (string.Equals(k, key, StringComparison.OrdinalIgnoreCase)) return v;
        return null;
    }

    /// <summary>
    /// <paramref name="existing"/> with <paramref name="added"/> applied: a key already present in any case is
    /// replaced (and takes the new case), a new key is appended.
    /// </summary>
    public static Dictionary<string, string> Merge(IReadOnlyDictionary<string, string> existing, IReadOnlyList<KeyValuePair<string, string>> added)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (k, v) in existing)
            if (Find(added, k) is null) result[k] = v;
        foreach (var (k, v) in added) result[k] = v;
        return result;
    }

    /// <summary><paramref name="existing"/> without the given keys (in any case); a key that is not there is no error.</summary>
    public static Dictionary<string, string> Remove(IReadOnlyDictionary<string, string> existing, IReadOnlyList<string> keys)
    {
        var drop = new HashSet<string>(keys, StringComparer.OrdinalIgnoreCase);
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (k, v) in existing)
            if (!drop.Contains(k)) result[k] = v;
        return result;
    }
}
