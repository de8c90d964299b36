namespace Coffer.Core.Functions;

/// <summary>
/// One stored function as the store keeps it: the key (region, name), its ARN, the revision that every change
/// replaces, the configuration as a JSON document (<see cref="FunctionDocument"/>, no environment values), the
/// sealed environment variables (null when there are none) and, when asked for, the sealed deployment package.
/// The store never sees an environment value or the code in the clear.
/// </summary>
public sealed record FunctionRecord(
    string Region,
    string Name,
    string Arn,
    string RevisionId,
    string Document,
    byte[]? EnvironmentBlob,
    byte[]? CodeBlob = null)
{
    public override string ToString() => $"FunctionRecord({Region}, {Name}, {RevisionId})";
}

/// <summary>
/// Storage of Lambda functions (migration 006). Writes are durable when the task completes. Function names are
/// case-sensitive and unique per region. Deleting a missing function is not an error (it answers false).
/// </summary>
public interface IFunctionStore
{
    /// <summary>The function, with <see cref="FunctionRecord.CodeBlob"/> filled only when <paramref name="withCode"/>.</summary>
    Task<FunctionRecord?> FindFunctionAsync(string region, string name, bool withCode, CancellationToken ct);

    /// <summary>Functions of a region in name order (ordinal), after <paramref name="afterName"/>, at most <paramref name="limit"/>; no code.</summary>
    Task<IReadOnlyList<FunctionRecord>> ListFunctionsAsync(string region, string? afterName, int limit, CancellationToken ct);

    /// <summary>Inserts the function with its sealed code; false when the name is taken in the region.</summary>
    Task<bool> InsertFunctionAsync(FunctionRecord record, CancellationToken ct);

    /// <summary>
    /// Replaces the function's configuration (and its code when <see cref="FunctionRecord.CodeBlob"/> is not null)
    /// if its stored revision is still <paramref name="expectedRevisionId"/>; false when it is not (or it is gone).
    /// </summary>
    Task<bool> ReplaceFunctionAsync(FunctionRecord record, string expectedRevisionId, CancellationToken ct);

    /// <summary>False when there was no such function.</summary>
    Task<bool> DeleteFunctionAsync(string region, string name, CancellationToken ct);
}
