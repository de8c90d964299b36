namespace Coffer.Core.Principals;

/// <summary>
/// Installation-wide settings and access keys. Writes are durable when the task completes.
/// </summary>
public interface IAccountStore
{
    /// <summary>Returns null when the setting was never written.</summary>
    Task<string?> GetSettingAsync(string name, CancellationToken ct);

    /// <summary>Writes the setting only if it is not set yet; returns the value now stored (first writer wins).</summary>
    Task<string> GetOrAddSettingAsync(string name, string value, CancellationToken ct);

    /// <summary>Returns null for an unknown key id.</summary>
    Task<AccessKeyRecord?> FindAccessKeyAsync(string accessKeyId, CancellationToken ct);

    /// <summary>Inserting a key id that exists already replaces nothing and returns false.</summary>
    Task<bool> InsertAccessKeyAsync(AccessKeyRecord key, CancellationToken ct);
}
