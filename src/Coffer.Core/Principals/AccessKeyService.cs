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

    private readonly ConcurrentDictionary<string, (AccessKey Key, long ExpiresMs)> _sessions = new(StringComparer.Ordinal);

    public string AccountId => accountId;

    /// <summary>Issues and opens temporary credentials; null until IAM is set up (then any session token is refused).</summary>
    public SessionTokens? Sessions { get; init; }

    /// <summary>
    /// Resolves temporary credentials (an ASIA… key id with its session token). Null when the token is not one
    /// Coffer issued for this key id; throws ExpiredToken once it has expired. Opened tokens are cached (the
    /// expiry is checked on every call).
    /// </summary>
    public AccessKey? FindSession(string accessKeyId, string sessionToken)
    {
        if (Sessions is null) return null;
        var nowMs = Sessions.Time.GetUtcNow().ToUnixTimeMilliseconds();
        if (_sessions.TryGetValue(sessionToken, out var hit) && hit.Key.AccessKeyId == accessKeyId)
        {
            if (nowMs >= hit.ExpiresMs) throw IamErrors.ExpiredToken();
            return hit.Key;
        }
        var claims = Sessions.Open(accessKeyId, sessionToken);
        if (claims is null) return null;
        var policy = claims.SessionPolicy is null ? null : Policies.Policy.Parse(claims.SessionPolicy, Policies.PolicyKind.Session, "session policy");
        var principal = new Principal(claims.Arn, accountId, claims.UserId, claims.Name, claims.AccessKeyId,
            IsAdministrator: claims.Kind == PrincipalKind.User && claims.Name == AdministratorName, claims.Kind, claims.RoleArn, policy, DateTimeOffset.FromUnixTimeMilliseconds(claims.ExpiresMs),
            claims.IssuedMs > 0 ? DateTimeOffset.FromUnixTimeMilliseconds(claims.IssuedMs) : null)
        {
            SessionTags = claims.Tags is { } tags ? [.. tags.Select(t => new KeyValuePair<string, string>(t[0], t[1]))] : [],
            TransitiveTagKeys = claims.TransitiveTagKeys ?? [],
            SourceIdentity = claims.SourceIdentity,
        };
        var key = new AccessKey(claims.AccessKeyId, Encoding.UTF8.GetBytes(claims.SecretAccessKey), principal);
        if (_sessions.Count > 10_000) _sessions.Clear();
        _sessions[sessionToken] = (key, claims.ExpiresMs);
        return key;
    }

    /// <summary>Creates a key for an IAM user; the secret is returned once and stored only sealed.</summary>
    public async Task<(AccessKeyRecord Record, string SecretAccessKey)> CreateUserKeyAsync(string userName, string userArn, CancellationToken ct)
    {
        var (id, secret) = NewKeyPair();
        var blob = cipher.Seal(Encoding.UTF8.GetBytes(secret), Aad(id));
        var record = new AccessKeyRecord(id, blob, userName, userArn, "Active",
            DateTimeOffset.FromUnixTimeSeconds(time.GetUtcNow().ToUnixTimeSeconds()));
        if (!await store.InsertAccessKeyAsync(record, ct).ConfigureAwait(false))
            throw new InvalidOperationException("Access key id collision.");
        return (record, secret);
    }

    /// <summary>
    /// Drops a cached key so that a revocation (delete, deactivate) takes effect at once in this process. Called
    /// after the store holds the new state; raises <see cref="Changed"/>.
    /// </summary>
    public void Forget(string accessKeyId)
    {
        Interlocked.Increment(ref _forgets);
        _cache.TryRemove(accessKeyId, out _);
        Changed?.Invoke();
    }

    // Moves on every Forget: a lookup that read the store before a revocation must not cache what it read after
    // the revocation's Forget ran, or the revoked key would be accepted for another CacheTtl, long enough for a
    // caching agent told of the revocation to re-read (and keep for its TTL) what it may no longer read.
    private long _forgets;

    /// <summary>Raised after a key's status changed or it was deleted (see <see cref="Forget"/>). Handlers must not throw.</summary>
    public event Action? Changed;

    /// <summary>Returns null for an unknown or inactive key.</summary>
    public async ValueTask<AccessKey?> FindAsync(string accessKeyId, CancellationToken ct)
    {
        var now = time.GetTimestamp();
        if (_cache.TryGetValue(accessKeyId, out var hit) && hit.ExpiresAt > now)
            return hit.Key;
        var forgets = Interlocked.Read(ref _forgets);
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
        var entry = (key, now + (long)(CacheTtl.TotalSeconds * time.TimestampFrequency));
        _cache[accessKeyId] = entry;
        // Checked after the write: a Forget that ran before this check is seen here, one after it removes the entry.
        if (Interlocked.Read(ref _forgets) != forgets) _cache.TryRemove(KeyValuePair.Create(accessKeyId, entry));
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
