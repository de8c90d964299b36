using System.Text.Json.Serialization;

namespace Coffer.Core.Functions;

// One request and one result record per Lambda action (names as the Lambda API spells them).

public sealed record CreateFunctionRequest
{
    public string? FunctionName { get; init; }
    public string? Runtime { get; init; }
    public string? Role { get; init; }
    public string? Handler { get; init; }
    public string? Description { get; init; }
    public int? Timeout { get; init; }
    public int? MemorySize { get; init; }
    public IReadOnlyDictionary<string, string>? Environment { get; init; }
    /// <summary>The deployment package (Code.ZipFile); S3 locations and images are refused.</summary>
    public byte[]? ZipFile { get; init; }
    /// <summary>True when the request named Code.S3Bucket/S3Key or ImageUri (Coffer stores only direct uploads).</summary>
    public bool CodeFromElsewhere { get; init; }
    public string? PackageType { get; init; }
    public IReadOnlyList<string>? Architectures { get; init; }
    public override string ToString() => $"CreateFunctionRequest({FunctionName})";
}

public sealed record UpdateFunctionCodeRequest
{
    public string? FunctionName { get; init; }
    public byte[]? ZipFile { get; init; }
    public bool CodeFromElsewhere { get; init; }
    public string? RevisionId { get; init; }
    public bool DryRun { get; init; }
    public IReadOnlyList<string>? Architectures { get; init; }
    public override string ToString() => $"UpdateFunctionCodeRequest({FunctionName})";
}

/// <summary>Null members are left as they are; <see cref="Environment"/> given replaces all variables.</summary>
public sealed record UpdateFunctionConfigurationRequest
{
    public string? FunctionName { get; init; }
    public string? Runtime { get; init; }
    public string? Role { get; init; }
    public string? Handler { get; init; }
    public string? Description { get; init; }
    public int? Timeout { get; init; }
    public int? MemorySize { get; init; }
    public IReadOnlyDictionary<string, string>? Environment { get; init; }
    public string? RevisionId { get; init; }
    public override string ToString() => $"UpdateFunctionConfigurationRequest({FunctionName})";
}

public sealed record FunctionRef(string? FunctionName, string? Qualifier = null);

public sealed record ListFunctionsRequest(string? Marker, int? MaxItems);

public sealed record ListFunctionsResult(IReadOnlyList<FunctionConfiguration> Functions, string? NextMarker);

public sealed record GetFunctionResult(FunctionConfiguration Configuration, string CodeToken);

public enum InvocationType { RequestResponse, Event, DryRun }

public sealed record InvokeRequest(string? FunctionName, string? Qualifier, InvocationType InvocationType, bool LogTail, ReadOnlyMemory<byte> Payload)
{
    public override string ToString() => $"InvokeRequest({FunctionName}, {InvocationType}, {Payload.Length} bytes)";
}

/// <summary>
/// What Invoke answers: status 200 with the payload (and <see cref="FunctionError"/> when the function failed),
/// 202 for an accepted Event invocation, 204 for DryRun. <see cref="LogResult"/> is the base64 log tail.
/// </summary>
public sealed record InvokeResult(int StatusCode, byte[] Payload, string? FunctionError, string? LogResult, string ExecutedVersion, string FunctionArn)
{
    public override string ToString() => $"InvokeResult({StatusCode}, {Payload.Length} bytes, {FunctionError ?? "ok"})";
}

public sealed record AddPermissionRequest
{
    public string? FunctionName { get; init; }
    public string? Qualifier { get; init; }
    public string? StatementId { get; init; }
    public string? Action { get; init; }
    public string? Principal { get; init; }
    public string? SourceArn { get; init; }
    public string? SourceAccount { get; init; }
    public string? RevisionId { get; init; }
}

public sealed record RemovePermissionRequest(string? FunctionName, string? StatementId, string? Qualifier, string? RevisionId);

/// <summary>AddPermission's answer: the statement as stored, as a JSON text (the Lambda API returns it as a string).</summary>
public sealed record AddPermissionResult(string Statement);

public sealed record GetPolicyResult(string Policy, string RevisionId);

/// <summary>
/// The stored configuration of a function (the <see cref="FunctionRecord.Document"/> JSON). Environment values
/// are not here: they are sealed apart.
/// </summary>
internal sealed class FunctionDocument
{
    public required string Runtime { get; set; }
    public required string Handler { get; set; }
    public required string Role { get; set; }
    public int Timeout { get; set; }
    public int MemorySize { get; set; }
    public string? Description { get; set; }
    public required string CodeSha256 { get; set; }
    public long CodeSize { get; set; }
    public DateTimeOffset LastModified { get; set; }
    /// <summary>The resource policy's statements (each a JSON object text), in the order they were added.</summary>
    public List<string> PolicyStatements { get; set; } = [];
}

[JsonSerializable(typeof(FunctionDocument))]
[JsonSerializable(typeof(Dictionary<string, string>))]
[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
internal sealed partial class FunctionJsonContext : JsonSerializerContext;
