using System.Security.Cryptography;
using System.Text;

namespace Coffer.Crypto;

/// <summary>
/// A 256-bit key-encryption key. It only ever wraps data keys; it never encrypts a secret value directly.
/// The key id is derived from the key (HMAC, not a plain hash), so two installations never confuse keys
/// and the id reveals nothing about the key.
/// </summary>
public sealed class MasterKey : IDisposable
{
    public const int KeySizeBytes = 32;

    private readonly byte[] _key;

    private MasterKey(byte[] key)
    {
        _key = key;
        var id = HMACSHA256.HashData(key, "coffer master key id v1"u8);
        KeyId = "mk-" + Convert.ToHexStringLower(id.AsSpan(0, 8));
    }

    public string KeyId { get; }

    internal ReadOnlySpan<byte> Material => _key;

    public static MasterKey FromBytes(ReadOnlySpan<byte> key)
    {
        if (key.Length != KeySizeBytes)
            throw new ArgumentException($"A master key is {KeySizeBytes} bytes.", nameof(key));
        return new MasterKey(key.ToArray());
    }

    public static MasterKey Generate() => new(RandomNumberGenerator.GetBytes(KeySizeBytes));

    /// <summary>Derives a purpose-bound sub-key (HKDF) so one master key can key other mechanisms safely.</summary>
    public byte[] DeriveKey(string purpose, int length = 32) =>
        HKDF.DeriveKey(HashAlgorithmName.SHA256, _key, length, info: Encoding.UTF8.GetBytes(purpose));

    public void Dispose() => CryptographicOperations.ZeroMemory(_key);
}
