using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Coffer.Agent;

/// <summary>
/// AWS Signature Version 4, header form, for the agent's two upstream calls (POST GetSecretValue and GET of the
/// change feed). Written from the published algorithm; checked against botocore's signature on fixed inputs in
/// Coffer.Agent.Tests and against the real server end to end. Signs host, x-amz-date, the given headers and
/// x-amz-security-token when there is a session token.
/// </summary>
internal sealed class SigV4Signer(AwsCredentials credentials, string region, string service)
{
    private const string Algorithm = "AWS4-HMAC-SHA256";
    private sealed record DerivedKey(string Date, string SecretAccessKey, byte[] Key);
    private DerivedKey? _key;   // replaced whole, so readers never see a torn pair
    private AwsCredentials _credentials = credentials;

    /// <summary>The credentials signatures use; replaced when <c>credentials_file_path</c> is rewritten.</summary>
    public AwsCredentials Credentials
    {
        get => Volatile.Read(ref _credentials);
        set => Volatile.Write(ref _credentials, value);
    }

    public string Region => region;

    /// <summary>Adds X-Amz-Date, the session token and Authorization to <paramref name="headers"/>.</summary>
    /// <param name="path">The request path as sent (already percent-encoded).</param>
    /// <param name="query">Query parameters, not encoded.</param>
    /// <param name="headers">Headers to sign (name → value); the signing headers are added to it.</param>
    public void Sign(string method, string host, string path, IReadOnlyList<KeyValuePair<string, string>> query,
        SortedDictionary<string, string> headers, ReadOnlySpan<byte> body, DateTimeOffset now)
    {
        var credentials = Credentials;
        var amzDate = now.UtcDateTime.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture);
        var date = amzDate[..8];
        headers["host"] = host;
        headers["x-amz-date"] = amzDate;
        if (credentials.SessionToken is not null) headers["x-amz-security-token"] = credentials.SessionToken;

        var canonical = new StringBuilder(512);
        canonical.Append(method).Append('\n');
        canonical.Append(Encode(path, keepSlash: true)).Append('\n');
        canonical.Append(string.Join('&', query
            .Select(p => (Name: Encode(p.Key, false), Value: Encode(p.Value, false)))
            .OrderBy(p => p.Name, StringComparer.Ordinal).ThenBy(p => p.Value, StringComparer.Ordinal)
            .Select(p => p.Name + "=" + p.Value))).Append('\n');
        foreach (var (name, value) in headers) canonical.Append(name).Append(':').Append(value.Trim()).Append('\n');
        canonical.Append('\n');
        var signedHeaders = string.Join(';', headers.Keys);
        canonical.Append(signedHeaders).Append('\n');
        canonical.Append(Hex(SHA256.HashData(body)));

        var scope = $"{date}/{region}/{service}/aws4_request";
        var stringToSign = $"{Algorithm}\n{amzDate}\n{scope}\n{Hex(SHA256.HashData(Encoding.UTF8.GetBytes(canonical.ToString())))}";
        var signature = Hex(HMACSHA256.HashData(SigningKey(date, credentials.SecretAccessKey), Encoding.UTF8.GetBytes(stringToSign)));
        headers["authorization"] = $"{Algorithm} Credential={credentials.AccessKeyId}/{scope}, SignedHeaders={signedHeaders}, Signature={signature}";
    }

    private byte[] SigningKey(string date, string secretAccessKey)
    {
        var cached = _key;
        if (cached is not null && cached.Date == date && cached.SecretAccessKey == secretAccessKey) return cached.Key;
        var k = HMACSHA256.HashData(Encoding.UTF8.GetBytes("AWS4" + secretAccessKey), Encoding.UTF8.GetBytes(date));
        k = HMACSHA256.HashData(k, Encoding.UTF8.GetBytes(region));
        k = HMACSHA256.HashData(k, Encoding.UTF8.GetBytes(service));
        k = HMACSHA256.HashData(k, "aws4_request"u8);
        _key = new DerivedKey(date, secretAccessKey, k);
        return k;
    }

    private static string Hex(ReadOnlySpan<byte> bytes) => Convert.ToHexStringLower(bytes);

    /// <summary>RFC 3986 unreserved characters stay; everything else becomes %XX of its UTF-8 bytes.</summary>
    internal static string Encode(string value, bool keepSlash)
    {
        var sb = new StringBuilder(value.Length + 8);
        foreach (var b in Encoding.UTF8.GetBytes(value))
        {
            if (b is >= (byte)'A' and <= (byte)'Z' or >= (byte)'a' and <= (byte)'z' or >= (byte)'0' and <= (byte)'9'
                or (byte)'-' or (byte)'_' or (byte)'.' or (byte)'~' || (keepSlash && b == (byte)'/'))
                sb.Append((char)b);
            else
                sb.Append('%').Append(b.ToString("X2", CultureInfo.InvariantCulture));
        }
        return sb.ToString();
    }
}
