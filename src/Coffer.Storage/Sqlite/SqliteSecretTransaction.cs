using Coffer.Core.Secrets;

namespace Coffer.Storage.Sqlite;

/// <summary>
/// <see cref="ISecretTransaction"/> on the writer connection, inside the current work item's savepoint.
/// Valid only while its work runs: a transaction kept past that throws.
/// </summary>
internal sealed class SqliteSecretTransaction(SqliteWriterContext context) : ISecretTransaction
{
    private bool _closed;

    public void Close() => _closed = true;

    private SqliteSession Session =>
        _closed ? throw new InvalidOperationException("The transaction has ended; use it only inside its work.") : context.Session;

    public Secret? FindByArn(string arn) => Session.FindByArn(arn);

    public Secret? FindByName(string region, string name) => Session.FindByName(region, name);

    public byte[]? ReadBlob(long secretId, string versionId) => Session.ReadBlob(secretId, versionId);

    public void InsertSecret(Secret secret) => Session.InsertSecret(secret);

    public void UpdateSecret(Secret secret) => Session.UpdateSecret(secret);

    public void UpsertVersion(long secretId, SecretVersion version, byte[]? blob) =>
        Session.UpsertVersion(secretId, version, blob, context.NextSequence());

    public void DeleteVersion(long secretId, string versionId) => Session.DeleteVersion(secretId, versionId);

    public void PurgeSecret(long secretId) => Session.PurgeSecret(secretId);
}
