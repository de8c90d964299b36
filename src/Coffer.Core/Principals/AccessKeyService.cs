using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Coffer.Crypto;

namespace Coffer.Core.Principals;

/// <summary>
/// Issues and resolves access keys. Secrets of keys are sealed under the master key; opened keys are cached
/// in memory for a short time so that SigV4 verification costs no store read on the hot path, while a
/// revocation takes effect within <see cref="CacheTtl"/>.
/// </summary>
public sealed class AccessKeyService(IAccountStore store, EnvelopeCipher cipher, string accountId, TimeProvider time)
{
    public static readonly TimeSpan CacheTtl = TimeSpan.FromSeconds(5);
    private readonly ConcurrentDictionary<string, (AccessKey? Key, long ExpiresAt)> _cache = new(StringComparer.Ordinal);

    public string AccountId => accountId;

    /// <summary>Returns null for an unknown or inactive key.</summary>
    public async ValueTask<AccessKey?> FindAsync(string accessKeyId, CancellationToken ct)
    {
        var now = time.GetTimestamp();
        if (_cache.TryGetValue(accessKeyId, out var hit) && hit.ExpiresAt > now)
            return hit.Key;
        var record = await store.FindAccessKeyAsync(accessKeyId, ct).ConfigureAwait(false);
        AccessKey? key = null;
        if (record is { Status: "Active" })
        {
            var secret = cipher.Open(record.SecretBlob, Aad(record.AccessKeyId));
            var principal = new Principal(record.PrincipalArn, accountId, "AIDA" + record.AccessKeyId[4..], record.UserName, record.AccessKeyId,
                IsAdministrator: record.PrincipalArn.EndsWith(":root", StringComparison.Ordinal) || record.UserName == AdministratorName);
            key = new AccessKey(record.AccessKeyId, secret, principal);
        }
        if (_cache.Count > 10_000) _cache.Clear();
        _cache[accessKeyId] = (key, now + (long)(CacheTtl.TotalSeconds * time.TimestampFrequency));
        return key;
    }

    public const string AdministratorName = "coffer-admin";

    /// <summary>
    /// Stores an access key for the administrator. When the id exists already, nothing changes and false is returned.
    /// </summary>
    public async Task<bool> AddAdministratorKeyAsync(string accessKeyId, string secretAccessKey, CancellationToken ct)
    {
        var blob = cipher.Seal(Encoding.UTF8.GetBytes(secretAccessKey), Aad(accessKeyId));
        var record = new AccessKeyRecord(accessKeyId, blob, AdministratorName, $"arn:aws:iam::{accountId}:user/{AdministratorName}", "Active", time.GetUtcNow());
        return await store.InsertAccessKeyAsync(record, ct).ConfigureAwait(false);
    }

    /// <summary>A new AWS-shaped key pair: AKIA + 16 base32 characters, and 40 characters of secret.</summary>
    public static (string AccessKeyId, string SecretAccessKey) NewKeyPair()
    {
        const string idAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        const string secretAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        var id = "AKIA" + RandomNumberGenerator.GetString(idAlphabet, 16);
        var secret = RandomNumberGenerator.GetString(secretAlphabet, 40);
        return (id, secret);
    }

    private static byte[] Aad(string accessKeyId) => Encoding.UTF8.GetBytes("access-key:" + accessKeyId);
}
