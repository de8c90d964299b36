using System.Threading.Channels;
using Microsoft.Data.Sqlite;

namespace Coffer.Storage.Sqlite;

/// <summary>What a write item sees: the writer session and the version sequence.</summary>
internal sealed class SqliteWriterContext(SqliteSession session, long lastSequence)
{
    private long _lastSequence = lastSequence;

    public SqliteSession Session { get; } = session;

    /// <summary>Monotonic across the store's lifetime; gaps (from rolled-back work) are harmless.</summary>
    public long NextSequence() => ++_lastSequence;

    public long LastSequence => _lastSequence;
}

/// <summary>
/// The single writer: one long-lived connection on a dedicated thread, fed by a single-consumer channel.
///
/// Group commit: the thread takes everything queued (up to <see cref="MaxBatch"/> items), opens one
/// <c>BEGIN IMMEDIATE</c> transaction, runs each item inside its own SAVEPOINT (an exception rolls back that
/// item only and goes to that caller only), then COMMITs once. With synchronous=FULL the commit is one fsync for
/// the whole batch; callers' tasks complete only after it. If the commit fails, every caller in the batch gets
/// the error.
/// </summary>
internal sealed class SqliteWriter : IDisposable
{
    public const int MaxBatch = 256;

    private readonly string _databasePath;
    private readonly Channel<SqliteWriteItem> _queue =
        Channel.CreateUnbounded<SqliteWriteItem>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Thread _thread;
    private readonly TaskCompletionSource _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private SqliteWriterContext? _context;
    private long _sequenceFloor;

    public SqliteWriter(string databasePath, SqliteSession session)
    {
        _databasePath = databasePath;
        _context = new SqliteWriterContext(session, session.MaxSequence());
        _thread = new Thread(Loop) { IsBackground = true, Name = "coffer-sqlite-writer" };
        _thread.Start();
    }

    /// <summary>Completes when the writer has drained the queue and closed its connection.</summary>
    public Task Exited => _exited.Task;

    public Task<T> Enqueue<T>(Func<SqliteWriterContext, T> work, CancellationToken ct)
    {
        if (ct.IsCancellationRequested) return Task.FromCanceled<T>(ct);
        var item = new SqliteWriteItem<T>(work, ct);
        if (!_queue.Writer.TryWrite(item))
            return Task.FromException<T>(new ObjectDisposedException(nameof(SqliteStore)));
        return item.Task;
    }

    /// <summary>Stops accepting work; what is queued still runs.</summary>
    public void Complete() => _queue.Writer.TryComplete();

    public void Dispose()
    {
        Complete();
        if (Thread.CurrentThread != _thread) _thread.Join();
    }

    private void Loop()
    {
        var batch = new List<SqliteWriteItem>(MaxBatch);
        var reader = _queue.Reader;
        try
        {
            while (true)
            {
                if (!reader.TryRead(out var first))
                {
                    // Blocking here is fine: this is the writer's own thread, not a pool thread.
                    if (!reader.WaitToReadAsync().AsTask().GetAwaiter().GetResult()) break;
                    continue;
                }
                batch.Add(first);
                while (batch.Count < MaxBatch && reader.TryRead(out var next)) batch.Add(next);
                try
                {
                    RunBatch(batch);
                }
                catch (Exception error)
                {
                    // A bug, not a database fault: never leave a caller waiting, never let the writer thread die.
                    foreach (var item in batch)
                    {
                        item.TryStart();
                        item.Fail(error);
                    }
                    Recover(error);
                }
                batch.Clear();
            }
        }
        finally
        {
            _context?.Session.Dispose();
            _context = null;
            _exited.TrySetResult();
        }
    }

    private void RunBatch(List<SqliteWriteItem> batch)
    {
        var index = 0;
        var group = new List<SqliteWriteItem>(batch.Count);
        while (index < batch.Count)
        {
            SqliteWriterContext context;
            try
            {
                context = _context ?? Reopen();
                context.Session.Execute(SqliteStatement.Begin);
            }
            catch (Exception error)
            {
                // The transaction could not start (I/O error, lock timeout): nothing ran, everyone still queued hears it.
                for (; index < batch.Count; index++)
                    if (batch[index].TryStart()) batch[index].Fail(error);
                Recover(error);
                return;
            }

            group.Clear();
            Exception? lost = null;
            for (; index < batch.Count && lost is null; index++)
            {
                var item = batch[index];
                if (!item.TryStart()) continue; // cancelled while queued
                lost = RunItem(context.Session, context, item, group);
            }

            if (lost is not null)
            {
                // SQLite dropped the whole transaction (it does so on some I/O and disk-full errors): the work of
                // the items before is gone too. The remaining items get a fresh transaction.
                foreach (var done in group) done.Fail(lost);
                Recover(lost);
                continue;
            }

            try
            {
                context.Session.Execute(SqliteStatement.Commit);
            }
            catch (Exception error)
            {
                foreach (var done in group) done.Fail(error);
                Recover(error);
                continue;
            }
            foreach (var done in group) done.Succeed();
        }
    }

    /// <summary>Runs one item in its savepoint. Returns the error when the enclosing transaction was lost.</summary>
    private static Exception? RunItem(SqliteSession session, SqliteWriterContext context, SqliteWriteItem item, List<SqliteWriteItem> group)
    {
        try
        {
            session.Execute(SqliteStatement.Savepoint);
        }
        catch (Exception error)
        {
            item.Fail(error);
            return session.InTransaction ? null : error;
        }

        try
        {
            item.Run(context);
            session.Execute(SqliteStatement.ReleaseSavepoint);
            group.Add(item);
            return null;
        }
        catch (Exception error)
        {
            item.Fail(error);
            if (!session.InTransaction) return error;
            try
            {
                session.Execute(SqliteStatement.RollbackToSavepoint);
                session.Execute(SqliteStatement.ReleaseSavepoint);
                return null;
            }
            catch (Exception rollbackError)
            {
                return rollbackError;
            }
        }
    }

    /// <summary>
    /// After a failed batch: roll back whatever is still open so the next batch starts clean, and replace the
    /// connection if it cannot be trusted any more. The store keeps working once the fault clears (disk space
    /// freed, I/O back) without a restart.
    /// </summary>
    private void Recover(Exception error)
    {
        var context = _context;
        if (context is null) return;
        var replace = error is SqliteException { SqliteErrorCode: 10 /* IOERR */ or 11 /* CORRUPT */ or 26 /* NOTADB */ or 14 /* CANTOPEN */ };
        try
        {
            if (context.Session.InTransaction) context.Session.Execute(SqliteStatement.Rollback);
        }
        catch
        {
            replace = true;
        }
        if (replace)
        {
            _sequenceFloor = context.LastSequence;
            context.Session.Dispose();
            _context = null; // reopened at the next batch
        }
    }

    private SqliteWriterContext Reopen()
    {
        var session = SqliteSession.Open(_databasePath, writer: true);
        try
        {
            // Never hand out a sequence number twice, even one whose work was rolled back.
            _context = new SqliteWriterContext(session, Math.Max(_sequenceFloor, session.MaxSequence()));
            return _context;
        }
        catch
        {
            session.Dispose();
            throw;
        }
    }
}
