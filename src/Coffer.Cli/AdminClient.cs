using System.Globalization;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Xml.Linq;

namespace Coffer.Cli;

/// <summary>A failed call: the AWS error code and message as the server answered them.</summary>
internal sealed class AdminCallException(string code, string message) : Exception($"{code}: {message}")
{
    public string Code { get; } = code;
}

/// <summary>
/// `coffer admin` talks to a running server over the same APIs the AWS CLI uses (IAM/STS Query, Secrets Manager
/// JSON), signed with SigV4, so that every change is authorised, takes effect at once and goes through the one
/// place where calls complete. Credentials: --access-key-id/--secret-access-key, else AWS_ACCESS_KEY_ID/
/// AWS_SECRET_ACCESS_KEY, else the [default] profile of &lt;data-dir&gt;/admin-credentials.
/// </summary>
internal sealed class AdminClient(Uri endpoint, string accessKeyId, string secretAccessKey, string region) : IDisposable
{
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(30) };

    public async Task<XElement> QueryAsync(string service, string action, IEnumerable<KeyValuePair<string, string>> parameters, CancellationToken ct)
    {
        var version = service == "iam" ? "2010-05-08" : "2011-06-15";
        var form = new List<KeyValuePair<string, string>> { new("Action", action), new("Version", version) };
        form.AddRange(parameters);
        var body = string.Join("&", form.Select(p => Uri.EscapeDataString(p.Key) + "=" + Uri.EscapeDataString(p.Value)));
        var (status, text) = await SendAsync(service, "application/x-www-form-urlencoded; charset=utf-8", null, body, ct).ConfigureAwait(false);
        var xml = XDocument.Parse(text).Root!;
        if (status >= 300)
        {
            var error = xml.Descendants().FirstOrDefault(e => e.Name.LocalName == "Error");
            throw new AdminCallException(Child(error, "Code") ?? status.ToString(CultureInfo.InvariantCulture), Child(error, "Message") ?? "");
        }
        return xml.Elements().First(e => e.Name.LocalName == action + "Result");
    }

    public async Task<JsonElement> SecretsManagerAsync(string action, object request, CancellationToken ct)
    {
        var body = JsonSerializer.Serialize(request, request.GetType(), AdminJson.Options);
        var (status, text) = await SendAsync("secretsmanager", "application/x-amz-json-1.1", "secretsmanager." + action, body, ct).ConfigureAwait(false);
        using var doc = JsonDocument.Parse(string.IsNullOrEmpty(text) ? "{}" : text);
        if (status >= 300)
            throw new AdminCallException(doc.RootElement.TryGetProperty("__type", out var t) ? t.GetString()! : status.ToString(CultureInfo.InvariantCulture),
                doc.RootElement.TryGetProperty("Message", out var m) ? m.GetString()! : "");
        return doc.RootElement.Clone();
    }

    public static string? Child(XElement? e, string name) => e?.Elements().FirstOrDefault(x => x.Name.LocalName == name)?.Value;

    private async Task<(int Status, string Body)> SendAsync(string service, string contentType, string? target, string body, CancellationToken ct)
    {
        var now = DateTimeOffset.UtcNow;
        var amzDate = now.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture);
        var date = amzDate[..8];
        var host = endpoint.IsDefaultPort ? endpoint.Host : $"{endpoint.Host}:{endpoint.Port}";
        var path = string.IsNullOrEmpty(endpoint.AbsolutePath) ? "/" : endpoint.AbsolutePath;
        var headers = new SortedDictionary<string, string>(StringComparer.Ordinal)
        {
            ["content-type"] = contentType,
            ["host"] = host,
            ["x-amz-date"] = amzDate,
        };
        if (target is not null) headers["x-amz-target"] = target;
        var signedHeaders = string.Join(";", headers.Keys);
        var canonical = new StringBuilder()
            .Append("POST\n").Append(path).Append("\n\n")
            .Append(string.Concat(headers.Select(h => h.Key + ":" + h.Value.Trim() + "\n"))).Append('\n')
            .Append(signedHeaders).Append('\n')
            .Append(Hex(SHA256.HashData(Encoding.UTF8.GetBytes(body)))).ToString();
        var scope = $"{date}/{region}/{service}/aws4_request";
        var toSign = $"AWS4-HMAC-SHA256\n{amzDate}\n{scope}\n{Hex(SHA256.HashData(Encoding.UTF8.GetBytes(canonical)))}";
        var key = HMACSHA256.HashData(Encoding.UTF8.GetBytes("AWS4" + secretAccessKey), Encoding.UTF8.GetBytes(date));
        key = HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(region));
        key = HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(service));
        key = HMACSHA256.HashData(key, "aws4_request"u8.ToArray());
        var signature = Hex(HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(toSign)));

        using var message = new HttpRequestMessage(HttpMethod.Post, endpoint) { Content = new StringContent(body, Encoding.UTF8) };
        message.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        message.Headers.TryAddWithoutValidation("X-Amz-Date", amzDate);
        if (target is not null) message.Headers.TryAddWithoutValidation("X-Amz-Target", target);
        message.Headers.TryAddWithoutValidation("Authorization",
            $"AWS4-HMAC-SHA256 Credential={accessKeyId}/{scope}, SignedHeaders={signedHeaders}, Signature={signature}");
        using var response = await _http.SendAsync(message, ct).ConfigureAwait(false);
        return ((int)response.StatusCode, await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false));
    }

    private static string Hex(byte[] bytes) => Convert.ToHexStringLower(bytes);

    public void Dispose() => _http.Dispose();
}

internal static class AdminJson
{
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.General)
    {
        TypeInfoResolver = new System.Text.Json.Serialization.Metadata.DefaultJsonTypeInfoResolver(),
    };
}
