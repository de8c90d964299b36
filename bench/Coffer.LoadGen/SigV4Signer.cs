using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Coffer.LoadGen;

/// <summary>
/// A request as the signer sees it. <see cref="Path"/> is the path as it goes on the wire (already
/// percent-encoded where needed); <see cref="Query"/> holds decoded name/value pairs; <see cref="Headers"/> are
/// the headers to sign besides host, x-amz-date and x-amz-security-token, which the signer adds itself.
/// </summary>
internal sealed record SignableRequest(
    string Method,
    Uri Endpoint,
    string Path,
    IReadOnlyList<KeyValuePair<string, string>> Query,
    IReadOnlyList<KeyValuePair<string, string>> Headers,
    ReadOnlyMemory<byte> Body,
    string? PayloadHash = null);

/// <summary>What signing produced; the intermediate strings are kept for the botocore cross-check.</summary>
internal sealed record SignedRequest(
    string AmzDate,
    string Host,
    string Authorization,
    string CanonicalRequest,
    string StringToSign,
    string Signature);

/// <summary>
/// AWS Signature Version 4 (header form), written from the published algorithm and independent of Coffer's
/// verifier. Matches botocore's <c>SigV4Auth</c> on the same inputs (bench/signer-check.sh):
/// the path is normalised like botocore (dot segments and empty segments removed) and encoded a second time
/// (non-S3 services), query names and values are encoded with the unreserved set and sorted by encoded name
/// then value, header values are trimmed with runs of blanks folded to one space, repeated headers are joined
/// with ','. The derived signing key is cached per (date, region, service) because it only changes daily.
/// </summary>
internal sealed class SigV4Signer
{
    private const string Algorithm = "AWS4-HMAC-SHA256";
    private const string Terminator = "aws4_request";

    private readonly string _accessKeyId;
    private readonly byte[] _secretKeyBytes;
    private readonly string _region;
    private readonly string _service;
    private readonly string? _sessionToken;

    // Replaced as a whole, so a reader sees a consistent (date, key) pair without a lock.
    private sealed record DerivedKey(string DateStamp, byte[] Key);
    private DerivedKey? _derived;

    public SigV4Signer(string accessKeyId, string secretAccessKey, string region, string service, string? sessionToken = null)
    {
        _accessKeyId = accessKeyId;
        _secretKeyBytes = Encoding.UTF8.GetBytes("AWS4" + secretAccessKey);
        _region = region;
        _service = service;
        _sessionToken = sessionToken;
    }

