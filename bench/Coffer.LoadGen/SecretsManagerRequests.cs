using System.Buffers;
using System.Globalization;
using System.Text.Json;

namespace Coffer.LoadGen;

/// <summary>
/// Builds signed Secrets Manager requests (awsJson1_1: POST /, X-Amz-Target). Signing happens per request because
/// x-amz-date changes; the derived key is cached by the signer and the date text per second here.
/// </summary>
internal sealed class SecretsManagerRequests
{
    public const string ContentType = "application/x-amz-json-1.1";

    private readonly Uri _endpoint;
    private readonly SigV4Signer _signer;
    private readonly string _path;

    public SecretsManagerRequests(LoadOptions options)
    {
        _endpoint = options.Endpoint;
        _signer = new SigV4Signer(options.AccessKey, options.SecretKey, options.Region, "secretsmanager");
        _path = string.IsNullOrEmpty(_endpoint.AbsolutePath) ? "/" : _endpoint.AbsolutePath;
    }

    public static string SecretName(string prefix, int index) =>
        prefix + index.ToString("D5", CultureInfo.InvariantCulture);

    /// <summary>A request whose body is fixed: its payload hash is computed once, by the caller.</summary>
    public HttpRequestMessage Create(string action, byte[] body, string? payloadHash = null)
    {
        string target = "secretsmanager." + action;
        var signable = new SignableRequest(
            "POST", _endpoint, _path, [],
            [new("content-type", ContentType), new("x-amz-target", target)],
            body, payloadHash);
        SignedRequest signed = _signer.Sign(signable, AmzClock.Now());

        var message = new HttpRequestMessage(HttpMethod.Post, _endpoint)
        {
            Version = System.Net.HttpVersion.Version11,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = new ByteArrayContent(body),
        };
        message.Content.Headers.TryAddWithoutValidation("Content-Type", ContentType);
        message.Headers.TryAddWithoutValidation("X-Amz-Target", target);
        message.Headers.TryAddWithoutValidation("X-Amz-Date", signed.AmzDate);
        message.Headers.TryAddWithoutValidation("Authorization", signed.Authorization);
        return message;
    }

    public static byte[] GetSecretValueBody(string secretId) =>
        Json(w => w.WriteString("SecretId", secretId));

    /// <summary>Raw HTTP callers must send the ClientRequestToken that SDKs fill in themselves (spec §3).</summary>
    public static byte[] CreateSecretBody(string name, string value) =>
        Json(w =>
        {
            w.WriteString("Name", name);
            w.WriteString("ClientRequestToken", Guid.NewGuid().ToString("D"));
            w.WriteString("SecretString", value);
        });

    public static byte[] PutSecretValueBody(string secretId, string token, string value) =>
        Json(w =>
        {
            w.WriteString("SecretId", secretId);
            w.WriteString("ClientRequestToken", token);
            w.WriteString("SecretString", value);
        });

    /// <summary>A value of <paramref name="size"/> base62 characters derived from <paramref name="seed"/>.</summary>
    public static string Value(int size, int seed)
    {
        const string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        var random = new Random(seed);
        return string.Create(size, random, static (span, r) =>
        {
            for (int i = 0; i < span.Length; i++)
            {
                span[i] = alphabet[r.Next(alphabet.Length)];
            }
        });
    }

    private static byte[] Json(Action<Utf8JsonWriter> members)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            members(writer);
            writer.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }
}

/// <summary>x-amz-date text, formatted once per second.</summary>
internal static class AmzClock
{
    private sealed record Cached(long Second, string Text);
    private static Cached? s_cached;

    public static string Now()
    {
        DateTime now = DateTime.UtcNow;
        long second = now.Ticks / TimeSpan.TicksPerSecond;
        var cached = s_cached;
        if (cached is not null && cached.Second == second)
        {
            return cached.Text;
        }
        string text = SigV4Signer.FormatAmzDate(new DateTime(second * TimeSpan.TicksPerSecond, DateTimeKind.Utc));
        s_cached = new Cached(second, text);
        return text;
    }
}
