using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Employees;

/// <summary>
/// The one Secrets Manager call this app needs (GetSecretValue), signed with SigV4 as any AWS SDK would sign it.
/// (The AWS SDK for .NET would do the same with ServiceURL pointed at Coffer; it is not on this machine's mirror.)
/// </summary>
internal sealed class SecretsManagerClient(HttpClient http, Uri endpoint, string region, string accessKeyId, string secretAccessKey)
{
    public async Task<string> GetSecretStringAsync(string secretId, string stage, CancellationToken ct)
    {
        var body = JsonSerializer.Serialize(new Dictionary<string, string> { ["SecretId"] = secretId, ["VersionStage"] = stage });
        var now = DateTime.UtcNow;
        var amzDate = now.ToString("yyyyMMdd'T'HHmmss'Z'", System.Globalization.CultureInfo.InvariantCulture);
        var day = amzDate[..8];
        const string target = "secretsmanager.GetSecretValue";
        const string contentType = "application/x-amz-json-1.1";
        var host = endpoint.Authority;
        var canonical = $"POST\n/\n\ncontent-type:{contentType}\nhost:{host}\nx-amz-date:{amzDate}\nx-amz-target:{target}\n\n" +
                        $"content-type;host;x-amz-date;x-amz-target\n{Hex(SHA256.HashData(Encoding.UTF8.GetBytes(body)))}";
        var scope = $"{day}/{region}/secretsmanager/aws4_request";
        var toSign = $"AWS4-HMAC-SHA256\n{amzDate}\n{scope}\n{Hex(SHA256.HashData(Encoding.UTF8.GetBytes(canonical)))}";
        var key = Encoding.UTF8.GetBytes("AWS4" + secretAccessKey);
        foreach (var part in (string[])[day, region, "secretsmanager", "aws4_request"]) key = HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(part));
        var signature = Hex(HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(toSign)));

        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(endpoint, "/"));
        request.Content = new StringContent(body, Encoding.UTF8);
        request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        request.Headers.Host = host;
        request.Headers.Add("X-Amz-Date", amzDate);
        request.Headers.Add("X-Amz-Target", target);
        request.Headers.TryAddWithoutValidation("Authorization",
            $"AWS4-HMAC-SHA256 Credential={accessKeyId}/{scope}, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature={signature}");
        using var response = await http.SendAsync(request, ct);
        var text = await response.Content.ReadAsStringAsync(ct);
        if (!response.IsSuccessStatusCode)
        {
            using var err = JsonDocument.Parse(text);
            throw new InvalidOperationException("GetSecretValue failed: " + (err.RootElement.TryGetProperty("__type", out var t) ? t.GetString() : response.StatusCode.ToString()));
        }
        using var doc = JsonDocument.Parse(text);
        return doc.RootElement.GetProperty("SecretString").GetString()!;
    }

    private static string Hex(byte[] bytes) => Convert.ToHexStringLower(bytes);
}
