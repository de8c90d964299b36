using System.Security.Cryptography;

namespace Coffer.Core.Secrets;

/// <summary>
/// GetRandomPassword (spec §3.7): a CSPRNG with unbiased selection (RandomNumberGenerator.GetInt32 rejects
/// out-of-range draws), one character of each required class placed first and then shuffled (Fisher–Yates).
/// A class that ExcludeCharacters empties completely counts as excluded rather than making the request fail.
/// </summary>
public static class PasswordGenerator
{
    public const string Uppercase = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    public const string Lowercase = "abcdefghijklmnopqrstuvwxyz";
    public const string Digits = "0123456789";
    public const string Punctuation = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

    public static string Generate(GetRandomPasswordRequest request)
    {
        var length = request.PasswordLength ?? 32;
        if (length < 1)
            throw Validation.Constraint(length.ToString(System.Globalization.CultureInfo.InvariantCulture), "passwordLength", "Member must have value greater than or equal to 1");
        if (length > 4096)
            throw Validation.Constraint(length.ToString(System.Globalization.CultureInfo.InvariantCulture), "passwordLength", "Member must have value less than or equal to 4096");
        Validation.Length(request.ExcludeCharacters, "excludeCharacters", 0, 4096);
        var exclude = request.ExcludeCharacters ?? "";

        var classes = new List<string>(5);
        void Add(string chars, bool excluded)
        {
            if (excluded) return;
            var kept = new string(chars.Where(c => !exclude.Contains(c)).ToArray());
            if (kept.Length > 0) classes.Add(kept);
        }
        Add(Uppercase, request.ExcludeUppercase == true);
        Add(Lowercase, request.ExcludeLowercase == true);
        Add(Digits, request.ExcludeNumbers == true);
        Add(Punctuation, request.ExcludePunctuation == true);
        var required = classes.Count;
        Add(" ", request.IncludeSpace != true); // space is allowed, never required

        if (classes.Count == 0)
            throw ServiceException.InvalidParameter("The password can't be generated: every character type is excluded.");
        var requireEach = request.RequireEachIncludedType ?? true;
        if (requireEach && length < required)
            throw ServiceException.InvalidParameter("Password length is too short based on the required types.");

        var all = string.Concat(classes);
        var chars = new char[length];
        var i = 0;
        if (requireEach)
            for (; i < required; i++) chars[i] = classes[i][RandomNumberGenerator.GetInt32(classes[i].Length)];
        for (; i < length; i++) chars[i] = all[RandomNumberGenerator.GetInt32(all.Length)];
        for (var j = chars.Length - 1; j > 0; j--)
        {
            var k = RandomNumberGenerator.GetInt32(j + 1);
            (chars[j], chars[k]) = (chars[k], chars[j]);
        }
        return new string(chars);
    }
}
