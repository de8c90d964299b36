using System.Security.Cryptography;
using System.Text;

namespace Coffer.EndToEnd.Tests.Harness;

/// <summary>A secret value derived from the run's seed and the write's ClientRequestToken.</summary>
internal sealed class SeededValue
{
    public string? String { get; init; }
    public byte[]? Binary { get; init; }

    public byte[] Bytes => Binary ?? Encoding.UTF8.GetBytes(String!);

    public string Hash => SeededValues.Hash(Bytes);

    /// <summary>Sets SecretString or SecretBinary (base64, spec §1.2) on a request body.</summary>
    public void WriteTo(System.Text.Json.Nodes.JsonObject body)
    {
        if (Binary is not null)
        {
            body["SecretBinary"] = Convert.ToBase64String(Binary);
        }
        else
        {
            body["SecretString"] = String;
        }
    }

    /// <summary>Compares with what GetSecretValue returned, byte for byte.</summary>
    public bool Matches(System.Text.Json.Nodes.JsonNode? response)
    {
        string? s = response?["SecretString"]?.GetValue<string>();
        string? b = response?["SecretBinary"]?.GetValue<string>();
        if (Binary is not null)
        {
            return s is null && b is not null && CryptographicOperations.FixedTimeEquals(Convert.FromBase64String(b), Binary);
        }

        return b is null && s is not null && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(s), Encoding.UTF8.GetBytes(String!));
    }
}

/// <summary>
/// Values derived from a seed (reliability-matrix §3.6): the harness can recompute any value from its token,
/// so only hashes are ever written to the client history and no value sits on disk on the harness side.
/// About one value in eight is binary, and lengths vary so both shapes and several sizes are exercised.
/// </summary>
internal sealed class SeededValues(int seed)
{
    private readonly byte[] _key = SHA256.HashData(Encoding.UTF8.GetBytes($"coffer-e2e-seed:{seed}"));

    public int Seed { get; } = seed;

    public SeededValue For(string token)
    {
        byte[] digest = HMACSHA256.HashData(_key, Encoding.UTF8.GetBytes(token));
        int length = 16 + (digest[1] | (digest[2] << 8)) % 1024;
        byte[] material = Expand(digest, length);
        if ((digest[0] & 7) == 0)
        {
            return new SeededValue { Binary = material };
        }

        // Printable, with the characters JSON must escape now and then (quote, backslash, newline).
        var text = new StringBuilder("v:").Append(token).Append(':');
        foreach (byte b in material)
        {
            text.Append(b switch
            {
                < 3 => '"',
                < 6 => '\\',
                < 8 => '\n',
                _ => (char)('!' + (b % 94)),
            });
        }

        return new SeededValue { String = text.ToString() };
    }

    /// <summary>A different value for the same token, to test reuse with a different value (spec §2.5).</summary>
    public SeededValue Other(string token) => new() { String = "other:" + For(token).Hash };

    public static string Hash(ReadOnlySpan<byte> bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));

    private byte[] Expand(byte[] digest, int length)
    {
        var output = new byte[length];
        int written = 0;
        for (int block = 0; written < length; block++)
        {
            byte[] chunk = HMACSHA256.HashData(_key, (byte[])[.. digest, (byte)block, (byte)(block >> 8)]);
            int n = Math.Min(chunk.Length, length - written);
            chunk.AsSpan(0, n).CopyTo(output.AsSpan(written));
            written += n;
        }

        return output;
    }
}
