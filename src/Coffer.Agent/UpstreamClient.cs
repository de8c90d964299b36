using System.Buffers;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Coffer.Agent;

/// <summary>
/// The agent's calls to the Coffer server: GetSecretValue (AWS JSON 1.1) and the change feed
/// (<c>GET /coffer/changes</c>), both SigV4-signed for the service <c>secretsmanager</c>.
/// </summary>
internal sealed class UpstreamClient : ISecretSource, IDisposable
{
    private readonly HttpClient _http;
    private readonly Uri _endpoint;
    private readonly string _host;
    private readonly SigV4Signer _signer;
    private readonly TimeProvider _time;
    private readonly AgentMetrics _metrics;
    private readonly TimeSpan _timeout;

    public UpstreamClient(Uri endpoint, SigV4Signer signer, TimeSpan timeout, TimeProvider time, AgentMetrics metrics)
    {
        _endpoint = endpoint;
        _host = HostHeader(endpoint);
        _signer = signer;
        _time = time;
        _metrics = metrics;
        _timeout = timeout;
        _http = new HttpClient(new SocketsHttpHandler
        {
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(60),
            ConnectTimeout = TimeSpan.FromSeconds(5),
            AutomaticDecompression = DecompressionMethods.None,
            UseProxy = false,
        }) { Timeout = Timeout.InfiniteTimeSpan };
    }

    /// <summary>The Host header (as signed) for the endpoint: lower-case host, port unless default, IPv6 in brackets.</summary>
    public static string HostHeader(Uri endpoint)
    {
        var host = endpoint.HostNameType == UriHostNameType.IPv6 ? $"[{endpoint.IdnHost}]" : endpoint.Host.ToLowerInvariant();
        return endpoint.IsDefaultPort ? host : $"{host}:{endpoint.Port}";
    }

    private string BasePath => string.IsNullOrEmpty(_endpoint.AbsolutePath) ? "/" : _endpoint.AbsolutePath;

    public async Task<FetchedSecret> GetSecretValueAsync(CacheKey key, CancellationToken ct)
    {
        _metrics.UpstreamRequest();
        var body = RequestBody(key);
        var headers = new SortedDictionary<string, string>(StringComparer.Ordinal)
        {
            ["content-type"] = "application/x-amz-json-1.1",
            ["x-amz-target"] = "secretsmanager.GetSecretValue",
        };
        _signer.Sign("POST", _host, BasePath, [], headers, body, _time.GetUtcNow());
        using var request = new HttpRequestMessage(HttpMethod.Post, _endpoint) { Content = new ByteArrayContent(body) };
        AddHeaders(request, headers);

        var (status, payload) = await SendAsync(request, ct).ConfigureAwait(false);
        try
        {
            if (status != HttpStatusCode.OK) throw UpstreamError(status, payload);
            return AgentResponse.FromGetSecretValue(payload);
        }
        finally
        {
            // The server's answer held the value; only the reformatted copy stays (in the cache).
            CryptographicOperations.ZeroMemory(payload);
        }
    }

