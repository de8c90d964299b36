using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Serialization;
using Coffer.Core.Rotation;
using Coffer.Core.Secrets;
using Coffer.Server;
using Coffer.Storage.Sqlite;

namespace Coffer.Cli;

/// <summary>
/// `coffer rotation status SECRET`: the rotation state of one secret, read from the data directory (the run in
/// progress, its step and attempts, the last failure with its step and reason, the next window). Needs no
/// credentials and no master key: rotation state holds no secret value. Works while the server runs.
/// </summary>
internal static class RotationCommand
{
    public static Command Create()
    {
        var secret = new Argument<string>("secret") { Description = "Secret name or ARN." };
        var dataDir = new Option<string>("--data-dir")
        {
            Description = "The server's data directory.",
            DefaultValueFactory = _ => CofferServerOptions.DefaultDataDir,
        };
        var region = new Option<string>("--region")
        {
            Description = "Region of the secret (when given by name).",
            DefaultValueFactory = _ => CofferServerOptions.DefaultRegion,
        };
        var status = new Command("status", "Show a secret's rotation state (step, attempts, last failure, next window) as JSON.")
        {
            secret, dataDir, region,
        };
        status.SetAction(async (result, ct) =>
        {
            var path = Path.Combine(result.GetValue(dataDir)!, "coffer.db");
            if (!File.Exists(path))
            {
                await Console.Error.WriteLineAsync($"coffer rotation status: no Coffer database at {path}").ConfigureAwait(false);
                return 2;
            }
            await using var store = SqliteStore.Open(path);
            var id = result.GetValue(secret)!;
            var found = id.StartsWith("arn:", StringComparison.Ordinal)
                ? await store.FindByArnAsync(id, ct).ConfigureAwait(false)
                : await store.FindByNameAsync(result.GetValue(region)!, id, ct).ConfigureAwait(false);
            if (found is null)
            {
                await Console.Error.WriteLineAsync($"coffer rotation status: no secret {id}").ConfigureAwait(false);
                return 1;
            }
            var report = SecretService.RotationStatus(found, DateTimeOffset.UtcNow);
            Console.Out.WriteLine(JsonSerializer.Serialize(report, RotationStatusJson.Default.RotationStatusResult));
            return 0;
        });
        return new Command("rotation", "Inspect rotations.") { status };
    }
}

[JsonSourceGenerationOptions(WriteIndented = true, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(RotationStatusResult))]
[JsonSerializable(typeof(RotationFailure))]
internal sealed partial class RotationStatusJson : JsonSerializerContext;
