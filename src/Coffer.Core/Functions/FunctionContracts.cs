namespace Coffer.Core.Functions;

/// <summary>
/// A function's configuration as the Lambda API describes it (GetFunctionConfiguration). Names and units are AWS's:
/// <see cref="Timeout"/> in seconds (1–900, default 3), <see cref="MemorySize"/> in MB (128–10240, default 128),
/// <see cref="Role"/> the ARN of the execution role whose temporary credentials the function runs with.
/// </summary>
public sealed record FunctionConfiguration(
    string FunctionName,
    string FunctionArn,
    string Runtime,
    string Handler,
    string Role,
    int Timeout,
    int MemorySize,
    IReadOnlyDictionary<string, string> Environment,
    string? Description,
    string CodeSha256,
    long CodeSize,
    string RevisionId,
    DateTimeOffset LastModified);

/// <summary>A function with its deployment package (the zip file exactly as uploaded).</summary>
public sealed record StoredFunction(FunctionConfiguration Configuration, ReadOnlyMemory<byte> ZipFile)
{
    public override string ToString() => $"StoredFunction({Configuration.FunctionName}, {ZipFile.Length} bytes)";
}

/// <summary>
/// The functions stored in Coffer (the Lambda API's control plane implements this). Lookup is by bare name,
/// <c>NAME:QUALIFIER</c> or ARN <c>arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]</c>; null when absent.
/// No authorisation happens here: callers (the Lambda endpoint, the rotation engine) decide who may invoke.
/// </summary>
public interface IFunctionDirectory
{
    Task<StoredFunction?> FindAsync(string functionNameOrArn, CancellationToken ct);

    /// <summary>
    /// Whether <see cref="FindAsync"/> would find the function, without loading (or decrypting) its package. The
    /// rotation engine asks this inside the secret store's write transaction, so implementations should answer
    /// from a cheap read that never waits on that writer.
    /// </summary>
    async Task<bool> ExistsAsync(string functionNameOrArn, CancellationToken ct) =>
        await FindAsync(functionNameOrArn, ct).ConfigureAwait(false) is not null;
}

/// <summary>One invocation: the function, the event payload (JSON bytes) and the request id given to the context.</summary>
public sealed record FunctionInvocation(StoredFunction Function, ReadOnlyMemory<byte> Payload, string RequestId)
{
    public override string ToString() => $"FunctionInvocation({Function.Configuration.FunctionName}, {RequestId})";
}

/// <summary>
/// What an invocation returned. <see cref="FunctionError"/> is null on success, otherwise <c>"Unhandled"</c> (the
/// handler threw, the process crashed, timed out or ran out of memory) as the Lambda Invoke API reports it, and
/// <see cref="Payload"/> is then the error object (<c>{"errorMessage", "errorType", ...}</c>). <see cref="LogTail"/> is
/// the last 4 KB of the invocation's log, for <c>LogType=Tail</c>.
/// </summary>
public sealed record FunctionInvocationResult(byte[] Payload, string? FunctionError, string LogTail)
{
    public override string ToString() => $"FunctionInvocationResult({Payload.Length} bytes, {FunctionError ?? "ok"})";
}

/// <summary>
/// Runs a function once as a child process (runtimes <c>python3.x</c>, <c>nodejs*</c>, <c>provided*</c>) with the
/// temporary credentials of its execution role. A function failure is a result with <see cref="FunctionInvocationResult.FunctionError"/>,
/// not an exception; exceptions mean Coffer itself could not run it (unknown runtime, role cannot be assumed).
/// </summary>
public interface IFunctionRunner
{
    Task<FunctionInvocationResult> InvokeAsync(FunctionInvocation invocation, CancellationToken ct);
}
