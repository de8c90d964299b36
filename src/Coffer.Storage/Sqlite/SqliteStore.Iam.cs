using Coffer.Core.Principals;
using Microsoft.Data.Sqlite;

namespace Coffer.Storage.Sqlite;

/// <summary>
/// IAM storage (migration 004): rare administrative writes, so plain commands on the writer's connection (inside
/// its transaction, durable when the task completes) rather than prepared statements.
/// </summary>
public sealed partial class SqliteStore : IIamStore
{
    public Task<IReadOnlyList<IamEntityRow>> LoadIamEntitiesAsync(CancellationToken ct) =>
        Read<int, IReadOnlyList<IamEntityRow>>(static (s, _) =>
        {
            using var command = s.Connection.CreateCommand();
            command.CommandText = "SELECT kind, name, document FROM iam_entities ORDER BY kind, name";
            using var r = command.ExecuteReader();
            var list = new List<IamEntityRow>();
            while (r.Read()) list.Add(new IamEntityRow(r.GetString(0), r.GetString(1), r.GetString(2)));
            return list;
        }, 0, ct);

    public Task PutIamEntityAsync(IamEntityRow row, CancellationToken ct) => Execute(
        "INSERT INTO iam_entities (kind, name, document) VALUES ($kind, $name, $doc) " +
        "ON CONFLICT (kind, name) DO UPDATE SET document = excluded.document",
        c =>
        {
            c.Parameters.AddWithValue("$kind", row.Kind);
            c.Parameters.AddWithValue("$name", row.Name);
            c.Parameters.AddWithValue("$doc", row.Document);
        }, ct);

    public Task DeleteIamEntityAsync(string kind, string name, CancellationToken ct) => Execute(
        "DELETE FROM iam_entities WHERE kind = $kind AND name = $name",
        c =>
        {
            c.Parameters.AddWithValue("$kind", kind);
            c.Parameters.AddWithValue("$name", name);
        }, ct);

    public Task<IReadOnlyList<AccessKeyRecord>> ListAccessKeysAsync(string userName, CancellationToken ct) =>
        Read<string, IReadOnlyList<AccessKeyRecord>>(static (s, user) =>
        {
            using var command = s.Connection.CreateCommand();
            command.CommandText = "SELECT access_key_id, secret_blob, user_name, principal_arn, status, created_ms FROM access_keys " +
                "WHERE user_name = $user ORDER BY created_ms, access_key_id";
            command.Parameters.AddWithValue("$user", user);
            using var r = command.ExecuteReader();
            var list = new List<AccessKeyRecord>();
            while (r.Read())
                list.Add(new AccessKeyRecord(r.GetString(0), (byte[])r.GetValue(1), r.GetString(2), r.GetString(3), r.GetString(4),
                    DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(5))));
            return list;
        }, userName, ct);

    public async Task<bool> UpdateAccessKeyStatusAsync(string accessKeyId, string status, CancellationToken ct) =>
        await ExecuteCount("UPDATE access_keys SET status = $status WHERE access_key_id = $id",
            c =>
            {
                c.Parameters.AddWithValue("$status", status);
                c.Parameters.AddWithValue("$id", accessKeyId);
            }, ct).ConfigureAwait(false) > 0;

    public Task DeleteAccessKeyAsync(string accessKeyId, CancellationToken ct) => Execute(
        "DELETE FROM access_keys WHERE access_key_id = $id", c => c.Parameters.AddWithValue("$id", accessKeyId), ct);

    private Task Execute(string sql, Action<SqliteCommand> bind, CancellationToken ct) => ExecuteCount(sql, bind, ct);

    private Task<int> ExecuteCount(string sql, Action<SqliteCommand> bind, CancellationToken ct)
    {
        if (_disposed) return Task.FromException<int>(new ObjectDisposedException(nameof(SqliteStore)));
        return _writer.Enqueue(context =>
        {
            using var command = context.Session.Connection.CreateCommand();
            command.CommandText = sql;
            bind(command);
            return command.ExecuteNonQuery();
        }, ct);
    }
}
