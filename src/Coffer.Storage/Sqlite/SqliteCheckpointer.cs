namespace Coffer.Storage.Sqlite;

/// <summary>
/// Copies the WAL back into the database file on a thread of its own, so that the single writer never pays for
/// a checkpoint inside a commit. The writer's own automatic checkpoint is raised to
/// <see cref="WriterAutoCheckpointPages"/> as a backstop in case this thread falls behind or fails.
///
/// A PASSIVE checkpoint waits for nobody: it copies the frames no reader still needs, fsyncs the database file
/// and returns. Every <see cref="Interval"/> is frequent enough to keep the WAL to a few MiB at thousands of
/// commits a second, and a page written by many commits in between is copied once. Durability is unchanged:
/// a commit is acknowledged after the WAL fsync (synchronous=FULL), whether or not it was checkpointed yet.
/// </summary>
internal sealed class SqliteCheckpointer : IDisposable
{
    public const int WriterAutoCheckpointPages = 16_384;
    public static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(200);

    private readonly string _databasePath;
    private readonly Thread _thread;
    private readonly ManualResetEventSlim _stop = new();

    public SqliteCheckpointer(string databasePath)
    {
        _databasePath = databasePath;
        _thread = new Thread(Loop) { IsBackground = true, Name = "coffer-sqlite-checkpoint" };
        _thread.Start();
    }

    private void Loop()
    {
        SqliteSession? session = null;
        try
        {
            while (!_stop.Wait(Interval))
            {
                try
                {
                    session ??= SqliteSession.Open(_databasePath, writer: false, checkpointer: true);
                    session.Execute(SqliteStatement.CheckpointPassive);
                }
                catch (Exception)
                {
                    // A failed checkpoint loses nothing (the WAL keeps the commits); the writer's own automatic
                    // checkpoint is the backstop. Start over with a fresh connection next time.
                    session?.Dispose();
                    session = null;
                }
            }
        }
        finally
        {
            session?.Dispose();
        }
    }

    public void Dispose()
    {
        _stop.Set();
        if (Thread.CurrentThread != _thread) _thread.Join();
        _stop.Dispose();
    }
}
