using System.Text;
using Coffer.Core.Audit;
using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace Coffer.Storage.Sqlite;

/// <summary>
/// The store as an audit sink: table <c>audit_event</c> of the Coffer database (migration 003), written on a
/// connection of its own so that audit batches never queue behind the secrets writer's fsyncs. In the default
/// durability mode that connection commits with synchronous=NORMAL (WAL: the commit is written to the OS, not
/// fsync'd, so it survives a process crash); in strict mode with synchronous=FULL. Each batch is one transaction.
/// </summary>
public sealed class SqliteAuditSink : IAuditSink, IAuditReader
{
    private readonly string _path;
    private const string InsertSql =
        "INSERT INTO audit_event (seq, prev_hash, hash, event_time_ms, event_id, event_source, event_name, user_name, principal_arn, " +
        "access_key_id, resource, outcome, error_code, read_only, source_ip, event_json) VALUES " +
        "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)";
    private SqliteConnection? _connection;
    // The per-record insert is bound through SQLite's own API: SqliteCommand allocated a binder per parameter and
    // a UTF-8 copy per string for each of the 16 columns, for every record. Strings are encoded into _utf8 here.
    private sqlite3_stmt? _insert;
    private byte[] _utf8 = new byte[1024];
    private SqliteCommand? _insertCheckpoint;
    private bool? _durable;

    /// <param name="databasePath">The Coffer database (already migrated by <see cref="SqliteStore.Open"/>).</param>
    public SqliteAuditSink(string databasePath) => _path = Path.GetFullPath(databasePath);

    public string Name => "store";

    private SqliteConnection Connection(bool durable)
    {
        if (_connection is null)
        {
            var builder = new SqliteConnectionStringBuilder { DataSource = _path, Mode = SqliteOpenMode.ReadWrite, Pooling = false, DefaultTimeout = 4 };
            var connection = new SqliteConnection(builder.ToString());
            try
            {
                connection.Open();
                using var pragma = connection.CreateCommand();
                // Checkpoints belong to SqliteCheckpointer's thread, as for the secrets writer: with SQLite's default
                // (1,000 pages) a busy audit batch would copy the WAL back inside its own commit, while callers wait.
                pragma.CommandText = $"PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 4000; PRAGMA wal_autocheckpoint = {SqliteCheckpointer.WriterAutoCheckpointPages};";
                pragma.ExecuteNonQuery();
            }
            catch
            {
                connection.Dispose();
                throw;
            }
            _connection = connection;
            Check(raw.sqlite3_prepare_v2(connection.Handle, InsertSql, out var insert));
            _insert = insert;
            _insertCheckpoint = connection.CreateCommand();
            _insertCheckpoint.CommandText = "INSERT INTO audit_checkpoint (seq, hash, time_ms, signature) VALUES ($seq, $hash, $time, $sig)";
            foreach (var p in (string[])["$seq", "$hash", "$time", "$sig"])
                _insertCheckpoint.Parameters.Add(new SqliteParameter { ParameterName = p });
            _durable = null;
        }
        if (_durable != durable)
        {
            using var pragma = _connection.CreateCommand();
            pragma.CommandText = durable ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL";
            pragma.ExecuteNonQuery();
            _durable = durable;
        }
        return _connection;
    }

    public void Write(IReadOnlyList<AuditRecord> records, AuditCheckpoint? checkpoint, bool durable)
    {
        try
        {
            var connection = Connection(durable);
            using var tx = connection.BeginTransaction(deferred: false);
            _insertCheckpoint!.Transaction = tx;
            foreach (var r in records) Insert(r);
            if (checkpoint is not null)
            {
                var c = _insertCheckpoint.Parameters;
                c[0].Value = checkpoint.Seq;
                c[1].Value = checkpoint.Hash;
                c[2].Value = checkpoint.Time.ToUnixTimeMilliseconds();
                c[3].Value = checkpoint.Signature;
                _insertCheckpoint.ExecuteNonQuery();
            }
            tx.Commit();
        }
        catch
        {
            // Start afresh on the next batch: the connection may be in a bad state after an I/O fault.
            Close();
            throw;
        }
    }

