using System.Buffers.Binary;
using System.Security.Cryptography;

namespace Coffer.Crypto;

/// <summary>
/// Envelope encryption: every Seal draws a fresh 256-bit data key, encrypts the value with it (AES-256-GCM),
/// and wraps the data key under the master key (AES-256-GCM). The caller's associated data (Coffer passes
/// secret ARN + version id) is bound into both layers, so a blob copied to another row fails to open.
///
/// Blob format 1 (all integers big-endian):
///   [0]        format = 1
///   [1]        n = length of the master key id (1..64)
///   [2..2+n)   master key id, ASCII
///   12 bytes   nonce for the wrap, 32 bytes wrapped data key, 16 bytes wrap tag
///   12 bytes   nonce for the value, 16 bytes value tag
///   rest       ciphertext (same length as the value)
/// The header (format byte and key id) is part of the associated data of both layers.
/// </summary>
public sealed class EnvelopeCipher
{
    public const byte Format1 = 1;
    private const int NonceSize = 12;
    private const int TagSize = 16;
    private const int DataKeySize = 32;

    private readonly MasterKey _current;
    private readonly Dictionary<string, MasterKey> _byId;
    // AesGcm instances are not safe for concurrent use; one per thread per master key avoids re-keying on every call.
    private readonly ThreadLocal<Dictionary<string, AesGcm>> _wrappers;

    /// <param name="current">Key for new blobs.</param>
    /// <param name="older">Keys that may still open existing blobs (after a master key rotation).</param>
    public EnvelopeCipher(MasterKey current, params IEnumerable<MasterKey> older)
    {
        _current = current;
        _byId = new Dictionary<string, MasterKey>(StringComparer.Ordinal) { [current.KeyId] = current };
        foreach (var k in older) _byId.TryAdd(k.KeyId, k);
        _wrappers = new ThreadLocal<Dictionary<string, AesGcm>>(() => new Dictionary<string, AesGcm>(StringComparer.Ordinal));
    }

    public string CurrentKeyId => _current.KeyId;

    public byte[] Seal(ReadOnlySpan<byte> plaintext, ReadOnlySpan<byte> associatedData)
    {
        var keyId = System.Text.Encoding.ASCII.GetBytes(_current.KeyId);
        var headerLength = 2 + keyId.Length;
        var blob = new byte[headerLength + NonceSize + DataKeySize + TagSize + NonceSize + TagSize + plaintext.Length];
        blob[0] = Format1;
        blob[1] = (byte)keyId.Length;
        keyId.CopyTo(blob.AsSpan(2));
        var header = blob.AsSpan(0, headerLength);

        var offset = headerLength;
        var wrapNonce = blob.AsSpan(offset, NonceSize); offset += NonceSize;
        var wrapped = blob.AsSpan(offset, DataKeySize); offset += DataKeySize;
        var wrapTag = blob.AsSpan(offset, TagSize); offset += TagSize;
        var dataNonce = blob.AsSpan(offset, NonceSize); offset += NonceSize;
        var dataTag = blob.AsSpan(offset, TagSize); offset += TagSize;
        var ciphertext = blob.AsSpan(offset);

        Span<byte> dataKey = stackalloc byte[DataKeySize];
        RandomNumberGenerator.Fill(dataKey);
        RandomNumberGenerator.Fill(wrapNonce);
        RandomNumberGenerator.Fill(dataNonce);
        var aad = BuildAad(header, associatedData);
        try
        {
            Wrapper(_current).Encrypt(wrapNonce, dataKey, wrapped, wrapTag, aad);
            using var data = new AesGcm(dataKey, TagSize);
            data.Encrypt(dataNonce, plaintext, ciphertext, dataTag, aad);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(dataKey);
        }
        return blob;
    }

    /// <summary>Opens a blob. Any mismatch (tampering, wrong associated data, unknown key, bad format) throws <see cref="EnvelopeException"/>.</summary>
    public byte[] Open(ReadOnlySpan<byte> blob, ReadOnlySpan<byte> associatedData)
    {
        if (blob.Length < 2 || blob[0] != Format1)
            throw new EnvelopeException("Unknown blob format.");
        int idLength = blob[1];
        var headerLength = 2 + idLength;
        if (idLength == 0 || blob.Length < headerLength + NonceSize + DataKeySize + TagSize + NonceSize + TagSize)
            throw new EnvelopeException("Truncated blob.");
        var keyId = System.Text.Encoding.ASCII.GetString(blob.Slice(2, idLength));
        if (!_byId.TryGetValue(keyId, out var master))
            throw new EnvelopeException("The blob was sealed under a master key that is not loaded.");

        var header = blob[..headerLength];
        var offset = headerLength;
        var wrapNonce = blob.Slice(offset, NonceSize); offset += NonceSize;
        var wrapped = blob.Slice(offset, DataKeySize); offset += DataKeySize;
        var wrapTag = blob.Slice(offset, TagSize); offset += TagSize;
        var dataNonce = blob.Slice(offset, NonceSize); offset += NonceSize;
        var dataTag = blob.Slice(offset, TagSize); offset += TagSize;
        var ciphertext = blob[offset..];

        var aad = BuildAad(header, associatedData);
        Span<byte> dataKey = stackalloc byte[DataKeySize];
        var plaintext = new byte[ciphertext.Length];
        try
        {
            Wrapper(master).Decrypt(wrapNonce, wrapped, wrapTag, dataKey, aad);
            using var data = new AesGcm(dataKey, TagSize);
            data.Decrypt(dataNonce, ciphertext, dataTag, plaintext, aad);
            return plaintext;
        }
        catch (CryptographicException)
        {
            CryptographicOperations.ZeroMemory(plaintext);
            throw new EnvelopeException("The blob does not open with this key and associated data.");
        }
        finally
        {
            CryptographicOperations.ZeroMemory(dataKey);
        }
    }

    /// <summary>Re-wraps the data key of a blob under the current master key; the value ciphertext is untouched.</summary>
    public byte[] Rewrap(ReadOnlySpan<byte> blob, ReadOnlySpan<byte> associatedData)
    {
        var plaintext = Open(blob, associatedData);
        try { return Seal(plaintext, associatedData); }
        finally { CryptographicOperations.ZeroMemory(plaintext); }
    }

    /// <summary>The id of the master key a blob was sealed under, or null when the blob is not in a known format.</summary>
    public static string? KeyIdOf(ReadOnlySpan<byte> blob)
    {
        if (blob.Length < 3 || blob[0] != Format1 || blob.Length < 2 + blob[1]) return null;
        return System.Text.Encoding.ASCII.GetString(blob.Slice(2, blob[1]));
    }

    private AesGcm Wrapper(MasterKey key)
    {
        var map = _wrappers.Value!;
        if (!map.TryGetValue(key.KeyId, out var gcm))
        {
            gcm = new AesGcm(key.Material, TagSize);
            map[key.KeyId] = gcm;
        }
        return gcm;
    }

    private static byte[] BuildAad(ReadOnlySpan<byte> header, ReadOnlySpan<byte> associatedData)
    {
        // Length-prefixed so that (header, aad) pairs cannot collide by shifting bytes between the parts.
        var aad = new byte[4 + header.Length + associatedData.Length];
        BinaryPrimitives.WriteInt32BigEndian(aad, header.Length);
        header.CopyTo(aad.AsSpan(4));
        associatedData.CopyTo(aad.AsSpan(4 + header.Length));
        return aad;
    }
}

public sealed class EnvelopeException(string message) : Exception(message);
