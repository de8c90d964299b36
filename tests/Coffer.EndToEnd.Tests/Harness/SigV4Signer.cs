using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Coffer.EndToEnd.Tests.Harness;

/// <summary>
/// A deliberately small SigV4 signer for awsJson1_1 POST requests, written apart from src/ so a shared
/// misreading of the algorithm cannot hide itself. It signs exactly what botocore signs for Secrets Manager:
/// content-type;host;x-amz-date;x-amz-target and the SHA-256 of the body (spec §1.4).
/// The botocore cross-check lives in <c>SigV4BotocoreCrossCheckTests</c>.
/// </summary>
internal sealed class SigV4Signer(string accessKeyId, string secretAccessKey, string region, string service = "secretsmanager")
{
    internal const string Algorithm = "AWS4-HMAC-SHA256";
    internal const string ContentType = "application/x-amz-json-1.1";

    public string AccessKeyId { get; } = accessKeyId;
    public string Region { get; } = region;

    /// <summary>Headers to sign, by lower-case name. Values are trimmed as SigV4 requires.</summary>
    public SignedRequestParts Sign(string host, string? target, byte[] body, DateTimeOffset time, string path = "/")
    {
        string amzDate = time.UtcDateTime.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture);
        string date = amzDate[..8];
        var headers = new SortedDictionary<string, string>(StringComparer.Ordinal)
        {
            ["content-type"] = ContentType,
            ["host"] = host,
            ["x-amz-date"] = amzDate,
        };
        if (target is not null)
        {
            headers["x-amz-target"] = target;
        }

        string signedHeaders = string.Join(';', headers.Keys);
        var canonical = new StringBuilder()
            .Append("POST\n")
            .Append(path).Append('\n')
            .Append('\n'); // empty query string
        foreach (var (name, value) in headers)
        {
            canonical.Append(name).Append(':').Append(value.Trim()).Append('\n');
        }

        canonical.Append('\n').Append(signedHeaders).Append('\n').Append(Hex(SHA256.HashData(body)));
        string canonicalRequest = canonical.ToString();

        string scope = $"{date}/{Region}/{service}/aws4_request";
        string stringToSign = $"{Algorithm}\n{amzDate}\n{scope}\n{Hex(SHA256.HashData(Encoding.UTF8.GetBytes(canonicalRequest)))}";

        byte[] key = Hmac(Encoding.UTF8.GetBytes("AWS4" + secretAccessKey), date);
        key = Hmac(key, Region);
        key = Hmac(key, service);
        key = Hmac(key, "aws4_request");
        string signature = Hex(Hmac(key, stringToSign));

        string authorization = $"{Algorithm} Credential={AccessKeyId}/{scope}, SignedHeaders={signedHeaders}, Signature={signature}";
        return new SignedRequestParts(amzDate, authorization, signature, canonicalRequest, stringToSign);
    }

    private static byte[] Hmac(byte[] key, string data) => HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(data));

    internal static string Hex(byte[] bytes) => Convert.ToHexStringLower(bytes);
}

internal sealed record SignedRequestParts(
    string AmzDate, string Authorization, string Signature, string CanonicalRequest, string StringToSign);
