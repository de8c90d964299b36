using Coffer.Core.Functions;
using Microsoft.Data.Sqlite;

namespace Coffer.Storage.Sqlite;

/// <summary>
/// Function storage (migration 006): rare administrative writes, so plain commands on the writer's connection
/// (inside its transaction, durable when the task completes), reads on the pooled connections.
/// </summary>
public sealed partial class SqliteStore : IFunctionStore
{
    private const string FunctionColumns = "region, name, arn, revision_id, document, environment_blob";

    public Task<FunctionRecord?> FindFunctionAsync(string region, string name, bool withCode, CancellationToken ct) =>
        Read(static (s, a) =>
        {
            using var command = s.Connection.CreateCommand();
            command.CommandText = $"SELECT {FunctionColumns}{(a.withCode ? ", code_blob" : "")} FROM functions WHERE region = $region AND name = $name";
            command.Parameters.AddWithValue("$region", a.region);
            command.Parameters.AddWithValue("$name", a.name);
            using var r = command.ExecuteReader();
            return r.Read() ? ReadFunction(r, a.withCode) : null;
        }, (region, name, withCode), ct);

    public Task<IReadOnlyList<FunctionRecord>> ListFunctionsAsync(string region, string? afterName, int limit, CancellationToken ct) =>
        Read<(string region, string? after, int limit), IReadOnlyList<FunctionRecord>>(static (s, a) =>
        {
            using var command = s.Connection.CreateCommand();
            // BINARY collation: the same ordinal order the service pages by.
            command.CommandText = $"SELECT {FunctionColumns} FROM functions WHERE region = $region AND name > $after ORDER BY name LIMIT $limit";
            command.Parameters.AddWithValue("$region", a.region);
            command.Parameters.AddWithValue("$after", a.after ?? "");
            command.Parameters.AddWithValue("$limit", a.limit);
            using var r = command.ExecuteReader();
            var list = new List<FunctionRecord>();
            while (r.Read()) list.Add(ReadFunction(r, withCode: false));
            return list;
        }, (region, afterName, limit), ct);

    public async Task<bool> InsertFunctionAsync(FunctionRecord record, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(record.CodeBlob);
        return await ExecuteCount(
            "INSERT INTO functions (region, name, arn, revision_id, document, environment_blob, code_blob) " +
            "VALUES ($region, $name, $arn, $rev, $doc, $env, $code) ON CONFLICT DO NOTHING",
            c =>
            {
                BindFunction(c, record);
                c.Parameters.AddWithValue("$code", record.CodeBlob);
            }, ct).ConfigureAwait(false) > 0;
    }

    public async Task<bool> ReplaceFunctionAsync(FunctionRecord record, string expectedRevisionId, CancellationToken ct) =>
        await ExecuteCount(
            "UPDATE functions SET revision_id = $rev, document = $doc, environment_blob = $env" +
            (record.CodeBlob is null ? "" : ", code_blob = $code") +
            " WHERE region = $region AND name = $name AND arn = $arn AND revision_id = $expected",
            c =>
            {
                BindFunction(c, record);
                if (record.CodeBlob is not null) c.Parameters.AddWithValue("$code", record.CodeBlob);
                c.Parameters.AddWithValue("$expected", expectedRevisionId);
            }, ct).ConfigureAwait(false) > 0;

    public async Task<bool> DeleteFunctionAsync(string region, string name, CancellationToken ct) =>
        await ExecuteCount("DELETE FROM functions WHERE region = $region AND name = $name",
            c =>
            {
                c.Parameters.AddWithValue("$region", region);
                c.Parameters.AddWithValue("$name", name);
            }, ct).ConfigureAwait(false) > 0;

    private static void BindFunction(SqliteCommand c, FunctionRecord record)
    {
        c.Parameters.AddWithValue("$region", record.Region);
        c.Parameters.AddWithValue("$name", record.Name);
        c.Parameters.AddWithValue("$arn", record.Arn);
        c.Parameters.AddWithValue("$rev", record.RevisionId);
        c.Parameters.AddWithValue("$doc", record.Document);
        c.Parameters.AddWithValue("$env", (object?)record.EnvironmentBlob ?? DBNull.Value);
    }

    private static FunctionRecord ReadFunction(SqliteDataReader r, bool withCode) => new(
        r.GetString(0), r.GetString(1), r.GetString(2), r.GetString(3), r.GetString(4),
        r.IsDBNull(5) ? null : (byte[])r.GetValue(5),
        withCode ? (byte[])r.GetValue(6) : null);
}
