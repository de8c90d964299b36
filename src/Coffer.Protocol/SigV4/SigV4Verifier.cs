using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Coffer.Core.Principals;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Primitives;

namespace Coffer.Protocol.SigV4;

/// <summary>The verified caller of a request and the scope it signed for.</summary>
public sealed record SigV4Identity(AccessKey Key, string Region, string Service);

/// <summary>
/// Verifies AWS Signature Version 4 on a request (spec §1.4). Generic over the signing service: the caller
/// says which service the operation belongs to, so other services (iam, sts, …) can share this verifier.
///
/// Error codes (AWS does not document them for Secrets Manager, spec §1.3/§9; these are what AWS JSON services
/// answer, and docs/protocol.md lists them):
/// - no Authorization header: 403 MissingAuthenticationTokenException "Missing Authentication Token";
/// - malformed header, missing X-Amz-Date, required header not signed: 400 IncompleteSignatureException;
/// - unknown or inactive access key, or a session token Coffer did not issue: 400 UnrecognizedClientException;
/// - an expired session token: 400 ExpiredTokenException;
/// - scope (date, service, region, terminator) wrong, signature wrong, outside the ±5 minute window:
///   400 InvalidSignatureException (the SDKs correct their clock skew on this code and the Date header).
///
/// The hot path allocates little: the header is parsed into ranges, canonical request and string to sign are
/// built in pooled buffers, and derived signing keys are cached per (access key, date, region, service),
/// re-derived only when the key's secret differs from the cached one.
/// </summary>
public sealed partial class SigV4Verifier(AccessKeyService accessKeys, TimeProvider time)
{
    /// <summary>Allowed difference between X-Amz-Date and the server clock, both ways (reliability matrix 4c-S).</summary>
    public static readonly TimeSpan Window = TimeSpan.FromMinutes(5);
    private const int MaxCachedKeys = 10_000;
    private const string DateFormat = "yyyyMMdd'T'HHmmss'Z'";

    private sealed class SigningKey(string accessKeyId, string region, string service, byte[] secret, byte[] key)
    {
        public string AccessKeyId { get; } = accessKeyId;
        public string Region { get; } = region;
        public string Service { get; } = service;
        public byte[] Secret { get; } = secret;
        public byte[] Key { get; } = key;
    }

    // Keyed by the whole Credential value (AKID/date/region/service/aws4_request), looked up by span.
    private readonly ConcurrentDictionary<string, SigningKey> _keys = new(StringComparer.Ordinal);

    [GeneratedRegex("^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$", RegexOptions.CultureInvariant)]
    private static partial Regex RegionName();

    /// <summary>
    /// Verifies the request's signature over <paramref name="body"/>. Throws a <see cref="Core.ServiceException"/>
    /// carrying the AWS error on any failure.
    /// </summary>
    /// <param name="service">The signing name the credential scope must carry (e.g. <c>secretsmanager</c>).</param>
    public async ValueTask<SigV4Identity> VerifyAsync(HttpRequest request, ReadOnlyMemory<byte> body, string service, CancellationToken ct)
    {
        var authorization = Single(request.Headers.Authorization);
        if (string.IsNullOrEmpty(authorization))
            throw ProtocolErrors.MissingAuthenticationToken();
        var auth = AuthorizationHeader.Parse(authorization);

        var amzDate = Single(request.Headers["x-amz-date"]);
        if (amzDate is null)
            throw ProtocolErrors.IncompleteSignature("Authorization header requires existence of an 'X-Amz-Date' header.");
        if (!DateTimeOffset.TryParseExact(amzDate, DateFormat, CultureInfo.InvariantCulture,
                DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var signedAt))
            throw ProtocolErrors.IncompleteSignature("X-Amz-Date must have the form yyyyMMddTHHmmssZ.");

        CheckScope(authorization, auth, amzDate, service);
        CheckSignedHeaders(authorization.AsSpan()[auth.SignedHeaders], request.Headers);
        CheckWindow(signedAt, amzDate);

        var credential = authorization.AsSpan()[auth.Credential];
        _keys.GetAlternateLookup<ReadOnlySpan<char>>().TryGetValue(credential, out var cached);
        var accessKeyId = cached?.AccessKeyId ?? authorization[auth.AccessKeyId];

        // Temporary credentials (AssumeRole, GetSessionToken) carry their secret inside the sealed session token;
        // a token Coffer did not issue for this key id is unknown, an expired one is ExpiredToken.
        AccessKey? key;
        var sessionToken = Single(request.Headers["x-amz-security-token"]);
        if (sessionToken is not null) key = accessKeys.FindSession(accessKeyId, sessionToken);
        else if (request.Headers.ContainsKey("x-amz-security-token")) key = null;
        else key = accessKeyId.StartsWith("ASIA", StringComparison.Ordinal) ? null : await accessKeys.FindAsync(accessKeyId, ct).ConfigureAwait(false);
        if (key is null)
            throw ProtocolErrors.UnrecognizedClient();

        var signingKey = cached is not null && CryptographicOperations.FixedTimeEquals(cached.Secret, key.SecretAccessKey)
            ? cached
            : Derive(authorization, auth, key);

        if (!SignatureMatches(request, body.Span, authorization, auth, amzDate, signingKey.Key))
            throw ProtocolErrors.SignatureMismatch();

        if (!ReferenceEquals(signingKey, cached))
        {
            if (_keys.Count >= MaxCachedKeys) _keys.Clear();
            _keys[authorization[auth.Credential]] = signingKey;
        }
        return new SigV4Identity(key, signingKey.Region, signingKey.Service);
    }

