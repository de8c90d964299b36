namespace Coffer.Core.Principals;

/// <summary>One stored IAM entity: kind (user, group, role, policy), lower-case name, JSON document.</summary>
public sealed record IamEntityRow(string Kind, string Name, string Document);

/// <summary>
/// Storage of IAM users, groups, roles and managed policies (each one JSON document) and of users' access keys.
/// Writes are durable when the task completes. Deleting a missing entity or key is not an error.
/// </summary>
public interface IIamStore
{
    Task<IReadOnlyList<IamEntityRow>> LoadIamEntitiesAsync(CancellationToken ct);

    /// <summary>Inserts or replaces the entity (kind, name).</summary>
    Task PutIamEntityAsync(IamEntityRow row, CancellationToken ct);

    Task DeleteIamEntityAsync(string kind, string name, CancellationToken ct);

    /// <summary>The keys of one user (by user name as stored in the key record), oldest first.</summary>
    Task<IReadOnlyList<AccessKeyRecord>> ListAccessKeysAsync(string userName, CancellationToken ct);

    /// <summary>False when the key does not exist.</summary>
    Task<bool> UpdateAccessKeyStatusAsync(string accessKeyId, string status, CancellationToken ct);

    Task DeleteAccessKeyAsync(string accessKeyId, CancellationToken ct);
}
