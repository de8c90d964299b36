using System.Threading.Channels;
using Coffer.Crypto;

namespace Coffer.Core.Audit;

public enum AuditDurability
{
    /// <summary>Each record is handed to the OS (written, not fsync'd) before the response: a process crash loses nothing.</summary>
    Default,
    /// <summary>Each record is fsync'd before the response; concurrent records share one fsync (group commit).</summary>
    Strict,
}

public sealed class AuditOptions
{
    public AuditDurability Durability { get; init; } = AuditDurability.Default;
    /// <summary>How long a call waits for a sink to take its record before it fails closed (issue 4: 5 s).</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(5);
    /// <summary>A signed checkpoint after this many records…</summary>
    public int CheckpointEvery { get; init; } = 1000;
    /// <summary>…or after this long with new records, whichever comes first (and one at shutdown).</summary>
    public TimeSpan CheckpointInterval { get; init; } = TimeSpan.FromSeconds(60);
}

/// <summary>A sink that failed to take records (alerts and metrics listen for it).</summary>
public sealed record AuditSinkFailure(string Sink, string ErrorType, DateTimeOffset Time);

/// <summary>
/// The audit trail: the one way to record a call, for every service and endpoint. Call
/// <see cref="RecordAsync"/> once per request, after the outcome is known and before the response is sent; if
/// it throws, answer InternalServiceError and send nothing else (fail closed). Mutating calls first call
/// <see cref="EnsureAvailableAsync"/>, so that a write is not applied while no sink can record it.
///
/// One writer thread takes everything queued, chains it (each record carries the previous record's hash),
/// serialises it, and hands the batch to every sink at once (group commit: one write, or one fsync in strict
/// mode, per batch). A batch counts as recorded when at least one sink took it.
/// </summary>
public sealed class AuditTrail : IAsyncDisposable
{
    private const int MaxBatch = 512;
    private readonly IReadOnlyList<IAuditSink> _sinks;
    private readonly AuditKeys _keys;
    private readonly AuditOptions _options;
    private readonly TimeProvider _time;
    private readonly Channel<Pending> _queue = Channel.CreateUnbounded<Pending>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Thread _thread;
    private readonly TaskCompletionSource _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly bool[] _sinkHealthy;
    // Records of applied writes whose batch no sink took: written first once a sink is back (see EnsureAvailableAsync).
    private readonly List<AuditEvent> _carried = [];
    private long _seq;
    private string _head;
    private long _checkpointSeq;
    private DateTimeOffset _checkpointTime;
    private long _writeFailures;
    private volatile bool _healthy = true;

    public AuditTrail(IReadOnlyList<IAuditSink> sinks, AuditKeys keys, AuditOptions options, TimeProvider time)
    {
        if (sinks.Count == 0) throw new ArgumentException("At least one audit sink is required.", nameof(sinks));
        _sinks = sinks;
        _keys = keys;
        _options = options;
        _time = time;
        _sinkHealthy = [.. sinks.Select(_ => true)];
        // Continue the longest chain any sink holds; a sink that missed records shows the gap in `audit verify`.
        var head = sinks.Select(s => s.ReadHead()).Where(h => h is not null).Select(h => h!.Value).OrderByDescending(h => h.Seq).FirstOrDefault();
        (_seq, _head) = head.Hash is null ? (0L, AuditRecord.Genesis) : (head.Seq, head.Hash);
        _checkpointSeq = _seq;
        _checkpointTime = time.GetUtcNow();
        _thread = new Thread(Loop) { IsBackground = true, Name = "coffer-audit-writer" };
        _thread.Start();
    }

    public AuditOptions Options => _options;
    public IReadOnlyList<IAuditSink> Sinks => _sinks;

    /// <summary>False after a batch no sink took, until one does again.</summary>
    public bool IsHealthy => _healthy;

    /// <summary>Sink write failures since start (a failed batch counts once per failing sink).</summary>
    public long WriteFailures => Interlocked.Read(ref _writeFailures);

    /// <summary>Raised on the writer thread after a batch was recorded (alerts watch the stream). Keep handlers cheap.</summary>
    public event Action<IReadOnlyList<AuditEvent>>? Recorded;

    /// <summary>Raised on the writer thread when a sink fails a write or a probe.</summary>
    public event Action<AuditSinkFailure>? SinkFailed;