    private static string? Single(StringValues values) => values.Count == 1 ? values[0] : null;

    private static void CheckScope(string authorization, AuthorizationHeader auth, string amzDate, string service)
    {
        var span = authorization.AsSpan();
        var scopeDate = span[auth.Date];
        if (!scopeDate.SequenceEqual(amzDate.AsSpan(0, 8)))
            throw ProtocolErrors.InvalidSignature(
                $"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{Printable(scopeDate)}' != '{amzDate[..8]}', from '{amzDate}'.");
        if (!span[auth.Service].SequenceEqual(service))
            throw ProtocolErrors.InvalidSignature($"Credential should be scoped to correct service: '{service}'.");
        if (!span[auth.Terminator].SequenceEqual("aws4_request"))
            throw ProtocolErrors.InvalidSignature("Credential should be scoped with a valid terminator: 'aws4_request'.");
        // Each request acts in the region of its scope (docs/protocol.md); the name must at least look like one.
        if (!RegionName().IsMatch(span[auth.Region]))
            throw ProtocolErrors.InvalidSignature("Credential should be scoped to a valid region.");
    }

    private static void CheckSignedHeaders(ReadOnlySpan<char> signedHeaders, IHeaderDictionary headers)
    {
        bool host = false, date = false, target = false, token = false;
        foreach (var range in signedHeaders.Split(';'))
        {
            var name = signedHeaders[range];
            if (name.IsEmpty || name.ContainsAnyInRange('A', 'Z'))
                throw ProtocolErrors.IncompleteSignature("SignedHeaders must list lower-case header names separated by ';'.");
            if (name.SequenceEqual("host")) host = true;
            else if (name.SequenceEqual("x-amz-date")) date = true;
            else if (name.SequenceEqual("x-amz-target")) target = true;
            else if (name.SequenceEqual("x-amz-security-token")) token = true;
        }
        if (!host || !date)
            throw ProtocolErrors.IncompleteSignature("SignedHeaders must include 'host' and 'x-amz-date'.");
        if (!target && headers.ContainsKey("x-amz-target"))
            throw ProtocolErrors.IncompleteSignature("SignedHeaders must include 'x-amz-target'.");
        if (!token && headers.ContainsKey("x-amz-security-token"))
            throw ProtocolErrors.IncompleteSignature("SignedHeaders must include 'x-amz-security-token'.");
    }

    private void CheckWindow(DateTimeOffset signedAt, string amzDate)
    {
        var now = time.GetUtcNow();
        if (signedAt < now - Window)
            throw ProtocolErrors.InvalidSignature(
                $"Signature expired: {amzDate} is now earlier than {Format(now - Window)} ({Format(now)} - 5 min.)");
        if (signedAt > now + Window)
            throw ProtocolErrors.InvalidSignature(
                $"Signature not yet current: {amzDate} is still later than {Format(now + Window)} ({Format(now)} + 5 min.)");
    }

    private static string Format(DateTimeOffset t) => t.UtcDateTime.ToString(DateFormat, CultureInfo.InvariantCulture);

    private static string Printable(ReadOnlySpan<char> s) => s.Length <= 16 && !s.ContainsAnyExceptInRange('0', '9') ? s.ToString() : "?";

