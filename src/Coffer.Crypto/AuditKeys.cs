using System.Security.Cryptography;
using System.Text;

namespace Coffer.Crypto;

/// <summary>
/// The two audit keys, derived from the master key (HKDF, distinct purposes) so that the audit trail needs no
/// key material of its own and nothing outside Coffer.Crypto ever holds a key:
/// - the HMAC key: sensitive fields an auditor may need to match are stored as HMAC-SHA256 under it (as Vault
///   does), never in clear and never as an unkeyed hash; `coffer audit hash` computes the same value;
/// - the checkpoint key: periodic checkpoints of the hash chain are authenticated with it, so that rewriting
///   the whole chain after an edit is detected by anyone holding the master key.
/// </summary>
public sealed class AuditKeys : IDisposable
{
    public const string HmacPrefix = "hmac-sha256:";
    private readonly byte[] _hmacKey;
    private readonly byte[] _checkpointKey;

    public AuditKeys(MasterKey masterKey)
    {
        _hmacKey = masterKey.DeriveKey("coffer audit hmac v1");
        _checkpointKey = masterKey.DeriveKey("coffer audit checkpoint v1");
    }

    /// <summary>"hmac-sha256:" + lower-case hex of HMAC-SHA256(hmac key, UTF-8 of the value).</summary>
    public string Hash(string value) => HmacPrefix + Convert.ToHexStringLower(HMACSHA256.HashData(_hmacKey, Encoding.UTF8.GetBytes(value)));

    /// <summary>The same for a binary value (SecretBinary): the HMAC of the raw bytes.</summary>
    public string Hash(ReadOnlySpan<byte> value) => HmacPrefix + Convert.ToHexStringLower(HMACSHA256.HashData(_hmacKey, value));

    /// <summary>Authenticates a checkpoint's canonical text; lower-case hex.</summary>
    public string SignCheckpoint(string canonical) =>
        Convert.ToHexStringLower(HMACSHA256.HashData(_checkpointKey, Encoding.UTF8.GetBytes(canonical)));

    /// <summary>Constant-time check of a checkpoint signature.</summary>
    public bool VerifyCheckpoint(string canonical, string signature)
    {
        var expected = Encoding.ASCII.GetBytes(SignCheckpoint(canonical));
        var given = Encoding.ASCII.GetBytes(signature);
        return given.Length == expected.Length && CryptographicOperations.FixedTimeEquals(expected, given);
    }

    public void Dispose()
    {
        CryptographicOperations.ZeroMemory(_hmacKey);
        CryptographicOperations.ZeroMemory(_checkpointKey);
    }
}
