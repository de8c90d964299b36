using System.Buffers;
using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using Coffer.Core;
using Coffer.Core.Functions;

namespace Coffer.Protocol.Lambda;

/// <summary>
/// The Lambda REST-JSON bodies: reading requests (members by AWS's names, types checked, nothing echoed from the
/// body in an error) and writing FunctionConfiguration as the Lambda API returns it.
/// </summary>
internal static class LambdaJson
{
    private static readonly JsonWriterOptions WriterOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static ServiceException Unreadable(string? member = null) => new("InvalidRequestContentException", member is null
        ? "Could not parse request body into json: the body is not a JSON object."
        : $"Could not parse request body into json: unexpected value for {member}.");

    /// <summary>The body as a JSON object; an empty body is an empty object.</summary>
    public static JsonDocument Parse(ReadOnlyMemory<byte> body)
    {
        if (body.IsEmpty) return JsonDocument.Parse("{}");
        JsonDocument doc;
        try { doc = JsonDocument.Parse(body, new JsonDocumentOptions { MaxDepth = 32 }); }
        catch (JsonException) { throw Unreadable(); }
        if (doc.RootElement.ValueKind != JsonValueKind.Object)
        {
            doc.Dispose();
            throw Unreadable();
        }
        return doc;
    }

    public static string? String(JsonElement o, string name)
    {
        if (!o.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        return v.ValueKind == JsonValueKind.String ? v.GetString() : throw Unreadable(name);
    }

    public static int? Int(JsonElement o, string name)
    {
        if (!o.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        return v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var i) ? i : throw Unreadable(name);
    }

    public static bool? Bool(JsonElement o, string name)
    {
        if (!o.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        return v.ValueKind switch { JsonValueKind.True => true, JsonValueKind.False => false, _ => throw Unreadable(name) };
    }

    public static JsonElement? Object(JsonElement o, string name)
    {
        if (!o.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        return v.ValueKind == JsonValueKind.Object ? v : throw Unreadable(name);
    }

    public static List<string>? Strings(JsonElement o, string name)
    {
        if (!o.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        if (v.ValueKind != JsonValueKind.Array) throw Unreadable(name);
        return [.. v.EnumerateArray().Select(e => e.ValueKind == JsonValueKind.String ? e.GetString()! : throw Unreadable(name))];
    }

    /// <summary>Environment.Variables (a map of strings); null when Environment is absent.</summary>
    public static Dictionary<string, string>? Environment(JsonElement o)
    {
        if (Object(o, "Environment") is not { } env) return null;
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        if (Object(env, "Variables") is not { } vars) return result;
        foreach (var p in vars.EnumerateObject())
            result[p.Name] = p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString()! : throw Unreadable("Environment.Variables");
        return result;
    }

    /// <summary>Code.ZipFile (base64 blob), and whether the request named code held elsewhere (S3, image).</summary>
    public static (byte[]? Zip, bool Elsewhere) Code(JsonElement code)
    {
        byte[]? zip = null;
        if (code.TryGetProperty("ZipFile", out var z) && z.ValueKind != JsonValueKind.Null)
        {
            if (z.ValueKind != JsonValueKind.String || !z.TryGetBytesFromBase64(out zip)) throw Unreadable("ZipFile");
        }
        var elsewhere = String(code, "S3Bucket") is not null || String(code, "S3Key") is not null || String(code, "ImageUri") is not null;
        return (zip, elsewhere);
    }

    public static byte[] Write(Action<Utf8JsonWriter> write)
    {
        var buffer = new ArrayBufferWriter<byte>(1024);
        using (var w = new Utf8JsonWriter(buffer, WriterOptions)) write(w);
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>AWS's LastModified form: 2024-01-01T00:00:00.000+0000.</summary>
    public static string Timestamp(DateTimeOffset t) =>
        t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff", CultureInfo.InvariantCulture) + "+0000";

    public static void WriteConfiguration(Utf8JsonWriter w, FunctionConfiguration c)
    {
        w.WriteStartObject();
        w.WriteString("FunctionName", c.FunctionName);
        w.WriteString("FunctionArn", c.FunctionArn);
        w.WriteString("Runtime", c.Runtime);
        w.WriteString("Role", c.Role);
        w.WriteString("Handler", c.Handler);
        w.WriteNumber("CodeSize", c.CodeSize);
        w.WriteString("Description", c.Description ?? "");
        w.WriteNumber("Timeout", c.Timeout);
        w.WriteNumber("MemorySize", c.MemorySize);
        w.WriteString("LastModified", Timestamp(c.LastModified));
        w.WriteString("CodeSha256", c.CodeSha256);
        w.WriteString("Version", FunctionService.LatestVersion);
        if (c.Environment.Count > 0)
        {
            w.WriteStartObject("Environment");
            w.WriteStartObject("Variables");
            foreach (var (k, v) in c.Environment) w.WriteString(k, v);
            w.WriteEndObject();
            w.WriteEndObject();
        }
        w.WriteStartObject("TracingConfig");
        w.WriteString("Mode", "PassThrough");
        w.WriteEndObject();
        w.WriteString("RevisionId", c.RevisionId);
        w.WriteString("State", "Active");
        w.WriteString("LastUpdateStatus", "Successful");
        w.WriteString("PackageType", "Zip");
        w.WriteStartArray("Architectures");
        w.WriteStringValue("x86_64");
        w.WriteEndArray();
        w.WriteStartObject("EphemeralStorage");
        w.WriteNumber("Size", 512);
        w.WriteEndObject();
        w.WriteStartObject("SnapStart");
        w.WriteString("ApplyOn", "None");
        w.WriteString("OptimizationStatus", "Off");
        w.WriteEndObject();
        w.WriteStartObject("LoggingConfig");
        w.WriteString("LogFormat", "Text");
        w.WriteString("LogGroup", "/aws/lambda/" + c.FunctionName);
        w.WriteEndObject();
        w.WriteEndObject();
    }
}