    private void Insert(AuditRecord r)
    {
        var stmt = _insert!;
        try
        {
            Check(raw.sqlite3_bind_int64(stmt, 1, r.Seq));
            BindText(stmt, 2, r.PrevHash);
            BindText(stmt, 3, r.Hash);
            Check(raw.sqlite3_bind_int64(stmt, 4, r.EventTime.ToUnixTimeMilliseconds()));
            BindText(stmt, 5, r.EventId);
            BindText(stmt, 6, r.EventSource);
            BindText(stmt, 7, r.EventName);
            BindText(stmt, 8, r.UserName);
            BindText(stmt, 9, r.PrincipalArn);
            BindText(stmt, 10, r.AccessKeyId);
            BindText(stmt, 11, r.Resource);
            BindText(stmt, 12, AuditOutcomes.Name(r.Outcome));
            BindText(stmt, 13, r.ErrorCode);
            Check(raw.sqlite3_bind_int64(stmt, 14, r.ReadOnly ? 1 : 0));
            BindText(stmt, 15, r.SourceIp);
            // The record's UTF-8 bytes as they are (the database encoding is UTF-8): no round trip through a string.
            Check(raw.sqlite3_bind_text(stmt, 16, r.EventJson));
            var rc = raw.sqlite3_step(stmt);
            if (rc != raw.SQLITE_DONE) Check(rc);
        }
        finally
        {
            raw.sqlite3_reset(stmt);
        }
    }

    private void BindText(sqlite3_stmt stmt, int index, string? value)
    {
        if (value is null)
        {
            Check(raw.sqlite3_bind_null(stmt, index));
            return;
        }
        var max = Encoding.UTF8.GetMaxByteCount(value.Length);
        if (max > _utf8.Length) _utf8 = new byte[Math.Max(max, _utf8.Length * 2)];
        var length = Encoding.UTF8.GetBytes(value, _utf8);
        // SQLitePCL binds spans as SQLITE_TRANSIENT: SQLite copies the bytes, so _utf8 is free again at once.
        Check(raw.sqlite3_bind_text(stmt, index, _utf8.AsSpan(0, length)));
    }

    private void Check(int rc)
    {
        if (rc != raw.SQLITE_OK) SqliteException.ThrowExceptionForRC(rc, _connection?.Handle);
    }

    public void Probe()
    {
        try
        {
            using var command = Connection(_durable ?? false).CreateCommand();
            command.CommandText = "SELECT count(*) FROM audit_checkpoint WHERE 0";
            command.ExecuteScalar();
        }
        catch
        {
            Close();
            throw;
        }
    }

    public AuditChainHead? ReadHead()
    {
        using var connection = OpenReader();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT seq, hash FROM audit_event ORDER BY id DESC LIMIT 1";
        using var reader = command.ExecuteReader();
        return reader.Read() ? new AuditChainHead(reader.GetInt64(0), reader.GetString(1)) : null;
    }

    // ---- reading ----

    private SqliteConnection OpenReader()
    {
        var builder = new SqliteConnectionStringBuilder { DataSource = _path, Mode = SqliteOpenMode.ReadOnly, Pooling = false, DefaultTimeout = 10 };
        var connection = new SqliteConnection(builder.ToString());
        connection.Open();
        return connection;
    }

    private const string Columns =
        "seq, prev_hash, hash, event_time_ms, event_id, event_source, event_name, user_name, principal_arn, access_key_id, resource, outcome, error_code, read_only, source_ip, event_json";

