namespace Coffer.Storage.Sqlite;

/// <summary>
/// One queued write. It either runs or is cancelled while still queued, never both, so a caller that saw
/// cancellation knows its work was not applied.
/// </summary>
internal abstract class SqliteWriteItem
{
    private const int Queued = 0, Started = 1, Cancelled = 2;
    private int _state;

    /// <summary>Claims the item for the writer; false when it was cancelled while queued.</summary>
    public bool TryStart() => Interlocked.CompareExchange(ref _state, Started, Queued) == Queued;

    protected bool TryCancel() => Interlocked.CompareExchange(ref _state, Cancelled, Queued) == Queued;

    /// <summary>Runs the work on the writer session, inside the item's savepoint; keeps the result for <see cref="Succeed"/>.</summary>
    public abstract void Run(SqliteWriterContext context);

    /// <summary>Completes the caller's task; called only after the batch has committed.</summary>
    public abstract void Succeed();

    public abstract void Fail(Exception error);
}

internal sealed class SqliteWriteItem<T> : SqliteWriteItem
{
    private readonly Func<SqliteWriterContext, T> _work;
    private readonly TaskCompletionSource<T> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationToken _ct;
    private CancellationTokenRegistration _registration;
    private T? _result;

    public SqliteWriteItem(Func<SqliteWriterContext, T> work, CancellationToken ct)
    {
        _work = work;
        _ct = ct;
        if (ct.CanBeCanceled)
            _registration = ct.UnsafeRegister(static o => ((SqliteWriteItem<T>)o!).CancelIfQueued(), this);
    }

    public Task<T> Task => _completion.Task;

    private void CancelIfQueued()
    {
        if (TryCancel()) _completion.TrySetCanceled(_ct);
    }

    public override void Run(SqliteWriterContext context) => _result = _work(context);

    public override void Succeed()
    {
        _registration.Dispose();
        _completion.TrySetResult(_result!);
    }

    public override void Fail(Exception error)
    {
        _registration.Dispose();
        _result = default;
        _completion.TrySetException(error);
    }
}