    private static SigningKey Derive(string authorization, AuthorizationHeader auth, AccessKey key)
    {
        var span = authorization.AsSpan();
        // kSecret = "AWS4" + secret; kDate = HMAC(kSecret, date); kRegion; kService; kSigning = HMAC(kService, "aws4_request").
        var secret = key.SecretAccessKey;
        var seed = new byte[4 + secret.Length];
        "AWS4"u8.CopyTo(seed);
        secret.CopyTo(seed, 4);
        Span<byte> k = stackalloc byte[32];
        HMACSHA256.HashData(seed, Encoding.ASCII.GetBytes(span[auth.Date].ToString()), k);
        CryptographicOperations.ZeroMemory(seed);
        HMACSHA256.HashData(k, Encoding.UTF8.GetBytes(span[auth.Region].ToString()), k);
        HMACSHA256.HashData(k, Encoding.UTF8.GetBytes(span[auth.Service].ToString()), k);
        HMACSHA256.HashData(k, "aws4_request"u8, k);
        return new SigningKey(key.AccessKeyId, authorization[auth.Region], authorization[auth.Service], [.. secret], k.ToArray());
    }

    private static bool SignatureMatches(HttpRequest request, ReadOnlySpan<byte> body, string authorization,
        AuthorizationHeader auth, string amzDate, byte[] signingKey)
    {
        // The signature must be 64 lower-case hex digits; anything else cannot match (and is not decoded).
        var hex = authorization.AsSpan()[auth.Signature];
        Span<byte> given = stackalloc byte[32];
        if (hex.Length != 64 || hex.ContainsAnyExcept("0123456789abcdef")
            || Convert.FromHexString(hex, given, out _, out var written) != System.Buffers.OperationStatus.Done || written != 32)
            return false;

        Span<byte> hash = stackalloc byte[32];
        var canonical = new Utf8Builder(1024);
        try
        {
            WriteCanonicalRequest(ref canonical, request, body, authorization.AsSpan()[auth.SignedHeaders]);
            SHA256.HashData(canonical.Written, hash);
        }
        finally { canonical.Dispose(); }

        Span<byte> computed = stackalloc byte[32];
        var toSign = new Utf8Builder(256);
        try
        {
            var span = authorization.AsSpan();
            toSign.Append("AWS4-HMAC-SHA256\n"u8);
            toSign.Append(amzDate);
            toSign.Append((byte)'\n');
            toSign.Append(span[auth.Date.Start..auth.Credential.End]); // date/region/service/aws4_request
            toSign.Append((byte)'\n');
            toSign.AppendHex(hash);
            HMACSHA256.HashData(signingKey, toSign.Written, computed);
        }
        finally { toSign.Dispose(); }
        return CryptographicOperations.FixedTimeEquals(computed, given);
    }

    /// <summary>
    /// Canonical request: method, canonical URI, canonical query string, canonical headers, signed headers,
    /// hex SHA-256 of the body, separated by newlines.
    /// </summary>
    internal static void WriteCanonicalRequest(ref Utf8Builder output, HttpRequest request, ReadOnlySpan<byte> body, ReadOnlySpan<char> signedHeaders)
    {
        output.Append(request.Method);
        output.Append((byte)'\n');

        var rawTarget = request.HttpContext.Features.Get<IHttpRequestFeature>()?.RawTarget;
        if (string.IsNullOrEmpty(rawTarget)) rawTarget = (request.PathBase + request.Path).ToUriComponent() + request.QueryString.ToUriComponent();
        var target = rawTarget.AsSpan();
        var question = target.IndexOf('?');
        var path = question < 0 ? target : target[..question];
        var query = question < 0 ? [] : target[(question + 1)..];
        WriteCanonicalUri(ref output, path);
        output.Append((byte)'\n');
        WriteCanonicalQuery(ref output, query);
        output.Append((byte)'\n');

        foreach (var range in signedHeaders.Split(';'))
        {
            var name = signedHeaders[range];
            output.Append(name);
            output.Append((byte)':');
            var values = request.Headers[name.ToString()];
            for (var i = 0; i < values.Count; i++)
            {
                if (i > 0) output.Append((byte)',');
                AppendTrimmed(ref output, values[i]);
            }
            output.Append((byte)'\n');
        }
        output.Append((byte)'\n');
        output.Append(signedHeaders);
        output.Append((byte)'\n');
        Span<byte> bodyHash = stackalloc byte[32];
        SHA256.HashData(body, bodyHash);
        output.AppendHex(bodyHash);
    }