    /// <summary>One long poll of the change feed. <paramref name="after"/> null asks for the current position.</summary>
    public async Task<ChangeBatch> ReadChangesAsync(long? after, string? epoch, int waitSeconds, CancellationToken ct)
    {
        var query = new List<KeyValuePair<string, string>>();
        if (after is { } a)
        {
            query.Add(new("after", a.ToString(System.Globalization.CultureInfo.InvariantCulture)));
            if (epoch is not null) query.Add(new("epoch", epoch));
            query.Add(new("wait", waitSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        }
        var path = "/coffer/changes";
        var headers = new SortedDictionary<string, string>(StringComparer.Ordinal);
        _signer.Sign("GET", _host, path, query, headers, [], _time.GetUtcNow());
        var queryString = string.Join('&', query.Select(p => SigV4Signer.Encode(p.Key, false) + "=" + SigV4Signer.Encode(p.Value, false)));
        var uri = new UriBuilder(_endpoint) { Path = path, Query = queryString }.Uri;
        using var request = new HttpRequestMessage(HttpMethod.Get, uri);
        AddHeaders(request, headers);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(waitSeconds) + _timeout);
        var response = await _http.SendAsync(request, HttpCompletionOption.ResponseContentRead, timeout.Token).ConfigureAwait(false);
        using (response)
        {
            var payload = await response.Content.ReadAsByteArrayAsync(timeout.Token).ConfigureAwait(false);
            if (response.StatusCode != HttpStatusCode.OK) throw UpstreamError(response.StatusCode, payload);
            using var doc = JsonDocument.Parse(payload);
            var root = doc.RootElement;
            return new ChangeBatch(
                root.GetProperty("Epoch").GetString() ?? "",
                root.GetProperty("Sequence").GetInt64(),
                root.GetProperty("Reset").GetBoolean(),
                [.. root.GetProperty("Arns").EnumerateArray().Select(e => e.GetString() ?? "")],
                // Absent from servers that do not announce IAM changes.
                root.TryGetProperty("IamChanged", out var iam) && iam.ValueKind == JsonValueKind.True);
        }
    }

    private static void AddHeaders(HttpRequestMessage request, SortedDictionary<string, string> headers)
    {
        foreach (var (name, value) in headers)
        {
            if (name is "host") continue; // HttpClient writes Host from the URI, the same value
            if (name is "content-type") { request.Content!.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue(value); continue; }
            request.Headers.TryAddWithoutValidation(name, value);
        }
    }

    private async Task<(HttpStatusCode Status, byte[] Payload)> SendAsync(HttpRequestMessage request, CancellationToken ct)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(_timeout);
        try
        {
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseContentRead, timeout.Token).ConfigureAwait(false);
            var payload = await response.Content.ReadAsByteArrayAsync(timeout.Token).ConfigureAwait(false);
            return (response.StatusCode, payload);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            _metrics.UpstreamError();
            throw new UpstreamException(504, "TimeoutError", "Timeout", transient: true);
        }
        catch (HttpRequestException e) when (e.InnerException is SocketException or IOException || e.HttpRequestError is HttpRequestError.ConnectionError)
        {
            _metrics.UpstreamError();
            throw new UpstreamException(502, "ConnectionError", "Read Error", transient: true);
        }
        catch (HttpRequestException)
        {
            _metrics.UpstreamError();
            throw new UpstreamException(502, "ConnectionError", "Response Error", transient: true);
        }
    }

    private UpstreamException UpstreamError(HttpStatusCode status, byte[] payload)
    {
        _metrics.UpstreamError();
        var code = (int)status;
        string? type = null, message = null;
        try
        {
            using var doc = JsonDocument.Parse(payload);
            foreach (var p in doc.RootElement.EnumerateObject())
            {
                if (p.NameEquals("__type")) type = p.Value.GetString();
                else if (p.Name.Equals("message", StringComparison.OrdinalIgnoreCase)) message = p.Value.GetString();
            }
        }
        catch (JsonException) { }
        var transient = code >= 500 || code == 429 || type is "ThrottlingException";
        if (type is null) return new UpstreamException(500, "InternalFailure", "", transient);
        // Error types may come as "namespace#Code"; the agent answers the bare code like AWS's.
        var hash = type.IndexOf('#');
        if (hash >= 0) type = type[(hash + 1)..];
        return new UpstreamException(code, type, message ?? "", transient);
    }

    private static byte[] RequestBody(CacheKey key)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("SecretId", key.SecretId);
            if (key.VersionId is not null) json.WriteString("VersionId", key.VersionId);
            if (key.VersionStage is not null) json.WriteString("VersionStage", key.VersionStage);
            json.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    public void Dispose() => _http.Dispose();
}

/// <summary>
/// ARNs changed after the reader's sequence (the server's <c>/coffer/changes</c> answer). <see cref="IamChanged"/>
/// (always with <see cref="Reset"/>): the reset is because IAM changed on the server.
/// </summary>
internal sealed record ChangeBatch(string Epoch, long Sequence, bool Reset, IReadOnlyList<string> Arns, bool IamChanged = false);

/// <summary>The agent's answer body for GetSecretValue (spec §6.3).</summary>
internal static class AgentResponse
{
    /// <summary>
    /// Rewrites the server's GetSecretValue output as AWS's agent serialises it: ARN, Name, VersionId,
    /// SecretString or SecretBinary, VersionStages, and CreatedDate as a JSON string of epoch seconds.
    /// </summary>
    public static FetchedSecret FromGetSecretValue(byte[] payload)
    {
        using var doc = JsonDocument.Parse(payload);
        var root = doc.RootElement;
        var arn = root.TryGetProperty("ARN", out var a) ? a.GetString() ?? "" : "";
        var buffer = new ArrayBufferWriter<byte>(payload.Length + 64);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            Copy(json, root, "ARN");
            Copy(json, root, "Name");
            Copy(json, root, "VersionId");
            Copy(json, root, "SecretString");
            Copy(json, root, "SecretBinary");
            Copy(json, root, "VersionStages");
            if (root.TryGetProperty("CreatedDate", out var created))
            {
                if (created.ValueKind == JsonValueKind.Number) json.WriteString("CreatedDate", created.GetRawText());
                else created.WriteTo(json);
            }
            json.WriteEndObject();
        }
        var body = buffer.WrittenSpan.ToArray();
        buffer.Clear(); // ArrayBufferWriter.Clear zeroes what it wrote
        return new FetchedSecret(arn, body);
    }

    private static void Copy(Utf8JsonWriter json, JsonElement root, string name)
    {
        if (!root.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null) return;
        json.WritePropertyName(name);
        value.WriteTo(json);
    }

    /// <summary><c>{"__type": code, "message": text}</c>, the agent's upstream error body.</summary>
    public static byte[] Error(string code, string message)
    {
        var buffer = new ArrayBufferWriter<byte>(128);
        // Relaxed escaping: "can't" stays as AWS writes it (the body is JSON for programs, never HTML).
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            json.WriteStartObject();
            json.WriteString("__type", code);
            json.WriteString("message", message);
            json.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    public static readonly byte[] Empty = Encoding.UTF8.GetBytes("");
}
