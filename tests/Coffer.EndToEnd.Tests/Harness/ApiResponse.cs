using System.Text.Json;
using System.Text.Json.Nodes;

namespace Coffer.EndToEnd.Tests.Harness;

/// <summary>One HTTP answer as the harness saw it: status, every header, raw body and the parsed JSON if any.</summary>
internal sealed class ApiResponse
{
    public required string? Action { get; init; }
    public required int Status { get; init; }
    public required IReadOnlyList<KeyValuePair<string, string>> Headers { get; init; }
    public required byte[] Body { get; init; }

    public string BodyText => System.Text.Encoding.UTF8.GetString(Body);

    public JsonNode? Json
    {
        get
        {
            if (!_parsed)
            {
                _json = Parse(Body);
                _parsed = true;
            }

            return _json;
        }
    }

    private JsonNode? _json;
    private bool _parsed;

    private static JsonNode? Parse(byte[] body)
    {
        if (body.Length == 0)
        {
            return null;
        }

        try
        {
            return JsonNode.Parse(body);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    public bool IsSuccess => Status is >= 200 and < 300;

    /// <summary>The AWS error code: <c>__type</c> without a namespace or anything after ':' (spec §1.3), else X-Amzn-Errortype.</summary>
    public string? ErrorType
    {
        get
        {
            string? raw = null;
            if (Json is JsonObject o)
            {
                raw = (o["__type"] ?? o["code"]) is JsonValue v && v.TryGetValue(out string? s) ? s : null;
            }

            raw ??= Header("x-amzn-errortype");
            if (raw is null)
            {
                return null;
            }

            int hash = raw.LastIndexOf('#');
            if (hash >= 0)
            {
                raw = raw[(hash + 1)..];
            }

            int colon = raw.IndexOf(':');
            return colon >= 0 ? raw[..colon] : raw;
        }
    }

    public string? Message => Json is JsonObject o
        ? ((o["Message"] ?? o["message"]) is JsonValue v && v.TryGetValue(out string? s) ? s : null)
        : null;

    public string? Header(string name)
    {
        foreach (var (key, value) in Headers)
        {
            if (string.Equals(key, name, StringComparison.OrdinalIgnoreCase))
            {
                return value;
            }
        }

        return null;
    }

    public string Str(string member) =>
        Json?[member]?.GetValue<string>() ?? throw new InvalidOperationException($"{Action}: response has no '{member}': {Describe()}");

    /// <summary>Status and error only: never the body of a success, which may hold a secret value.</summary>
    public string Describe() =>
        IsSuccess ? $"{Action} → {Status}" : $"{Action} → {Status} {ErrorType}: {Message}";

    public ApiResponse EnsureSuccess()
    {
        if (!IsSuccess)
        {
            throw new InvalidOperationException($"Expected success: {Describe()}");
        }

        return this;
    }
}
