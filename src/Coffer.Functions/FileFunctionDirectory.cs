using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;
using Coffer.Core.Functions;

namespace Coffer.Functions;

/// <summary>
/// Functions deployed as files: <c>DIR/NAME/function.json</c> (the configuration: Runtime, Handler, Role, Timeout,
/// MemorySize, Environment) and <c>DIR/NAME/code.zip</c>. A seam for tests and for servers without the Lambda API:
/// the server reads <c>DATA/functions/deployed</c>. Lookup by name, NAME:QUALIFIER or function ARN, as
/// <see cref="IFunctionDirectory"/> says; files are read at each lookup, so a redeploy takes effect at once.
/// </summary>
public sealed class FileFunctionDirectory(string directory, string accountId, string region) : IFunctionDirectory
{
    public string Directory => directory;

    public async Task<StoredFunction?> FindAsync(string functionNameOrArn, CancellationToken ct)
    {
        var name = NameOf(functionNameOrArn);
        if (name.Length == 0 || name.Length > 64 || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_')) return null;
        var configPath = Path.Combine(directory, name, "function.json");
        var zipPath = Path.Combine(directory, name, "code.zip");
        if (!File.Exists(configPath) || !File.Exists(zipPath)) return null;
        var spec = JsonSerializer.Deserialize(await File.ReadAllBytesAsync(configPath, ct).ConfigureAwait(false), FileFunctionJsonContext.Default.FileFunctionSpec)
            ?? throw new InvalidDataException($"{configPath} is empty");
        var zip = await File.ReadAllBytesAsync(zipPath, ct).ConfigureAwait(false);
        var config = new FunctionConfiguration(
            name, $"arn:aws:lambda:{region}:{accountId}:function:{name}", spec.Runtime, spec.Handler, spec.Role,
            spec.Timeout ?? 3, spec.MemorySize ?? 128, spec.Environment ?? new Dictionary<string, string>(), spec.Description,
            Convert.ToBase64String(SHA256.HashData(zip)), zip.Length, Guid.NewGuid().ToString(), File.GetLastWriteTimeUtc(zipPath));
        return new StoredFunction(config, zip);
    }

    /// <summary>Writes a function (tests, and operators deploying without the Lambda API).</summary>
    public async Task DeployAsync(string name, FileFunctionSpec spec, byte[] zip, CancellationToken ct)
    {
        var dir = System.IO.Directory.CreateDirectory(Path.Combine(directory, name)).FullName;
        await File.WriteAllBytesAsync(Path.Combine(dir, "code.zip"), zip, ct).ConfigureAwait(false);
        await File.WriteAllBytesAsync(Path.Combine(dir, "function.json"),
            JsonSerializer.SerializeToUtf8Bytes(spec, FileFunctionJsonContext.Default.FileFunctionSpec), ct).ConfigureAwait(false);
    }

    /// <summary>NAME from NAME, NAME:QUALIFIER or arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER].</summary>
    public static string NameOf(string functionNameOrArn)
    {
        var parts = functionNameOrArn.Split(':');
        if (parts.Length >= 7 && parts[0] == "arn" && parts[2] == "lambda" && parts[5] == "function") return parts[6];
        return parts.Length <= 2 ? parts[0] : "";
    }
}

/// <summary>function.json of a <see cref="FileFunctionDirectory"/>, in the Lambda API's field names.</summary>
public sealed class FileFunctionSpec
{
    public required string Runtime { get; init; }
    public required string Handler { get; init; }
    public required string Role { get; init; }
    public int? Timeout { get; init; }
    public int? MemorySize { get; init; }
    public Dictionary<string, string>? Environment { get; init; }
    public string? Description { get; init; }
}

[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(FileFunctionSpec))]
internal sealed partial class FileFunctionJsonContext : JsonSerializerContext;
