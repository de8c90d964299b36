using System.Collections.Concurrent;
using Coffer.Core.Principals;
using Coffer.Core.Secrets;

namespace Coffer.Storage.Sqlite;

/// <summary>
/// The embedded store: one SQLite file in WAL mode with synchronous=FULL.
///
/// Writes go through one writer (<see cref="SqliteWriter"/>, group commit). Reads use a pool of separate
/// connections, which WAL lets run alongside the writer; each read is one statement, so it sees one committed
/// snapshot, and a read started after a write was acknowledged sees that write.
/// </summary>
public sealed partial class SqliteStore : ISecretStore, IAccountStore, IAsyncDisposable, IDisposable
{
    private readonly string _databasePath;
    private readonly SqliteWriter _writer;
    private readonly SqliteCheckpointer _checkpointer;
    private readonly ConcurrentQueue<SqliteSession> _readers = new();
    // Reads run on pool threads, more of them than cores at times; a connection opened per read (statements
    // prepared again) costs far more than an idle one kept.
    private readonly int _maxIdleReaders = Math.Max(16, Environment.ProcessorCount * 4);
    private int _idleReaders;
    private volatile bool _disposed;

    private SqliteStore(string databasePath, SqliteSession writerSession)
    {
        _databasePath = databasePath;
        _writer = new SqliteWriter(databasePath, writerSession);
        _checkpointer = new SqliteCheckpointer(databasePath);
    }

    public string DatabasePath => _databasePath;