    /// <summary>The HMAC auditors match sensitive fields with (<c>coffer audit hash</c>).</summary>
    public string Hash(string value) => _keys.Hash(value);

    /// <summary>
    /// Records one event. Completes when at least one sink took it (handed to the OS, or fsync'd in strict mode).
    /// Throws <see cref="ServiceException"/> InternalServiceError when none did within the timeout.
    /// <paramref name="applied"/>: the call changed state, so its record must not be lost even if this attempt
    /// fails: it is kept and written ahead of anything else when a sink is back.
    /// </summary>
    public Task RecordAsync(AuditEvent e, bool applied = false)
    {
        var pending = new Pending(e, applied);
        if (!_queue.Writer.TryWrite(pending)) return Task.FromException(Unavailable());
        return WaitAsync(pending.Done.Task);
    }

    /// <summary>
    /// Before a mutating call: completes when every record carried from an earlier outage is written and at
    /// least one sink passes its probe; otherwise throws InternalServiceError within the timeout, and the caller
    /// must not apply the write. (Residual window: a sink that fails between this check and the record; the
    /// record is then carried, see <see cref="RecordAsync"/>.)
    /// </summary>
    public Task EnsureAvailableAsync()
    {
        // The probe runs on the writer thread: sinks are used by one thread only, and it orders the probe after
        // any carried records.
        var pending = new Pending(null, false);
        if (!_queue.Writer.TryWrite(pending)) return Task.FromException(Unavailable());
        return WaitAsync(pending.Done.Task);
    }

    private async Task WaitAsync(Task done)
    {
        try
        {
            await done.WaitAsync(_options.Timeout, _time).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            _healthy = false;
            throw Unavailable();
        }
        catch (AuditUnavailableException)
        {
            throw Unavailable();
        }
    }

    private static ServiceException Unavailable() => new("InternalServiceError", "An internal error occurred.");

    private sealed class Pending(AuditEvent? e, bool applied)
    {
        public AuditEvent? Event { get; } = e;
        public bool Applied { get; } = applied;
        public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    private sealed class AuditUnavailableException : Exception;

    private void Loop()
    {
        var batch = new List<Pending>(MaxBatch);
        var reader = _queue.Reader;
        try
        {
            while (true)
            {
                if (!reader.TryRead(out var first))
                {
                    var waited = WaitToRead(reader);
                    if (!waited)
                    {
                        if (_carried.Count > 0) TryFlushCarried();
                        break;
                    }
                    continue;
                }
                batch.Add(first);
                while (batch.Count < MaxBatch && reader.TryRead(out var more)) batch.Add(more);
                Process(batch);
                batch.Clear();
            }
            WriteCheckpointIfDue(force: true);
        }
        finally
        {
            _exited.TrySetResult();
        }
    }

    private bool WaitToRead(ChannelReader<Pending> reader)
    {
        // A periodic wake-up writes due checkpoints in an idle trail.
        while (true)
        {
            var wait = reader.WaitToReadAsync().AsTask();
            if (wait.Wait(_options.CheckpointInterval)) return wait.Result;
            WriteCheckpointIfDue(force: false);
        }
    }

    private void Process(List<Pending> batch)
    {
        var probes = batch.Where(p => p.Event is null).ToList();
        var events = batch.Where(p => p.Event is not null).ToList();

        if (_carried.Count > 0 && !TryFlushCarried())
        {
            foreach (var p in probes) p.Done.TrySetException(new AuditUnavailableException());
            FailEvents(events);
            return;
        }

        if (probes.Count > 0)
        {
            var ok = ProbeAny();
            foreach (var p in probes)
                if (ok) p.Done.TrySetResult(); else p.Done.TrySetException(new AuditUnavailableException());
        }

        if (events.Count == 0) return;
        if (WriteEvents(events.Select(p => p.Event!).ToList()))
            foreach (var p in events) p.Done.TrySetResult();
        else
            FailEvents(events);
    }

    private void FailEvents(List<Pending> events)
    {
        foreach (var p in events)
        {
            if (p.Applied) _carried.Add(p.Event!);
            p.Done.TrySetException(new AuditUnavailableException());
        }
    }

    private bool TryFlushCarried()
    {
        if (!WriteEvents(_carried)) return false;
        _carried.Clear();
        return true;
    }

