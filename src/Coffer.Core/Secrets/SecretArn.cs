using System.Security.Cryptography;

namespace Coffer.Core.Secrets;

/// <summary>
/// Secret ARNs (spec §1.6): arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-XXXXXX, where XXXXXX are six
/// random alphanumerics drawn at creation, so a re-created secret never matches a policy written for the old one.
/// </summary>
public static class SecretArn
{
    public const string Partition = "aws";
    private const string SuffixAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

    public static string Create(string region, string accountId, string name) =>
        $"arn:{Partition}:secretsmanager:{region}:{accountId}:secret:{name}-{RandomNumberGenerator.GetString(SuffixAlphabet, 6)}";

    /// <summary>Parses a secretsmanager secret ARN; false for anything else (other service, missing parts).</summary>
    public static bool TryParse(string value, out string region, out string accountId, out string resource)
    {
        region = accountId = resource = "";
        // arn:partition:service:region:account:secret:resource — the resource part itself holds no colons
        // because secret names cannot contain them.
        var parts = value.Split(':');
        if (parts.Length != 7 || parts[0] != "arn" || parts[1].Length == 0 || parts[2] != "secretsmanager" || parts[5] != "secret")
            return false;
        region = parts[3];
        accountId = parts[4];
        resource = parts[6];
        return region.Length > 0 && accountId.Length > 0 && resource.Length > 0;
    }

    /// <summary>True when <paramref name="resource"/> ends with "-" and six alphanumerics (a possible ARN suffix).</summary>
    public static bool HasSuffix(string resource) =>
        resource.Length > 7 && resource[^7] == '-' && resource.AsSpan(resource.Length - 6).IndexOfAnyExcept(SuffixAlphabet) < 0;
}
