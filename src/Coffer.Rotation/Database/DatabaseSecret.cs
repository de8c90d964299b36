using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Coffer.Core.Rotation;

namespace Coffer.Rotation.Database;

/// <summary>
/// A database secret's JSON (spec §4.6): engine, host, port, username, password, dbname, masterarn; other keys are
/// kept as they are. ToString never shows the password.
/// </summary>
internal sealed class DatabaseSecret
{
    private readonly JsonObject _json;

    private DatabaseSecret(JsonObject json) => _json = json;

    public static DatabaseSecret Parse(string? secretString, string which)
    {
        JsonObject? json = null;
        try { json = secretString is null ? null : JsonNode.Parse(secretString) as JsonObject; }
        catch (JsonException) { }
        if (json is null) throw new RotationStepException(RotationFailureKind.Permanent, $"the {which} value is not a JSON object");
        var s = new DatabaseSecret(json);
        foreach (var key in (string[])["host", "username", "password"])
            if (string.IsNullOrEmpty(s.Text(key)))
                throw new RotationStepException(RotationFailureKind.Permanent, $"the {which} value has no \"{key}\"");
        return s;
    }

    public string? Engine => Text("engine");
    public string Host => Text("host")!;
    public string Username => Text("username")!;
    public string Password => Text("password")!;
    public string? DbName => Text("dbname");
    public string? MasterArn => Text("masterarn");

    public int Port(int defaultPort)
    {
        var node = _json["port"];
        if (node is null) return defaultPort;
        if (node is JsonValue v && v.TryGetValue<int>(out var n)) return n;
        if (node is JsonValue sv && sv.TryGetValue<string>(out var text) && int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out n)) return n;
        throw new RotationStepException(RotationFailureKind.Permanent, "the secret's \"port\" is not a number");
    }

    /// <summary>A copy with other credentials; every other key stays.</summary>
    public string With(string username, string password)
    {
        var copy = (JsonObject)_json.DeepClone();
        copy["username"] = username;
        copy["password"] = password;
        return copy.ToJsonString();
    }

    /// <summary>Same target: host, port, dbname and engine (the AWS templates' and OWASP's check).</summary>
    public bool SameTarget(DatabaseSecret other, int defaultPort) =>
        string.Equals(Host, other.Host, StringComparison.OrdinalIgnoreCase) && Port(defaultPort) == other.Port(defaultPort)
        && DbName == other.DbName && Engine == other.Engine;

    private string? Text(string key) => _json[key] is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;

    public override string ToString() => $"DatabaseSecret({Engine}, {Host}, {Username})";
}

/// <summary>Where and as whom to connect.</summary>
internal sealed record DatabaseLogin(string Host, int Port, string? Database, string Username, string Password)
{
    public override string ToString() => $"DatabaseLogin({Host}:{Port}, {Username})";
}