    public SignedRequest Sign(SignableRequest request, string amzDate)
    {
        string host = HostOf(request.Endpoint);
        var headers = new List<KeyValuePair<string, string>>(request.Headers.Count + 3)
        {
            new("host", host),
            new("x-amz-date", amzDate),
        };
        if (_sessionToken is not null)
        {
            headers.Add(new("x-amz-security-token", _sessionToken));
        }
        foreach (var h in request.Headers)
        {
            headers.Add(h);
        }

        string payloadHash = request.PayloadHash ?? HashHex(request.Body.Span);
        var (canonicalHeaders, signedHeaders) = CanonicalHeaders(headers);

        var cr = new StringBuilder(512);
        cr.Append(request.Method.ToUpperInvariant()).Append('\n');
        cr.Append(CanonicalUri(request.Path)).Append('\n');
        cr.Append(CanonicalQuery(request.Query)).Append('\n');
        cr.Append(canonicalHeaders).Append('\n');
        cr.Append(signedHeaders).Append('\n');
        cr.Append(payloadHash);
        string canonicalRequest = cr.ToString();

        string dateStamp = amzDate[..8];
        string scope = string.Concat(dateStamp, "/", _region, "/", _service, "/", Terminator);
        string stringToSign = string.Concat(
            Algorithm, "\n", amzDate, "\n", scope, "\n", HashHex(Encoding.UTF8.GetBytes(canonicalRequest)));

        byte[] key = SigningKey(dateStamp);
        string signature = Convert.ToHexStringLower(HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(stringToSign)));
        string authorization = string.Concat(
            Algorithm, " Credential=", _accessKeyId, "/", scope,
            ", SignedHeaders=", signedHeaders, ", Signature=", signature);
        return new SignedRequest(amzDate, host, authorization, canonicalRequest, stringToSign, signature);
    }

    /// <summary>The x-amz-date form of a UTC instant: yyyyMMdd'T'HHmmss'Z'.</summary>
    public static string FormatAmzDate(DateTime utc) =>
        utc.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture);

    /// <summary>Host header value: lower-case host, the port only when it is not the scheme's default.</summary>
    public static string HostOf(Uri endpoint)
    {
        string host = endpoint.HostNameType == UriHostNameType.IPv6 ? $"[{endpoint.IdnHost}]" : endpoint.Host;
        host = host.ToLowerInvariant();
        return endpoint.IsDefaultPort ? host : string.Concat(host, ":", endpoint.Port.ToString(CultureInfo.InvariantCulture));
    }

    public static string HashHex(ReadOnlySpan<byte> data) => Convert.ToHexStringLower(SHA256.HashData(data));

    private byte[] SigningKey(string dateStamp)
    {
        var cached = _derived;
        if (cached is not null && cached.DateStamp == dateStamp)
        {
            return cached.Key;
        }
        byte[] kDate = HMACSHA256.HashData(_secretKeyBytes, Encoding.UTF8.GetBytes(dateStamp));
        byte[] kRegion = HMACSHA256.HashData(kDate, Encoding.UTF8.GetBytes(_region));
        byte[] kService = HMACSHA256.HashData(kRegion, Encoding.UTF8.GetBytes(_service));
        byte[] kSigning = HMACSHA256.HashData(kService, Encoding.UTF8.GetBytes(Terminator));
        _derived = new DerivedKey(dateStamp, kSigning);
        return kSigning;
    }

    private static (string Canonical, string Signed) CanonicalHeaders(List<KeyValuePair<string, string>> headers)
    {
        // Group by lower-case name keeping the order of values, then sort names ordinally.
        var byName = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        var names = new List<string>();
        foreach (var (name, value) in headers)
        {
            string lower = name.ToLowerInvariant();
            if (!byName.TryGetValue(lower, out var values))
            {
                values = new List<string>(1);
                byName[lower] = values;
                names.Add(lower);
            }
            values.Add(TrimAll(value));
        }
        names.Sort(StringComparer.Ordinal);

        var canonical = new StringBuilder(256);
        foreach (string name in names)
        {
            canonical.Append(name).Append(':').AppendJoin(',', byName[name]).Append('\n');
        }
        return (canonical.ToString(), string.Join(';', names));
    }

    /// <summary>Leading and trailing blanks removed, inner runs of blanks folded to one space.</summary>
    private static string TrimAll(string value)
    {
        var sb = new StringBuilder(value.Length);
        bool pendingSpace = false;
        foreach (char c in value)
        {
            if (c is ' ' or '\t')
            {
                pendingSpace = sb.Length > 0;
                continue;
            }
            if (pendingSpace)
            {
                sb.Append(' ');
                pendingSpace = false;
            }
            sb.Append(c);
        }
        return sb.ToString();
    }

    private static string CanonicalUri(string path)
    {
        if (path.Length == 0)
        {
            return "/";
        }
        // Remove dot segments and empty segments, as the services expect (botocore does the same).
        var segments = new List<string>();
        foreach (string segment in path.Split('/'))
        {
            if (segment.Length == 0 || segment == ".")
            {
                continue;
            }
            if (segment == "..")
            {
                if (segments.Count > 0)
                {
                    segments.RemoveAt(segments.Count - 1);
                }
                continue;
            }
            segments.Add(segment);
        }
        string first = path[0] == '/' ? "/" : "";
        string last = path[^1] == '/' && segments.Count > 0 ? "/" : "";
        string normalized = first + string.Join('/', segments) + last;
        // The wire path is encoded once already; the canonical URI encodes it again ('%' becomes '%25').
        return Encode(normalized, keepSlash: true);
    }

    private static string CanonicalQuery(IReadOnlyList<KeyValuePair<string, string>> query)
    {
        if (query.Count == 0)
        {
            return "";
        }
        var pairs = new List<(string Key, string Value)>(query.Count);
        foreach (var (key, value) in query)
        {
            pairs.Add((Encode(key, keepSlash: false), Encode(value, keepSlash: false)));
        }
        pairs.Sort((a, b) =>
        {
            int byKey = string.CompareOrdinal(a.Key, b.Key);
            return byKey != 0 ? byKey : string.CompareOrdinal(a.Value, b.Value);
        });
        var sb = new StringBuilder();
        for (int i = 0; i < pairs.Count; i++)
        {
            if (i > 0)
            {
                sb.Append('&');
            }
            sb.Append(pairs[i].Key).Append('=').Append(pairs[i].Value);
        }
        return sb.ToString();
    }

    /// <summary>Percent-encodes UTF-8 bytes outside A-Z a-z 0-9 - _ . ~ (and '/' when asked), upper-case hex.</summary>
    private static string Encode(string value, bool keepSlash)
    {
        var sb = new StringBuilder(value.Length + 8);
        foreach (byte b in Encoding.UTF8.GetBytes(value))
        {
            char c = (char)b;
            if (c is >= 'A' and <= 'Z' or >= 'a' and <= 'z' or >= '0' and <= '9' or '-' or '_' or '.' or '~'
                || (keepSlash && c == '/'))
            {
                sb.Append(c);
            }
            else
            {
                sb.Append('%').Append(b.ToString("X2", CultureInfo.InvariantCulture));
            }
        }
        return sb.ToString();
    }
}
