using System.Text.Json;
using System.Text.Json.Serialization;
using Coffer.Core.Rotation;
using Coffer.Core.Secrets;

namespace Coffer.Storage.Sqlite;

/// <summary>Source-generated JSON for the columns stored as JSON text (no reflection on the read path).</summary>
[JsonSerializable(typeof(List<Tag>))]
[JsonSerializable(typeof(List<string>))]
[JsonSerializable(typeof(RotationRules))]
[JsonSerializable(typeof(RotationState))]
[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
internal sealed partial class SqliteJsonContext : JsonSerializerContext;

internal static class SqliteJson
{
    /// <summary>Null (never tagged) and empty (all tags removed) are different answers in DescribeSecret, so both are kept.</summary>
    public static object Tags(List<Tag>? tags) => tags switch
    {
        null => DBNull.Value,
        [] => "[]",
        _ => JsonSerializer.Serialize(tags, SqliteJsonContext.Default.ListTag),
    };

    public static List<Tag>? Tags(string? json) => json switch
    {
        null => null,
        "[]" => [],
        _ => JsonSerializer.Deserialize(json, SqliteJsonContext.Default.ListTag) ?? [],
    };

    public static string Stages(List<string> stages) => stages.Count switch
    {
        0 => "[]",
        _ => JsonSerializer.Serialize(stages, SqliteJsonContext.Default.ListString),
    };

    public static List<string> Stages(string json) => json switch
    {
        "[]" => [],
        "[\"AWSCURRENT\"]" => ["AWSCURRENT"],
        "[\"AWSPREVIOUS\"]" => ["AWSPREVIOUS"],
        _ => JsonSerializer.Deserialize(json, SqliteJsonContext.Default.ListString) ?? [],
    };

    public static object Rules(RotationRules? rules) =>
        rules is null ? DBNull.Value : JsonSerializer.Serialize(rules, SqliteJsonContext.Default.RotationRules);

    public static RotationRules? Rules(string? json) =>
        json is null ? null : JsonSerializer.Deserialize(json, SqliteJsonContext.Default.RotationRules);

    public static object Rotation(RotationState? state) =>
        state is null ? DBNull.Value : JsonSerializer.Serialize(state, SqliteJsonContext.Default.RotationState);

    public static RotationState? Rotation(string? json) =>
        json is null ? null : JsonSerializer.Deserialize(json, SqliteJsonContext.Default.RotationState);
}
