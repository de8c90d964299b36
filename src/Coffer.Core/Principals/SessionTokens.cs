using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Coffer.Crypto;

namespace Coffer.Core.Principals;

/// <summary>
/// What a session token asserts: who the session is, its secret, its session policy, its expiry, and its session
/// tags and source identity. Members added later are optional, so tokens issued before them still open.
/// </summary>
public sealed class SessionClaims
{
    [JsonPropertyName("k")] public required string AccessKeyId { get; set; }
    [JsonPropertyName("s")] public required string SecretAccessKey { get; set; }
    [JsonPropertyName("a")] public required string Arn { get; set; }
    [JsonPropertyName("u")] public required string UserId { get; set; }
    [JsonPropertyName("n")] public required string Name { get; set; }
    [JsonPropertyName("t")] public PrincipalKind Kind { get; set; }
    [JsonPropertyName("r")] public string? RoleArn { get; set; }
    [JsonPropertyName("p")] public string? SessionPolicy { get; set; }
    [JsonPropertyName("e")] public long ExpiresMs { get; set; }
    /// <summary>When the session was issued (aws:TokenIssueTime); 0 in tokens issued before it was recorded.</summary>
    [JsonPropertyName("i")] public long IssuedMs { get; set; }
    /// <summary>Session tags in the order given (null when none, as in tokens issued before they existed).</summary>
    [JsonPropertyName("g")] public List<string[]>? Tags { get; set; }
    /// <summary>The keys of the tags that pass on to chained sessions (null when none).</summary>
    [JsonPropertyName("x")] public List<string>? TransitiveTagKeys { get; set; }
    [JsonPropertyName("d")] public string? SourceIdentity { get; set; }
}

[JsonSerializable(typeof(SessionClaims))]
[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
internal sealed partial class SessionJsonContext : JsonSerializerContext;

/// <summary>
/// Temporary credentials without server-side state: the session token is the claims sealed under the master key
/// (AES-GCM, associated data "sts-session-token:" + access key id), so it cannot be forged or altered, and it
/// carries the session's secret key encrypted. A token is good until its expiry; nothing revokes it earlier
/// except deleting the role (its policies are evaluated at each request) or changing the master key.
/// </summary>
public sealed class SessionTokens(EnvelopeCipher cipher, TimeProvider time)
{
    /// <summary>When set (tests only), every session lasts this long whatever DurationSeconds asked for.</summary>
    public TimeSpan? LifetimeOverride { get; init; }

    public TimeProvider Time => time;

    public (SessionClaims Claims, string Token) Issue(string arn, string userId, string name, PrincipalKind kind, string? roleArn,
        string? sessionPolicy, TimeSpan lifetime, IReadOnlyList<KeyValuePair<string, string>>? tags = null,
        IReadOnlyList<string>? transitiveTagKeys = null, string? sourceIdentity = null)
    {
        const string idAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        const string secretAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        var claims = new SessionClaims
        {
            AccessKeyId = "ASIA" + RandomNumberGenerator.GetString(idAlphabet, 16),
            SecretAccessKey = RandomNumberGenerator.GetString(secretAlphabet, 40),
            Arn = arn, UserId = userId, Name = name, Kind = kind, RoleArn = roleArn, SessionPolicy = sessionPolicy,
            ExpiresMs = (time.GetUtcNow() + (LifetimeOverride ?? lifetime)).ToUnixTimeMilliseconds() / 1000 * 1000,
            IssuedMs = time.GetUtcNow().ToUnixTimeMilliseconds() / 1000 * 1000,
            Tags = tags is { Count: > 0 } ? [.. tags.Select(t => new[] { t.Key, t.Value })] : null,
            TransitiveTagKeys = transitiveTagKeys is { Count: > 0 } ? [.. transitiveTagKeys] : null,
            SourceIdentity = sourceIdentity,
        };
        var plain = JsonSerializer.SerializeToUtf8Bytes(claims, SessionJsonContext.Default.SessionClaims);
        try
        {
            var token = Convert.ToBase64String(cipher.Seal(plain, Aad(claims.AccessKeyId)));
            return (claims, token);
        }
        finally { CryptographicOperations.ZeroMemory(plain); }
    }

    /// <summary>
    /// Null when the token is not one Coffer issued for this access key id; throws ExpiredToken when it was but
    /// has expired.
    /// </summary>
    public SessionClaims? Open(string accessKeyId, string token)
    {
        byte[] plain;
        try
        {
            plain = cipher.Open(Convert.FromBase64String(token), Aad(accessKeyId));
        }
        catch (Exception e) when (e is EnvelopeException or FormatException or ArgumentException)
        {
            return null;
        }
        SessionClaims? claims;
        try { claims = JsonSerializer.Deserialize(plain, SessionJsonContext.Default.SessionClaims); }
        catch (JsonException) { return null; }
        finally { CryptographicOperations.ZeroMemory(plain); }
        if (claims is null || claims.AccessKeyId != accessKeyId) return null;
        if (claims.Tags is { } t && t.Any(pair => pair is not [not null, not null])) return null;
        if (time.GetUtcNow().ToUnixTimeMilliseconds() >= claims.ExpiresMs) throw IamErrors.ExpiredToken();
        return claims;
    }

    private static byte[] Aad(string accessKeyId) => Encoding.UTF8.GetBytes("sts-session-token:" + accessKeyId);
}
