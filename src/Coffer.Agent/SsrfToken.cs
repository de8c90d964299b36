using System.Security.Cryptography;
using System.Text;

namespace Coffer.Agent;

/// <summary>
/// The SSRF token every request but <c>/ping</c> must carry (spec §6.2). Like AWS's agent, the expected value is
/// the first set variable of <c>ssrf_env_variables</c>; a value <c>file://&lt;path&gt;</c> means "read the token
/// from that file" (surrounding whitespace trimmed). Comparison is in constant time over the UTF-8 bytes.
/// </summary>
internal sealed class SsrfToken
{
    private readonly byte[] _expected;

    private SsrfToken(byte[] expected) => _expected = expected;

    public static SsrfToken Resolve(IReadOnlyList<string> variables, Func<string, string?> env)
    {
        foreach (var name in variables)
        {
            var value = env(name);
            if (string.IsNullOrEmpty(value)) continue;
            if (value.StartsWith("file://", StringComparison.Ordinal))
            {
                var path = value["file://".Length..];
                try { value = File.ReadAllText(path).Trim(); }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    throw new InvalidOperationException($"Could not read the SSRF token file named by {name}: {e.Message}");
                }
                if (value.Length == 0) throw new InvalidOperationException($"The SSRF token file named by {name} is empty.");
            }
            return new SsrfToken(Encoding.UTF8.GetBytes(value));
        }
        throw new InvalidOperationException(
            $"No SSRF token: set one of {string.Join(", ", variables)} (a value of the form file://<path> reads the token from a file).");
    }

    public bool Matches(string? presented)
    {
        if (presented is null) return false;
        Span<byte> buffer = presented.Length <= 256 ? stackalloc byte[Encoding.UTF8.GetMaxByteCount(presented.Length)] : new byte[Encoding.UTF8.GetMaxByteCount(presented.Length)];
        var n = Encoding.UTF8.GetBytes(presented, buffer);
        return CryptographicOperations.FixedTimeEquals(buffer[..n], _expected);
    }
}
