using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;

namespace Coffer.Agent;

/// <summary>
/// The agent's HTTP interface (spec §6), in AWS's agent's order: guards first (connection limit → 429, forwarded
/// → 400, token → 403, method → 405), then a tiny router. Error bodies are plain text like AWS's agent, except
/// upstream errors, which are <c>{"__type","message"}</c> with the upstream status (spec §6.3).
/// </summary>
internal sealed class AgentEndpoint(SecretCache cache, SsrfToken token, AgentOptions options, AgentMetrics metrics, ILogger<AgentEndpoint> log)
{
    private const string JsonContentType = "application/json";
    private readonly string[] _ssrfHeaders = [.. options.SsrfHeaders];
    private readonly string _pathPrefix = options.PathPrefix;
    private int _active;

    public async Task HandleAsync(HttpContext http)
    {
        var path = http.Request.Path.Value ?? "/";
        var ping = path == "/ping";
        var active = Interlocked.Increment(ref _active);
        try
        {
            // Health checks get two connections beyond the limit, as in AWS's agent.
            if (active > options.MaxConn + (ping ? 2 : 0))
            {
                await TextAsync(http, 429, "Connection limit exceeded").ConfigureAwait(false);
                return;
            }
            if (!ping)
            {
                if (http.Request.Headers.ContainsKey("X-Forwarded-For"))
                {
                    log.LogWarning("Rejecting request with X-Forwarded-For header");
                    await TextAsync(http, 400, "Forwarded").ConfigureAwait(false);
                    return;
                }
                if (!HasToken(http.Request.Headers))
                {
                    log.LogWarning("Rejecting request with incorrect SSRF token");
                    await TextAsync(http, 403, "Bad Token").ConfigureAwait(false);
                    return;
                }
            }
            if (!HttpMethods.IsGet(http.Request.Method))
            {
                await TextAsync(http, 405, "Not allowed").ConfigureAwait(false);
                return;
            }

            switch (path)
            {
                case "/ping":
                    await TextAsync(http, 200, "healthy").ConfigureAwait(false);
                    return;
                case "/secretsmanager/get":
                    await GetSecretAsync(http, QueryStyle(http.Request)).ConfigureAwait(false);
                    return;
                case "/systemsmanager/parameters/get" or "/systemsmanager/parameters/get/":
                    await WriteAsync(http, 501, JsonContentType, AgentResponse.Error("NotImplemented",
                        "coffer agent does not serve Parameter Store: Coffer has no Parameter Store yet. Use /secretsmanager/get.")).ConfigureAwait(false);
                    return;
                case "/metrics":
                    await WriteAsync(http, 200, "text/plain; version=0.0.4", Encoding.UTF8.GetBytes(metrics.ToPrometheus(cache.Count))).ConfigureAwait(false);
                    return;
            }
            if (path.StartsWith(_pathPrefix, StringComparison.Ordinal))
            {
                await GetSecretAsync(http, PathStyle(http.Request)).ConfigureAwait(false);
                return;
            }
            await TextAsync(http, 404, "Not found").ConfigureAwait(false);
        }
        finally
        {
            Interlocked.Decrement(ref _active);
        }
    }

    private bool HasToken(IHeaderDictionary headers)
    {
        foreach (var name in _ssrfHeaders)
        {
            var values = headers[name];
            if (values.Count == 1 && token.Matches(values[0])) return true;
        }
        return false;
    }

    private async Task GetSecretAsync(HttpContext http, (CacheKey? Key, bool RefreshNow, string? Error) query)
    {
        if (query.Error is not null)
        {
            await TextAsync(http, 400, query.Error).ConfigureAwait(false);
            return;
        }
        var key = query.Key!.Value;
        if (query.RefreshNow || !cache.TryGet(key, out var lease))
        {
            try
            {
                lease = await cache.GetAsync(key, query.RefreshNow, http.RequestAborted).ConfigureAwait(false);
            }
            catch (UpstreamException e)
            {
                log.LogDebug("Answering {Status} {Code} (upstream)", e.Status, e.Code);
                await WriteAsync(http, e.Status, JsonContentType, AgentResponse.Error(e.Code, e.Message)).ConfigureAwait(false);
                return;
            }
        }
        try
        {
            if (lease.Stale) http.Response.Headers["X-Coffer-Stale"] = "true";
            await WriteAsync(http, 200, JsonContentType, lease.Entry.Body).ConfigureAwait(false);
        }
        finally
        {
            lease.Entry.Release();
        }
    }

