namespace Coffer.Core.Secrets;

/// <summary>
/// Durable storage of secrets, versions and their encrypted values. The store never sees plaintext:
/// values arrive and leave as envelope blobs.
///
/// Invariants:
/// - Reads see only committed state; a write whose task completed is visible to every later read.
/// - <see cref="WriteAsync{T}"/> runs <c>work</c> atomically and in isolation from other writes: either all
///   of its changes commit or none do (an exception from <c>work</c> rolls back that work only, and is
///   rethrown to the caller). The task completes only after the changes are durable (fsync'd).
/// - Names are unique per region among secrets that have not been purged.
/// </summary>
public interface ISecretStore
{
    Task<Secret?> FindByArnAsync(string arn, CancellationToken ct);

    Task<Secret?> FindByNameAsync(string region, string name, CancellationToken ct);

    /// <summary>Returns null when the version does not exist or holds no value.</summary>
    Task<byte[]?> ReadBlobAsync(long secretId, string versionId, CancellationToken ct);

    /// <summary>All secrets of a region (including those scheduled for deletion), in creation order.</summary>
    Task<IReadOnlyList<Secret>> ListAsync(string region, CancellationToken ct);

    /// <summary>Secrets in any region whose deletion date is at or before <paramref name="now"/>.</summary>
    Task<IReadOnlyList<Secret>> ListDueForPurgeAsync(DateTimeOffset now, CancellationToken ct);

    /// <summary>
    /// Secrets in any region that the rotation scheduler must look at: rotation enabled, or a rotation state
    /// recorded (<see cref="Secret.Rotation"/> not null). In creation order.
    /// </summary>
    Task<IReadOnlyList<Secret>> ListRotatingAsync(CancellationToken ct);

    Task<T> WriteAsync<T>(Func<ISecretTransaction, T> work, CancellationToken ct);
}

/// <summary>
/// The operations available inside <see cref="ISecretStore.WriteAsync{T}"/>. Calls are synchronous: the
/// transaction is already open on the store's writer.
/// </summary>
public interface ISecretTransaction
{
    Secret? FindByArn(string arn);

    Secret? FindByName(string region, string name);

    byte[]? ReadBlob(long secretId, string versionId);

    /// <summary>Inserts the secret row (not its versions) and sets <see cref="Secret.Id"/>.</summary>
    void InsertSecret(Secret secret);

    /// <summary>Writes every metadata field of the secret row (not its versions).</summary>
    void UpdateSecret(Secret secret);

    /// <summary>
    /// Inserts or updates a version's metadata (stages, dates, HasValue, KeyId). <paramref name="blob"/> null
    /// keeps the stored blob; non-null replaces it.
    /// </summary>
    void UpsertVersion(long secretId, SecretVersion version, byte[]? blob);

    /// <summary>Removes a version and its blob (its data key is destroyed with it). Deleting a missing version is not an error.</summary>
    void DeleteVersion(long secretId, string versionId);

    /// <summary>Removes the secret, all its versions and blobs. Purging a missing secret is not an error.</summary>
    void PurgeSecret(long secretId);
}
