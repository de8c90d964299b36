using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Coffer.EndToEnd.Tests.Harness;

/// <summary>
/// A minimal Secrets Manager client for tests: awsJson1_1 over HTTP POST, signed by <see cref="SigV4Signer"/>.
/// Independent of src/ on purpose. Besides plain calls it exposes the signed <see cref="HttpRequestMessage"/>
/// so bad-input tests can tamper with it after signing.
/// </summary>
internal sealed class SecretsClient : IDisposable
{
    private readonly HttpClient _http;
    private readonly SigV4Signer _signer;
    private readonly ResponseJournal? _journal;

    public SecretsClient(Uri endpoint, string accessKeyId, string secretAccessKey, string region = "us-east-1",
        ResponseJournal? journal = null, TimeSpan? timeout = null)
    {
        Endpoint = endpoint;
        _signer = new SigV4Signer(accessKeyId, secretAccessKey, region);
        _journal = journal;
        var handler = new SocketsHttpHandler
        {
            UseProxy = false,
            AllowAutoRedirect = false,
            UseCookies = false,
            AutomaticDecompression = DecompressionMethods.None,
            MaxConnectionsPerServer = 64,
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30),
            ConnectTimeout = TimeSpan.FromSeconds(30),
        };
        _http = new HttpClient(handler) { Timeout = timeout ?? TimeSpan.FromSeconds(90) };
    }

    public Uri Endpoint { get; }

    public string Host => Endpoint.IsDefaultPort ? Endpoint.Host : $"{Endpoint.Host}:{Endpoint.Port}";

    public SigV4Signer Signer => _signer;

    public Task<ApiResponse> CallAsync(string action, JsonObject body, CancellationToken ct = default) =>
        CallAsync(action, Encoding.UTF8.GetBytes(body.ToJsonString()), ct);

    public Task<ApiResponse> CallAsync(string action, string bodyJson, CancellationToken ct = default) =>
        CallAsync(action, Encoding.UTF8.GetBytes(bodyJson), ct);

    public Task<ApiResponse> CallAsync(string action, byte[] body, CancellationToken ct = default) =>
        SendAsync(BuildSigned("secretsmanager." + action, body), action, ct);

    /// <summary>A correctly signed request; the caller may change it afterwards to test verification.</summary>
    public HttpRequestMessage BuildSigned(string? target, byte[] body, DateTimeOffset? time = null, SigV4Signer? signer = null)
    {
        var parts = (signer ?? _signer).Sign(Host, target, body, time ?? DateTimeOffset.UtcNow);
        var request = new HttpRequestMessage(HttpMethod.Post, Endpoint)
        {
            Content = new ByteArrayContent(body),
        };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue(SigV4Signer.ContentType);
        request.Headers.Host = Host;
        request.Headers.TryAddWithoutValidation("X-Amz-Date", parts.AmzDate);
        if (target is not null)
        {
            request.Headers.TryAddWithoutValidation("X-Amz-Target", target);
        }

        request.Headers.TryAddWithoutValidation("Authorization", parts.Authorization);
        return request;
    }

    /// <summary>Sends anything; the response is recorded in the journal. Transport errors propagate.</summary>
    public async Task<ApiResponse> SendAsync(HttpRequestMessage request, string? action, CancellationToken ct = default)
    {
        using (request)
        {
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseContentRead, ct);
            byte[] body = await response.Content.ReadAsByteArrayAsync(ct);
            var headers = new List<KeyValuePair<string, string>>();
            foreach (var h in response.Headers)
            {
                headers.Add(new(h.Key, string.Join(", ", h.Value)));
            }

            foreach (var h in response.Content.Headers)
            {
                headers.Add(new(h.Key, string.Join(", ", h.Value)));
            }

            var api = new ApiResponse { Action = action, Status = (int)response.StatusCode, Headers = headers, Body = body };
            _journal?.Record(api);
            return api;
        }
    }

    /// <summary>A plain GET (health, metrics, probes of other paths), recorded in the journal.</summary>
    public Task<ApiResponse> GetAsync(string pathAndQuery, CancellationToken ct = default) =>
        SendAsync(new HttpRequestMessage(HttpMethod.Get, new Uri(Endpoint, pathAndQuery)), "GET " + pathAndQuery, ct);

    /// <summary>Follows NextToken through every page of a list action and returns the concatenated member.</summary>
    public async Task<List<JsonNode>> ListAllAsync(string action, JsonObject body, string member, CancellationToken ct = default)
    {
        var all = new List<JsonNode>();
        string? next = null;
        for (int page = 0; page < 10_000; page++)
        {
            var request = (JsonObject)body.DeepClone();
            if (next is not null)
            {
                request["NextToken"] = next;
            }

            var response = (await CallAsync(action, request, ct)).EnsureSuccess();
            if (response.Json?[member] is JsonArray items)
            {
                all.AddRange(items.Where(i => i is not null).Select(i => i!.DeepClone()));
            }

            next = response.Json?["NextToken"]?.GetValue<string>();
            if (string.IsNullOrEmpty(next))
            {
                return all;
            }
        }

        throw new InvalidOperationException($"{action}: pagination did not end");
    }

    public static JsonObject Obj(params (string Key, JsonNode? Value)[] members)
    {
        var o = new JsonObject();
        foreach (var (k, v) in members)
        {
            o[k] = v;
        }

        return o;
    }

    public static string Serialize(JsonNode node) => node.ToJsonString(new JsonSerializerOptions { WriteIndented = false });

    public void Dispose() => _http.Dispose();
}
