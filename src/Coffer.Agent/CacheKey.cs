namespace Coffer.Agent;

/// <summary>What a caller asked for: the secret as named (name, ARN or partial ARN) and at most a version or label.</summary>
internal readonly record struct CacheKey(string SecretId, string? VersionId, string? VersionStage);

/// <summary>A GetSecretValue answer in the agent's output form (spec §6.3) and the secret's full ARN.</summary>
internal sealed record FetchedSecret(string Arn, byte[] Body);

/// <summary>Where the cache gets values: the Coffer server in production.</summary>
internal interface ISecretSource
{
    /// <summary>Fetches the value. Throws <see cref="UpstreamException"/> for every failure.</summary>
    Task<FetchedSecret> GetSecretValueAsync(CacheKey key, CancellationToken ct);
}

/// <summary>
/// A failed upstream call, already in the agent's answer form (spec §6.3): the upstream status with
/// <c>{"__type","message"}</c>, 502 ConnectionError, 504 TimeoutError or 500 InternalFailure.
/// <see cref="Transient"/> marks failures where serving a stale value is right (server unreachable, 5xx, throttling).
/// </summary>
internal sealed class UpstreamException(int status, string code, string message, bool transient) : Exception(message)
{
    public int Status { get; } = status;
    public string Code { get; } = code;
    public bool Transient { get; } = transient;
}
