using Coffer.Core.Principals;
using Coffer.Core.Secrets;
using Microsoft.Data.Sqlite;

namespace Coffer.Storage.Sqlite;

/// <summary>
/// One open connection with its prepared statements. Not thread-safe: a session is used by one thread at a
/// time (the writer thread, or a reader that rented it from the pool).
/// </summary>
internal sealed class SqliteSession : IDisposable
{
    private readonly SqliteConnection _connection;
    private readonly SqliteCommand?[] _commands = new SqliteCommand?[SqliteStatement.Count];

    private SqliteSession(SqliteConnection connection) => _connection = connection;

    public SqliteConnection Connection => _connection;

    /// <summary>True while a transaction is open on the connection (as SQLite sees it, not as we think).</summary>
    public bool InTransaction => SQLitePCL.raw.sqlite3_get_autocommit(_connection.Handle) == 0;

    public static SqliteSession Open(string databasePath, bool writer, bool checkpointer = false)
    {
        var builder = new SqliteConnectionStringBuilder
        {
            DataSource = databasePath,
            Mode = writer ? SqliteOpenMode.ReadWriteCreate : SqliteOpenMode.ReadWrite,
            Cache = SqliteCacheMode.Private,
            // The store keeps its own long-lived connections; the driver's pool would only hide them.
            Pooling = false,
            DefaultTimeout = 30,
        };
        var connection = new SqliteConnection(builder.ToString());
        try
        {
            connection.Open();
            using var pragma = connection.CreateCommand();
            // journal_mode is persistent in the file; the others are per connection.
            // synchronous=FULL: a commit is fsync'd before it is acknowledged (goal G1).
            // secure_delete: deleted rows (purged blobs, wrapped data keys) are overwritten, not left in free pages.
            // journal_size_limit: the WAL is truncated back to 64 MiB after checkpoints (goal G7).
            pragma.CommandText =
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; " +
                "PRAGMA busy_timeout = 10000; PRAGMA secure_delete = ON; PRAGMA journal_size_limit = 67108864;" +
                // Checkpoints run on SqliteCheckpointer's thread; the writer's automatic one is only a backstop.
                (writer ? $" PRAGMA wal_autocheckpoint = {SqliteCheckpointer.WriterAutoCheckpointPages};" : "") +
                (writer || checkpointer ? "" : " PRAGMA query_only = ON;");
            pragma.ExecuteNonQuery();
            return new SqliteSession(connection);
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    public SqliteCommand Command(SqliteStatement statement)
    {
        var command = _commands[statement.Index];
        if (command is null)
        {
            command = _connection.CreateCommand();
            command.CommandText = statement.Sql;
            foreach (var name in statement.Parameters)
                command.Parameters.Add(new SqliteParameter { ParameterName = name });
            command.Prepare();
            _commands[statement.Index] = command;
        }
        return command;
    }

    public void Execute(SqliteStatement statement) => Command(statement).ExecuteNonQuery();

    // ---- secrets: reads ----

    public Secret? FindByArn(string arn)
    {
        var command = Command(SqliteStatement.FindByArn);
        command.Parameters[0].Value = arn;
        return ReadOne(command);
    }

    public Secret? FindByName(string region, string name)
    {
        var command = Command(SqliteStatement.FindByName);
        command.Parameters[0].Value = region;
        command.Parameters[1].Value = name;
        return ReadOne(command);
    }

    public List<Secret> ListByRegion(string region)
    {
        var command = Command(SqliteStatement.ListByRegion);
        command.Parameters[0].Value = region;
        return ReadMany(command);
    }

    public List<Secret> ListDueForPurge(DateTimeOffset now)
    {
        var command = Command(SqliteStatement.ListDueForPurge);
        command.Parameters[0].Value = now.ToUnixTimeMilliseconds();
        return ReadMany(command);
    }

    public List<Secret> ListRotating() => ReadMany(Command(SqliteStatement.ListRotating));

    public byte[]? ReadBlob(long secretId, string versionId)
    {
        var command = Command(SqliteStatement.ReadBlob);
        command.Parameters[0].Value = secretId;
        command.Parameters[1].Value = versionId;
        using var reader = command.ExecuteReader();
        if (!reader.Read() || reader.IsDBNull(0)) return null;
        return (byte[])reader.GetValue(0);
    }

    private static Secret? ReadOne(SqliteCommand command)
    {
        using var reader = command.ExecuteReader();
        Secret? secret = null;
        while (reader.Read())
        {
            secret ??= ReadSecret(reader);
            AddVersion(reader, secret);
        }
        return secret;
    }

    private static List<Secret> ReadMany(SqliteCommand command)
    {
        using var reader = command.ExecuteReader();
        var secrets = new List<Secret>();
        Secret? current = null;
        while (reader.Read())
        {
            if (current is null || current.Id != reader.GetInt64(0))
            {
                current = ReadSecret(reader);
                secrets.Add(current);
            }
            AddVersion(reader, current);
        }
        return secrets;
    }

    private static Secret ReadSecret(SqliteDataReader r) => new()
    {
        Id = r.GetInt64(0),
        Region = r.GetString(1),
        Name = r.GetString(2),
        Arn = r.GetString(3),
        Description = NullableString(r, 4),
        KmsKeyId = NullableString(r, 5),
        Type = NullableString(r, 6),
        Tags = SqliteJson.Tags(NullableString(r, 7)),
        ResourcePolicy = NullableString(r, 8),
        CreatedDate = Date(r.GetInt64(9)),
        LastChangedDate = Date(r.GetInt64(10)),
        LastAccessedDate = NullableDate(r, 11),
        DeletedDate = NullableDate(r, 12),
        DeletionDate = NullableDate(r, 13),
        RotationEnabled = r.IsDBNull(14) ? null : r.GetInt64(14) != 0,
        RotationLambdaArn = NullableString(r, 15),
        RotationRules = SqliteJson.Rules(NullableString(r, 16)),
        LastRotatedDate = NullableDate(r, 17),
        NextRotationDate = NullableDate(r, 18),
        OwningService = NullableString(r, 19),
        PrimaryRegion = r.GetString(20),
        Rotation = SqliteJson.Rotation(NullableString(r, 21)),
    };

    private static void AddVersion(SqliteDataReader r, Secret secret)
    {
        const int c = SqliteStatement.FirstVersionColumn;
        if (r.IsDBNull(c)) return; // LEFT JOIN: a secret without versions
        secret.Versions.Add(new SecretVersion
        {
            VersionId = r.GetString(c),
            Stages = SqliteJson.Stages(r.GetString(c + 1)),
            CreatedDate = Date(r.GetInt64(c + 2)),
            LastAccessedDate = NullableDate(r, c + 3),
            HasValue = r.GetInt64(c + 4) != 0,
            KeyId = NullableString(r, c + 5),
        });
    }

    // ---- secrets: writes (writer session only) ----

    public void InsertSecret(Secret secret)
    {
        var command = Command(SqliteStatement.InsertSecret);
        BindSecret(command, secret);
        secret.Id = (long)command.ExecuteScalar()!;
    }

    public void UpdateSecret(Secret secret)
    {
        var command = Command(SqliteStatement.UpdateSecret);
        BindSecret(command, secret);
        command.Parameters[21].Value = secret.Id;
        command.ExecuteNonQuery();
    }

    private static void BindSecret(SqliteCommand command, Secret s)
    {
        var p = command.Parameters;
        p[0].Value = s.Region;
        p[1].Value = s.Name;
        p[2].Value = s.Arn;
        p[3].Value = Db(s.Description);
        p[4].Value = Db(s.KmsKeyId);
        p[5].Value = Db(s.Type);
        p[6].Value = SqliteJson.Tags(s.Tags);
        p[7].Value = Db(s.ResourcePolicy);
        p[8].Value = s.CreatedDate.ToUnixTimeMilliseconds();
        p[9].Value = s.LastChangedDate.ToUnixTimeMilliseconds();
        p[10].Value = Db(s.LastAccessedDate);
        p[11].Value = Db(s.DeletedDate);
        p[12].Value = Db(s.DeletionDate);
        p[13].Value = s.RotationEnabled is { } enabled ? (enabled ? 1L : 0L) : DBNull.Value;
        p[14].Value = Db(s.RotationLambdaArn);
        p[15].Value = SqliteJson.Rules(s.RotationRules);
        p[16].Value = Db(s.LastRotatedDate);
        p[17].Value = Db(s.NextRotationDate);
        p[18].Value = Db(s.OwningService);
        p[19].Value = s.PrimaryRegion;
        p[20].Value = SqliteJson.Rotation(s.Rotation);
    }

    public void UpsertVersion(long secretId, SecretVersion version, byte[]? blob, long sequence)
    {
        var command = Command(SqliteStatement.UpsertVersion);
        var p = command.Parameters;
        p[0].Value = secretId;
        p[1].Value = version.VersionId;
        p[2].Value = sequence;
        p[3].Value = SqliteJson.Stages(version.Stages);
        p[4].Value = version.CreatedDate.ToUnixTimeMilliseconds();
        p[5].Value = Db(version.LastAccessedDate);
        p[6].Value = version.HasValue ? 1L : 0L;
        p[7].Value = Db(version.KeyId);
        command.ExecuteNonQuery();
        if (blob is null) return;
        var upsertBlob = Command(SqliteStatement.UpsertBlob);
        upsertBlob.Parameters[0].Value = secretId;
        upsertBlob.Parameters[1].Value = version.VersionId;
        upsertBlob.Parameters[2].Value = blob;
        upsertBlob.ExecuteNonQuery();
    }

    public void DeleteVersion(long secretId, string versionId)
    {
        var blob = Command(SqliteStatement.DeleteBlob);
        blob.Parameters[0].Value = secretId;
        blob.Parameters[1].Value = versionId;
        blob.ExecuteNonQuery();
        var command = Command(SqliteStatement.DeleteVersion);
        command.Parameters[0].Value = secretId;
        command.Parameters[1].Value = versionId;
        command.ExecuteNonQuery();
    }

    public void PurgeSecret(long secretId)
    {
        var blobs = Command(SqliteStatement.PurgeBlobs);
        blobs.Parameters[0].Value = secretId;
        blobs.ExecuteNonQuery();
        var command = Command(SqliteStatement.PurgeSecret);
        command.Parameters[0].Value = secretId;
        command.ExecuteNonQuery();
    }

    public long MaxSequence() => (long)Command(SqliteStatement.MaxSequence).ExecuteScalar()!;

    // ---- settings and access keys ----

    public string? GetSetting(string name)
    {
        var command = Command(SqliteStatement.GetSetting);
        command.Parameters[0].Value = name;
        return command.ExecuteScalar() as string;
    }

    public string GetOrAddSetting(string name, string value)
    {
        var command = Command(SqliteStatement.InsertSettingIfAbsent);
        command.Parameters[0].Value = name;
        command.Parameters[1].Value = value;
        command.ExecuteNonQuery();
        return GetSetting(name)!;
    }

    public AccessKeyRecord? FindAccessKey(string accessKeyId)
    {
        var command = Command(SqliteStatement.FindAccessKey);
        command.Parameters[0].Value = accessKeyId;
        using var r = command.ExecuteReader();
        if (!r.Read()) return null;
        return new AccessKeyRecord(
            r.GetString(0), (byte[])r.GetValue(1), r.GetString(2), r.GetString(3), r.GetString(4), Date(r.GetInt64(5)));
    }

    public bool InsertAccessKey(AccessKeyRecord key)
    {
        var command = Command(SqliteStatement.InsertAccessKey);
        var p = command.Parameters;
        p[0].Value = key.AccessKeyId;
        p[1].Value = key.SecretBlob;
        p[2].Value = key.UserName;
        p[3].Value = key.PrincipalArn;
        p[4].Value = key.Status;
        p[5].Value = key.CreatedDate.ToUnixTimeMilliseconds();
        return command.ExecuteNonQuery() == 1;
    }

    // ---- conversions ----

    private static DateTimeOffset Date(long ms) => DateTimeOffset.FromUnixTimeMilliseconds(ms);

    private static DateTimeOffset? NullableDate(SqliteDataReader r, int i) => r.IsDBNull(i) ? null : Date(r.GetInt64(i));

    private static string? NullableString(SqliteDataReader r, int i) => r.IsDBNull(i) ? null : r.GetString(i);

    private static object Db(string? value) => value is null ? DBNull.Value : value;

    private static object Db(DateTimeOffset? value) => value is { } v ? v.ToUnixTimeMilliseconds() : DBNull.Value;

    public void Dispose()
    {
        foreach (var command in _commands) command?.Dispose();
        _connection.Dispose();
    }
}