    /// <summary>Opens the database, creating it and applying pending migrations (in one transaction) as needed.</summary>
    public static SqliteStore Open(string databasePath)
    {
        var fullPath = Path.GetFullPath(databasePath);
        Directory.CreateDirectory(Path.GetDirectoryName(fullPath)!);
        CreateOwnerOnly(fullPath);
        var session = SqliteSession.Open(fullPath, writer: true);
        try
        {
            SqliteMigrations.Apply(session);
            return new SqliteStore(fullPath, session);
        }
        catch
        {
            session.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Creates an empty database file readable by its owner only. The file holds ciphertext only, but names, tags
    /// and policies are nobody else's business; SQLite gives the -wal and -shm files the same mode.
    /// </summary>
    private static void CreateOwnerOnly(string path)
    {
        if (File.Exists(path)) return;
        try
        {
            using var _ = new FileStream(path, new FileStreamOptions
            {
                Mode = FileMode.CreateNew,
                Access = FileAccess.Write,
                UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
            });
        }
        catch (IOException) when (File.Exists(path))
        {
            // Someone else created it first; SQLite opens what is there.
        }
    }

    // ---- ISecretStore ----

    public Task<Secret?> FindByArnAsync(string arn, CancellationToken ct) =>
        Read(static (s, a) => s.FindByArn(a), arn, ct);

    public Task<Secret?> FindByNameAsync(string region, string name, CancellationToken ct) =>
        Read(static (s, a) => s.FindByName(a.region, a.name), (region, name), ct);

    public Task<byte[]?> ReadBlobAsync(long secretId, string versionId, CancellationToken ct) =>
        Read(static (s, a) => s.ReadBlob(a.secretId, a.versionId), (secretId, versionId), ct);

    public Task<IReadOnlyList<Secret>> ListAsync(string region, CancellationToken ct) =>
        Read<string, IReadOnlyList<Secret>>(static (s, r) => s.ListByRegion(r), region, ct);

    public Task<IReadOnlyList<Secret>> ListDueForPurgeAsync(DateTimeOffset now, CancellationToken ct) =>
        Read<DateTimeOffset, IReadOnlyList<Secret>>(static (s, n) => s.ListDueForPurge(n), now, ct);

    public Task<IReadOnlyList<Secret>> ListRotatingAsync(CancellationToken ct) =>
        Read<int, IReadOnlyList<Secret>>(static (s, _) => s.ListRotating(), 0, ct);

    public Task<T> WriteAsync<T>(Func<ISecretTransaction, T> work, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(work);
        if (_disposed) return Task.FromException<T>(new ObjectDisposedException(nameof(SqliteStore)));
        return _writer.Enqueue(context =>
        {
            var transaction = new SqliteSecretTransaction(context);
            try { return work(transaction); }
            finally { transaction.Close(); }
        }, ct);
    }

    // ---- IAccountStore ----

    public Task<string?> GetSettingAsync(string name, CancellationToken ct) =>
        Read(static (s, n) => s.GetSetting(n), name, ct);

    public Task<string> GetOrAddSettingAsync(string name, string value, CancellationToken ct)
    {
        if (_disposed) return Task.FromException<string>(new ObjectDisposedException(nameof(SqliteStore)));
        return _writer.Enqueue(context => context.Session.GetOrAddSetting(name, value), ct);
    }

    public Task<AccessKeyRecord?> FindAccessKeyAsync(string accessKeyId, CancellationToken ct) =>
        Read(static (s, id) => s.FindAccessKey(id), accessKeyId, ct);

    public Task<bool> InsertAccessKeyAsync(AccessKeyRecord key, CancellationToken ct)
    {
        if (_disposed) return Task.FromException<bool>(new ObjectDisposedException(nameof(SqliteStore)));
        return _writer.Enqueue(context => context.Session.InsertAccessKey(key), ct);
    }

    // ---- read pool ----

    /// <summary>
    /// Runs a read synchronously on a pooled connection. SQLite reads of a few rows take microseconds; a hop to
    /// another thread would cost more than it saves.
    /// </summary>
    private Task<TResult> Read<TArg, TResult>(Func<SqliteSession, TArg, TResult> read, TArg arg, CancellationToken ct)
    {
        if (ct.IsCancellationRequested) return Task.FromCanceled<TResult>(ct);
        if (_disposed) return Task.FromException<TResult>(new ObjectDisposedException(nameof(SqliteStore)));
        SqliteSession session;
        try
        {
            session = RentReader();
        }
        catch (Exception error)
        {
            return Task.FromException<TResult>(error);
        }
        TResult result;
        try
        {
            result = read(session, arg);
        }
        catch (Exception error)
        {
            // The connection may be in a bad state after a fault; do not put it back.
            session.Dispose();
            return Task.FromException<TResult>(error);
        }
        ReturnReader(session);
        return Task.FromResult(result);
    }

    private SqliteSession RentReader()
    {
        if (_readers.TryDequeue(out var session))
        {
            Interlocked.Decrement(ref _idleReaders);
            return session;
        }
        return SqliteSession.Open(_databasePath, writer: false);
    }

    private void ReturnReader(SqliteSession session)
    {
        if (_disposed || Interlocked.Increment(ref _idleReaders) > _maxIdleReaders)
        {
            if (!_disposed) Interlocked.Decrement(ref _idleReaders);
            session.Dispose();
            return;
        }
        _readers.Enqueue(session);
        if (_disposed) DrainReaders();
    }

    private void DrainReaders()
    {
        while (_readers.TryDequeue(out var session))
        {
            Interlocked.Decrement(ref _idleReaders);
            session.Dispose();
        }
    }

    // ---- test hooks ----

    /// <summary>Runs a statement on the writer connection as a write of its own (test hook: PRAGMAs, fault setup).</summary>
    internal Task<object?> ExecuteOnWriterAsync(string sql) =>
        _writer.Enqueue(context =>
        {
            using var command = context.Session.Connection.CreateCommand();
            command.CommandText = sql;
            return command.ExecuteScalar();
        }, CancellationToken.None);

    /// <summary>Runs a statement on a pooled read connection (test hook).</summary>
    internal Task<object?> ExecuteOnReaderAsync(string sql) =>
        Read(static (s, q) =>
        {
            using var command = s.Connection.CreateCommand();
            command.CommandText = q;
            return command.ExecuteScalar();
        }, sql, CancellationToken.None);

    // ---- disposal ----

    /// <summary>Waits for queued writes to commit, then closes every connection. Later calls throw ObjectDisposedException.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_disposed) return;
        _disposed = true;
        _checkpointer.Dispose();
        _writer.Complete();
        await _writer.Exited.ConfigureAwait(false);
        DrainReaders();
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _checkpointer.Dispose();
        _writer.Dispose();
        DrainReaders();
    }
}