    /// <summary><c>/secretsmanager/get?secretId=…[&amp;versionId=…][&amp;versionStage=…][&amp;refreshNow=…]</c>.</summary>
    internal static (CacheKey? Key, bool RefreshNow, string? Error) QueryStyle(HttpRequest request)
    {
        string? secretId = null;
        var (versionId, versionStage, refreshNow, error) = Parameters(request, allowSecretId: true, ref secretId);
        if (error is not null) return (null, false, error);
        if (string.IsNullOrEmpty(secretId)) return (null, false, "missing parameter secretId");
        return (new CacheKey(secretId, versionId, versionStage), refreshNow, null);
    }

    /// <summary><c>&lt;path_prefix&gt;&lt;secretId&gt;[?versionId=…&amp;versionStage=…&amp;refreshNow=…]</c>.</summary>
    internal (CacheKey? Key, bool RefreshNow, string? Error) PathStyle(HttpRequest request)
    {
        var raw = request.HttpContext.Features.Get<IHttpRequestFeature>()?.RawTarget ?? request.Path.Value ?? "";
        var q = raw.IndexOf('?');
        var rawPath = q < 0 ? raw : raw[..q];
        var secretId = rawPath.Length > _pathPrefix.Length ? Uri.UnescapeDataString(rawPath[_pathPrefix.Length..]) : "";
        if (secretId.Length == 0) return (null, false, "missing secret ID");
        string? ignored = null;
        var (versionId, versionStage, refreshNow, error) = Parameters(request, allowSecretId: false, ref ignored);
        if (error is not null) return (null, false, error);
        return (new CacheKey(secretId, versionId, versionStage), refreshNow, null);
    }

    /// <summary>
    /// Reads the query string as AWS's agent does (form decoding: '+' is a space, so a '+' in a name is sent as
    /// %2B). Parsed by hand rather than through <c>Request.Query</c>: this is the cache-hit path.
    /// </summary>
    private static (string? VersionId, string? VersionStage, bool RefreshNow, string? Error) Parameters(HttpRequest request, bool allowSecretId, ref string? secretId)
    {
        string? versionId = null, versionStage = null;
        var refreshNow = false;
        var query = request.QueryString.Value.AsSpan();
        if (query.StartsWith('?')) query = query[1..];
        foreach (var range in query.Split('&'))
        {
            var pair = query[range];
            if (pair.IsEmpty) continue;
            var eq = pair.IndexOf('=');
            var rawName = eq < 0 ? pair : pair[..eq];
            var rawValue = eq < 0 ? [] : pair[(eq + 1)..];
            // The name is matched as sent when it needs no decoding (the usual case), without a string of its own.
            ReadOnlySpan<char> name = rawName.ContainsAny('%', '+') ? Decode(rawName) : rawName;
            switch (name)
            {
                case "secretId" when allowSecretId: secretId = Decode(rawValue); break;
                case "versionId": versionId = Decode(rawValue); break;
                case "versionStage": versionStage = Decode(rawValue); break;
                case "refreshNow":
                    switch (Decode(rawValue).ToLowerInvariant())
                    {
                        case "true" or "1": refreshNow = true; break;
                        case "false" or "0": refreshNow = false; break;
                        default: return (null, null, false, "invalid refreshNow value");
                    }
                    break;
                default: return (null, null, false, "unknown parameter: " + Printable(name.ToString()));
            }
        }
        return (versionId, versionStage, refreshNow, null);
    }

    private static string Decode(ReadOnlySpan<char> raw)
    {
        if (!raw.ContainsAny('%', '+')) return raw.ToString();
        // '+' is a space, then %XX escapes are decoded; one string is made, from the decoded characters (a secret
        // id with '/' in it, sent as %2F, is the usual case on the cache-hit path).
        var plus = raw.Length <= 256 ? stackalloc char[raw.Length] : new char[raw.Length];
        raw.CopyTo(plus);
        plus.Replace('+', ' ');
        var decoded = raw.Length <= 256 ? stackalloc char[raw.Length] : new char[raw.Length];
        return Uri.TryUnescapeDataString(plus, decoded, out var written) ? new string(decoded[..written]) : new string(plus);
    }

    private static string Printable(string name) =>
        name.Length <= 64 && name.All(c => c is >= ' ' and < (char)127) ? name : "(unprintable)";

    private static ValueTask TextAsync(HttpContext http, int status, string text) =>
        WriteAsync(http, status, "text/plain; charset=utf-8", Encoding.UTF8.GetBytes(text));

    private static ValueTask WriteAsync(HttpContext http, int status, string contentType, byte[] body)
    {
        var response = http.Response;
        response.StatusCode = status;
        response.ContentType = contentType;
        response.ContentLength = body.Length;
        // No RequestAborted here: touching it costs every request a token; Kestrel ends writes to a closed
        // connection by itself.
        return response.Body.WriteAsync(body.AsMemory());
    }
}