    private bool ProbeAny()
    {
        var ok = false;
        for (var i = 0; i < _sinks.Count; i++)
        {
            try
            {
                _sinks[i].Probe();
                ok = true;
            }
            catch (Exception e)
            {
                NoteFailure(i, e);
            }
        }
        return ok;
    }

    /// <summary>Chains, serialises and writes the events; on total failure the chain is rolled back.</summary>
    private bool WriteEvents(List<AuditEvent> events)
    {
        var seq = _seq;
        var head = _head;
        var records = new List<AuditRecord>(events.Count);
        foreach (var e in events)
        {
            var json = AuditJson.Serialize(e);
            seq++;
            var hash = AuditRecord.ComputeHash(head, seq, json);
            records.Add(new AuditRecord(seq, head, hash, json, e.EventTime, e.EventId, e.EventSource, e.EventName,
                e.UserIdentity.UserName, e.UserIdentity.Arn, e.UserIdentity.AccessKeyId, e.Resources.Count > 0 ? e.Resources[0].Arn : null,
                e.Outcome, e.ErrorCode, e.ReadOnly, e.SourceIPAddress));
            head = hash;
        }
        var checkpoint = CheckpointDue(seq) ? Sign(seq, head) : null;
        var durable = _options.Durability == AuditDurability.Strict;
        var taken = false;
        for (var i = 0; i < _sinks.Count; i++)
        {
            try
            {
                _sinks[i].Write(records, checkpoint, durable);
                taken = true;
                _sinkHealthy[i] = true;
            }
            catch (Exception e)
            {
                NoteFailure(i, e);
            }
        }
        if (!taken)
        {
            _healthy = false;
            return false;
        }
        _healthy = true;
        _seq = seq;
        _head = head;
        if (checkpoint is not null) { _checkpointSeq = seq; _checkpointTime = checkpoint.Time; }
        try { Recorded?.Invoke(events); }
        catch (Exception) { /* an observer's fault never fails the audit */ }
        return true;
    }

    private void NoteFailure(int sink, Exception e)
    {
        _sinkHealthy[sink] = false;
        Interlocked.Increment(ref _writeFailures);
        try { SinkFailed?.Invoke(new AuditSinkFailure(_sinks[sink].Name, e.GetType().Name, _time.GetUtcNow())); }
        catch (Exception) { /* observers never fail the audit */ }
    }

    private bool CheckpointDue(long seq) =>
        seq - _checkpointSeq >= _options.CheckpointEvery ||
        (seq > _checkpointSeq && _time.GetUtcNow() - _checkpointTime >= _options.CheckpointInterval);

    private AuditCheckpoint Sign(long seq, string hash)
    {
        var now = _time.GetUtcNow();
        now = DateTimeOffset.FromUnixTimeMilliseconds(now.ToUnixTimeMilliseconds());
        return new AuditCheckpoint(seq, hash, now, _keys.SignCheckpoint(AuditCheckpoint.Canonical(seq, hash, now)));
    }

    /// <summary>Writes a checkpoint alone (idle interval, shutdown) when records came after the last one.</summary>
    private void WriteCheckpointIfDue(bool force)
    {
        if (_seq == _checkpointSeq) return;
        if (!force && !CheckpointDue(_seq)) return;
        var checkpoint = Sign(_seq, _head);
        var any = false;
        for (var i = 0; i < _sinks.Count; i++)
        {
            try { _sinks[i].Write([], checkpoint, durable: true); any = true; }
            catch (Exception e) { NoteFailure(i, e); }
        }
        if (any) { _checkpointSeq = _seq; _checkpointTime = checkpoint.Time; }
    }

    /// <summary>Per sink: did its last write or probe succeed (for /health/ready).</summary>
    public IReadOnlyList<(string Sink, bool Healthy)> SinkStatus() =>
        [.. _sinks.Select((s, i) => (s.Name, _sinkHealthy[i]))];

    /// <summary>Probes the sinks now (readiness); true when at least one takes records.</summary>
    public async Task<bool> ProbeAsync()
    {
        try
        {
            await EnsureAvailableAsync().ConfigureAwait(false);
            return true;
        }
        catch (ServiceException)
        {
            return false;
        }
    }

    /// <summary>Writes what is queued and a final checkpoint, then closes the sinks.</summary>
    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await _exited.Task.ConfigureAwait(false);
        foreach (var s in _sinks) s.Dispose();
    }
}
