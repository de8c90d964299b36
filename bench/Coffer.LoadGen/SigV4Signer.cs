using System.Buffers;
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
        int count = request.Headers.Count + (_sessionToken is null ? 2 : 3);
        var headers = new (string Name, string Value)[count];
        int n = 0;
        headers[n++] = ("host", host);
        headers[n++] = ("x-amz-date", amzDate);
        if (_sessionToken is not null)
        {
            headers[n++] = ("x-amz-security-token", _sessionToken);
        }
        foreach (var (name, value) in request.Headers)
        {
            headers[n++] = (name.ToLowerInvariant(), TrimAll(value));
        }
        // Stable insertion sort by name (a handful of headers): repeated names keep the order of their values.
        for (int i = 1; i < headers.Length; i++)
        {
            var item = headers[i];
            int j = i - 1;
            while (j >= 0 && string.CompareOrdinal(headers[j].Name, item.Name) > 0)
            {
                headers[j + 1] = headers[j];
                j--;
            }
            headers[j + 1] = item;
        }

        var cr = new StringBuilder(512);
        cr.Append(request.Method.ToUpperInvariant()).Append('\n');
        cr.Append(CanonicalUri(request.Path)).Append('\n');
        cr.Append(CanonicalQuery(request.Query)).Append('\n');
        for (int i = 0; i < headers.Length; i++)
        {
            // One line per name; the values of a repeated name are joined with ','.
            bool repeat = i > 0 && headers[i - 1].Name == headers[i].Name;
            if (repeat)
            {
                cr.Append(',');
            }
            else
            {
                if (i > 0)
                {
                    cr.Append('\n');
                }
                cr.Append(headers[i].Name).Append(':');
            }
            cr.Append(headers[i].Value);
        }
        cr.Append("\n\n");
        int signedHeadersStart = cr.Length;
        for (int i = 0; i < headers.Length; i++)
        {
            if (i > 0 && headers[i - 1].Name == headers[i].Name)
            {
                continue;
            }
            if (i > 0)
            {
                cr.Append(';');
            }
            cr.Append(headers[i].Name);
        }
        string signedHeaders = cr.ToString(signedHeadersStart, cr.Length - signedHeadersStart);
        cr.Append('\n').Append(request.PayloadHash ?? HashHex(request.Body.Span));
        string canonicalRequest = cr.ToString();

        string dateStamp = amzDate[..8];
        string scope = string.Concat(dateStamp, "/", _region, "/", _service, "/", Terminator);
        string stringToSign = string.Concat(Algorithm, "\n", amzDate, "\n", scope, "\n", HashHex(canonicalRequest));

        Span<byte> mac = stackalloc byte[32];
        HmacUtf8(SigningKey(dateStamp), stringToSign, mac);
        string signature = Convert.ToHexStringLower(mac);
        string authorization = string.Concat(
            [Algorithm, " Credential=", _accessKeyId, "/", scope, ", SignedHeaders=", signedHeaders, ", Signature=", signature]);
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

    public static string HashHex(ReadOnlySpan<byte> data)
    {
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(data, hash);
        return Convert.ToHexStringLower(hash);
    }

    private static string HashHex(string text)
    {
        byte[] rented = ArrayPool<byte>.Shared.Rent(Encoding.UTF8.GetMaxByteCount(text.Length));
        try
        {
            return HashHex(rented.AsSpan(0, Encoding.UTF8.GetBytes(text, rented)));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    private static void HmacUtf8(ReadOnlySpan<byte> key, string text, Span<byte> destination)
    {
        byte[] rented = ArrayPool<byte>.Shared.Rent(Encoding.UTF8.GetMaxByteCount(text.Length));
        try
        {
            HMACSHA256.HashData(key, rented.AsSpan(0, Encoding.UTF8.GetBytes(text, rented)), destination);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

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

    /// <summary>Leading and trailing blanks removed, inner runs of blanks folded to one space.</summary>
    private static string TrimAll(string value)
    {
        if (!NeedsTrim(value))
        {
            return value;
        }
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

    private static bool NeedsTrim(string value)
    {
        if (value.Length == 0)
        {
            return false;
        }
        if (value[0] == ' ' || value[^1] == ' ' || value.Contains('\t') || value.Contains("  ", StringComparison.Ordinal))
        {
            return true;
        }
        return false;
    }

    private static string CanonicalUri(string path)
    {
        if (path.Length == 0 || path == "/")
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