    /// <summary>Trims the value and collapses runs of whitespace into one space.</summary>
    private static void AppendTrimmed(ref Utf8Builder output, string? value)
    {
        var span = value.AsSpan().Trim();
        var space = false;
        var runStart = 0;
        for (var i = 0; i < span.Length; i++)
        {
            if (char.IsWhiteSpace(span[i]))
            {
                if (!space) output.Append(span[runStart..i]);
                space = true;
                continue;
            }
            if (space) { output.Append((byte)' '); runStart = i; space = false; }
        }
        output.Append(span[runStart..]);
    }

    /// <summary>
    /// The path as the client sent it, with dot segments removed and URI-encoded once more (every service but
    /// S3 double-encodes; '/' and unreserved characters stay).
    /// </summary>
    private static void WriteCanonicalUri(ref Utf8Builder output, ReadOnlySpan<char> rawPath)
    {
        if (rawPath.IsEmpty) { output.Append((byte)'/'); return; }
        var path = rawPath.Contains('.') ? RemoveDotSegments(rawPath.ToString()) : rawPath;
        Span<byte> utf8 = stackalloc byte[4];
        foreach (var rune in path.EnumerateRunes())
        {
            var n = rune.EncodeToUtf8(utf8);
            for (var i = 0; i < n; i++)
            {
                var b = utf8[i];
                if (IsUnreserved(b) || b == '/') output.Append(b);
                else AppendPercent(ref output, b);
            }
        }
    }

    private static string RemoveDotSegments(string path)
    {
        var segments = new List<string>();
        foreach (var segment in path.Split('/'))
        {
            if (segment == ".") continue;
            if (segment == "..") { if (segments.Count > 1) segments.RemoveAt(segments.Count - 1); continue; }
            segments.Add(segment);
        }
        var result = string.Join('/', segments);
        if ((path.EndsWith("/.", StringComparison.Ordinal) || path.EndsWith("/..", StringComparison.Ordinal)) && !result.EndsWith('/')) result += "/";
        return result.StartsWith('/') ? result : "/" + result;
    }

    /// <summary>Parameters decoded, re-encoded per RFC 3986, sorted by name then value, joined by '&amp;'.</summary>
    private static void WriteCanonicalQuery(ref Utf8Builder output, ReadOnlySpan<char> query)
    {
        if (query.IsEmpty) return;
        var pairs = new List<(string Name, string Value)>();
        foreach (var range in query.Split('&'))
        {
            var part = query[range];
            if (part.IsEmpty) continue;
            var eq = part.IndexOf('=');
            var name = eq < 0 ? part : part[..eq];
            var value = eq < 0 ? [] : part[(eq + 1)..];
            pairs.Add((Encode(Uri.UnescapeDataString(name.ToString())), Encode(Uri.UnescapeDataString(value.ToString()))));
        }
        pairs.Sort((a, b) =>
        {
            var c = string.CompareOrdinal(a.Name, b.Name);
            return c != 0 ? c : string.CompareOrdinal(a.Value, b.Value);
        });
        for (var i = 0; i < pairs.Count; i++)
        {
            if (i > 0) output.Append((byte)'&');
            output.Append(pairs[i].Name);
            output.Append((byte)'=');
            output.Append(pairs[i].Value);
        }
    }

    private static string Encode(string s)
    {
        var sb = new StringBuilder(s.Length);
        foreach (var b in Encoding.UTF8.GetBytes(s))
            if (IsUnreserved(b)) sb.Append((char)b);
            else sb.Append('%').Append(b.ToString("X2", CultureInfo.InvariantCulture));
        return sb.ToString();
    }

    private static bool IsUnreserved(byte b) => b is (>= (byte)'A' and <= (byte)'Z') or (>= (byte)'a' and <= (byte)'z')
        or (>= (byte)'0' and <= (byte)'9') or (byte)'-' or (byte)'_' or (byte)'.' or (byte)'~';

    private static void AppendPercent(ref Utf8Builder output, byte b)
    {
        const string digits = "0123456789ABCDEF";
        output.Append((byte)'%');
        output.Append((byte)digits[b >> 4]);
        output.Append((byte)digits[b & 0xF]);
    }
}