    public Task<IReadOnlyList<AuditRecord>> QueryAsync(AuditQuery query, CancellationToken ct)
    {
        using var connection = OpenReader();
        using var command = connection.CreateCommand();
        var sql = new StringBuilder("SELECT ").Append(Columns).Append(" FROM audit_event WHERE 1=1");
        void Where(string clause, string name, object value)
        {
            sql.Append(" AND ").Append(clause);
            command.Parameters.AddWithValue(name, value);
        }
        if (query.From is { } from) Where("event_time_ms >= $from", "$from", from.ToUnixTimeMilliseconds());
        if (query.To is { } to) Where("event_time_ms <= $to", "$to", to.ToUnixTimeMilliseconds());
        if (query.Principal is { } pr) Where("(user_name = $pr OR principal_arn = $pr)", "$pr", pr);
        // Every entry of the record's resources (BatchGetSecretValue names several), not only the first, which is
        // all the resource column holds; the same rule as AuditQuery.NamesSecret. json_valid first: an edited row
        // that is no longer JSON is verify's finding, it must not make json_each fail the whole query.
        if (query.Secret is { } s)
            Where("json_valid(event_json) AND EXISTS (SELECT 1 FROM json_each(event_json, '$.resources') r WHERE json_extract(r.value, '$.ARN') = $s " +
                  "OR json_extract(r.value, '$.ARN') GLOB '*:secret:' || $s || '-??????')", "$s", s);
        if (query.ResourceType is { } rt)
            Where("json_valid(event_json) AND EXISTS (SELECT 1 FROM json_each(event_json, '$.resources') r WHERE json_extract(r.value, '$.type') = $rt)", "$rt", rt);
        if (query.EventName is { } en) Where("event_name = $en", "$en", en);
        if (query.EventId is { } ei) Where("event_id = $ei", "$ei", ei);
        if (query.EventSource is { } es) Where("event_source = $es", "$es", es);
        if (query.AccessKeyId is { } ak) Where("access_key_id = $ak", "$ak", ak);
        // The Region lives only in the record's JSON (no column, so the write path is unchanged); pages are read
        // newest first and stop at the limit, so a one-Region installation reads no more rows than before.
        if (query.Region is { } region)
            Where("json_valid(event_json) AND json_extract(event_json, '$.awsRegion') = $region", "$region", region);
        if (query.ReadOnly is { } ro) Where("read_only = $ro", "$ro", ro ? 1 : 0);
        if (query.Outcome is { } o) Where("outcome = $o", "$o", AuditOutcomes.Name(o));
        if (query.BeforeSeq is { } before) Where("seq < $before", "$before", before);
        // Newest first by rowid, which the writer assigns in chain order (one connection, one record after the
        // other): SQLite walks the table backwards and stops at the limit. ORDER BY seq (no index) read and sorted
        // the whole trail for every page: 116 ms at 300,000 records, growing with the trail.
        sql.Append(" ORDER BY id DESC LIMIT $limit");
        command.Parameters.AddWithValue("$limit", query.Limit);
        command.CommandText = sql.ToString();
        var list = new List<AuditRecord>();
        using var reader = command.ExecuteReader();
        while (reader.Read()) list.Add(ReadRecord(reader));
        return Task.FromResult<IReadOnlyList<AuditRecord>>(list);
    }

    public IEnumerable<AuditRecord> ReadAll()
    {
        using var connection = OpenReader();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT " + Columns + " FROM audit_event ORDER BY id";
        using var reader = command.ExecuteReader();
        while (reader.Read()) yield return ReadRecord(reader);
    }

    public IReadOnlyList<AuditCheckpoint> ReadCheckpoints()
    {
        using var connection = OpenReader();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT seq, hash, time_ms, signature FROM audit_checkpoint ORDER BY id";
        using var reader = command.ExecuteReader();
        var list = new List<AuditCheckpoint>();
        while (reader.Read())
            list.Add(new AuditCheckpoint(reader.GetInt64(0), reader.GetString(1), DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(2)), reader.GetString(3)));
        return list;
    }

    private static AuditRecord ReadRecord(SqliteDataReader r)
    {
        string? S(int i) => r.IsDBNull(i) ? null : r.GetString(i);
        AuditOutcomes.TryParse(r.GetString(11), out var outcome);
        return new AuditRecord(r.GetInt64(0), r.GetString(1), r.GetString(2), Encoding.UTF8.GetBytes(r.GetString(15)),
            DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(3)), r.GetString(4), r.GetString(5), r.GetString(6),
            S(7), S(8), S(9), S(10), outcome, S(12), r.GetInt64(13) != 0, S(14));
    }

    private void Close()
    {
        _insert?.Dispose();
        _insertCheckpoint?.Dispose();
        _connection?.Dispose();
        _insert = null;
        _insertCheckpoint = null;
        _connection = null;
    }

    public void Dispose() => Close();
}
