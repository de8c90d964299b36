namespace Coffer.Core.Secrets;

/// <summary>
/// An in-process feed of committed secret changes (a new version, a label move, a deletion, …), so that a
/// caching agent can learn of a rotation within seconds instead of waiting for its TTL. Each change gets a
/// sequence number; readers ask for everything after the last number they saw and may wait for the next one.
/// The feed keeps the most recent <see cref="Capacity"/> changes; a reader that fell further behind is told to
/// refresh everything (<see cref="ChangeBatch.Reset"/>). Sequence numbers restart with the process, and the
/// feed's <see cref="Epoch"/> changes with them, so a reader that sees a new epoch also refreshes everything.
/// A committed IAM change (<see cref="PublishIamChange"/>) may change whether any caller may read any secret, so it
/// too is a change of every secret: its batch has <see cref="ChangeBatch.Reset"/> set, which readers that predate
/// <see cref="ChangeBatch.IamChanged"/> already treat as "refresh everything".
/// </summary>
public sealed class SecretChangeFeed(int capacity = 4096)
{
    private readonly object _gate = new();
    // A null ARN is an IAM change: every secret.
    private readonly (long Seq, string? Arn)[] _ring = new (long, string?)[capacity];
    private long _last;
    private TaskCompletionSource _next = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public int Capacity { get; } = capacity;
    public string Epoch { get; } = Guid.NewGuid().ToString("N");

    public long LastSequence { get { lock (_gate) return _last; } }

    /// <summary>Records that the secret changed. Called after the change is durable.</summary>
    public void Publish(string arn) => Append(arn);

    /// <summary>
    /// Records that IAM changed (a policy, a group membership, a boundary, a role, an access key…), so every
    /// authorization decision a reader relied on may be different now. Called after the change is durable and
    /// visible to the evaluator, so that a reader who re-reads on hearing of it is judged by the new state.
    /// </summary>
    public void PublishIamChange() => Append(null);

    private void Append(string? arn)
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
        for (var s = since + 1; s <= _last; s++)
        {
            if (_ring[s % Capacity].Arn is not { } arn) return new ChangeBatch(Epoch, _last, Reset: true, [], IamChanged: true);
            arns.Add(arn);
        }
        return new ChangeBatch(Epoch, _last, Reset: false, [.. arns]);
    }
}

/// <summary>
/// ARNs of secrets changed after the reader's sequence, and the sequence to ask from next time. <see cref="Reset"/>:
/// every secret may have changed (drop everything); <see cref="IamChanged"/> says the cause was an IAM change, and
/// is never set without <see cref="Reset"/>.
/// </summary>
public sealed record ChangeBatch(string Epoch, long Sequence, bool Reset, IReadOnlyList<string> Arns, bool IamChanged = false);
