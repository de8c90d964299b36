using System.Security.Cryptography;
using System.Text;

namespace Coffer.Crypto;

/// <summary>
/// Signs alert webhook bodies: <c>sha256=</c> + hex HMAC-SHA256(key, timestamp + "." + body), where the
/// timestamp (Unix seconds) travels in its own header, so that a receiver can refuse replays of old bodies.
/// </summary>
public static class WebhookSignature
{
    public static string Sign(string key, long timestamp, ReadOnlySpan<byte> body)
    {
        var prefix = Encoding.ASCII.GetBytes(timestamp.ToString(System.Globalization.CultureInfo.InvariantCulture) + ".");
        var message = new byte[prefix.Length + body.Length];
        prefix.CopyTo(message, 0);
        body.CopyTo(message.AsSpan(prefix.Length));
        return "sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(key), message));
    }
}
