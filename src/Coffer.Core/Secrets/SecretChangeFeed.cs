namespace Coffer.Core.Secrets;

/// <summary>
/// An in-process feed of committed secret changes (a new version, a label move, a deletion, …), so that a
/// caching agent can learn of a rotation within seconds instead of waiting for its TTL. Each change gets a
/// sequence number; readers ask for everything after the last number they saw and may wait for the next one.
/// The feed keeps the most recent <see cref="Capacity"/> changes; a reader that fell further behind is told to
/// refresh everything (<see cref="ChangeBatch.Reset"/>). Sequence numbers restart with the process, and the
/// feed's <see cref="Epoch"/> changes with them, so a reader that sees a new epoch also refreshes everything.
/// </summary>
public sealed class SecretChangeFeed(int capacity = 4096)
{
    private readonly object _gate = new();
    private readonly (long Seq, string Arn)[] _ring = new (long, string)[capacity];
    private long _last;
    private TaskCompletionSource _next = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public int Capacity { get; } = capacity;
    public string Epoch { get; } = Guid.NewGuid().ToString("N");

    public long LastSequence { get { lock (_gate) return _last; } }

    /// <summary>Records that the secret changed. Called after the change is durable.</summary>
    public void Publish(string arn)
    {
        TaskCompletionSource wake;
        lock (_gate)
        {
            _last++;
            _ring[_last % Capacity] = (_last, arn);
            wake = _next;
            _next = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        wake.TrySetResult();
    }

    /// <summary>Changes after <paramref name="since"/>; waits up to <paramref name="wait"/> when there are none yet.</summary>
    public async Task<ChangeBatch> ReadAsync(long since, TimeSpan wait, CancellationToken ct)
    {
        Task next;
        lock (_gate)
        {
            if (since < _last || since > _last) return Collect(since);
            next = _next.Task;
        }
        try { await next.WaitAsync(wait, ct).ConfigureAwait(false); }
        catch (TimeoutException) { }
        lock (_gate) return Collect(since);
    }

    private ChangeBatch Collect(long since)
    {
        if (since > _last || since < _last - Capacity)
            return new ChangeBatch(Epoch, _last, Reset: true, []);
        var arns = new HashSet<string>(StringComparer.Ordinal);
        for (var s = since + 1; s <= _last; s++) arns.Add(_ring[s % Capacity].Arn);
        return new ChangeBatch(Epoch, _last, Reset: false, [.. arns]);
    }
}

/// <summary>ARNs of secrets changed after the reader's sequence, and the sequence to ask from next time.</summary>
public sealed record ChangeBatch(string Epoch, long Sequence, bool Reset, IReadOnlyList<string> Arns);
