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
/// One writer (an async loop) takes everything queued, chains it (each record carries the previous record's hash),
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
    private readonly Task _loop;
    private readonly TaskCompletionSource _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly bool[] _sinkHealthy;
    // Records of applied writes whose batch no sink took: written first once a sink is back (see EnsureAvailableAsync).
    private readonly List<AuditEvent> _carried = [];
    // Every waiting call in arrival order, for the watchdog. The writer drops the completed ones from the front after
    // each batch, so a served call's record (and everything it references) dies young instead of waiting for the
    // watchdog's next pass: at thousands of calls a second, keeping them for a quarter of the timeout promoted them
    // all to the older GC generations. Both the writer and the watchdog peek-then-dequeue under _inflightLock.
    private readonly System.Collections.Concurrent.ConcurrentQueue<Pending> _inflight = new();
    private readonly Lock _inflightLock = new();
    private readonly ITimer _watchdog;
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
        _loop = Task.Run(LoopAsync);
        var tick = options.Timeout / 4;
        _watchdog = time.CreateTimer(_ => Watchdog(), null, tick, tick);
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
        var pending = new Pending(e, applied, _time.GetTimestamp());
        _inflight.Enqueue(pending);
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
        var pending = new Pending(null, false, _time.GetTimestamp());
        _inflight.Enqueue(pending);
        if (!_queue.Writer.TryWrite(pending)) return Task.FromException(Unavailable());
        return WaitAsync(pending.Done.Task);
    }

    private static async Task WaitAsync(Task done)
    {
        try
        {
            await done.ConfigureAwait(false);
        }
        catch (AuditUnavailableException)
        {
            throw Unavailable();
        }
    }

    /// <summary>
    /// The bounded wait, for every caller at once: one timer (a quarter of the timeout) fails the callers whose
    /// record has waited longer than the timeout, e.g. behind a sink that hangs. Cheaper than a timer per call;
    /// a call fails closed after between 1× and 1.25× the timeout.
    /// </summary>
    private void Watchdog()
    {
        var now = _time.GetTimestamp();
        lock (_inflightLock)
        {
            while (_inflight.TryPeek(out var p))
            {
                if (p.Done.Task.IsCompleted) { _inflight.TryDequeue(out _); continue; }
                if (_time.GetElapsedTime(p.Enqueued, now) < _options.Timeout) break;
                _healthy = false;
                p.Done.TrySetException(new AuditUnavailableException());
                _inflight.TryDequeue(out _);
            }
        }
        if (_seq != _checkpointSeq && _time.GetUtcNow() - _checkpointTime >= _options.CheckpointInterval)
            _queue.Writer.TryWrite(new Pending(null, false, now, tick: true));
    }

    private static ServiceException Unavailable() => new("InternalServiceError", "An internal error occurred.");

    private sealed class Pending(AuditEvent? e, bool applied, long enqueued, bool tick = false)
    {
        /// <summary>The watchdog's nudge to write a checkpoint that is due by time.</summary>
        public bool IsTick { get; } = tick;
        public AuditEvent? Event { get; } = e;
        public bool Applied { get; } = applied;
        public long Enqueued { get; } = enqueued;
        public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    private sealed class AuditUnavailableException : Exception;

    /// <summary>
    /// The writer: an async loop on the thread pool (no dedicated thread to put to sleep and wake per batch, which
    /// cost more than the batch itself when records arrive one by one). Sinks are still used by one flow at a time.
    /// </summary>
    private async Task LoopAsync()
    {
        var batch = new List<Pending>(MaxBatch);
        var reader = _queue.Reader;
        try
        {
            while (await reader.WaitToReadAsync().ConfigureAwait(false))
            {
                // Step off the thread that woke us before draining: the records of the calls running meanwhile
                // join this batch, so one SQLite transaction carries more of them (measured: +8-17 % req/s and
                // less server CPU per request; waking the writer on the caller's worker instead was much worse).
                await Task.Yield();
                while (batch.Count < MaxBatch && reader.TryRead(out var item)) batch.Add(item);
                Process(batch);
                batch.Clear();
                DropCompleted();
            }
            if (_carried.Count > 0) TryFlushCarried();
            WriteCheckpointIfDue(force: true);
        }
        finally
        {
            _exited.TrySetResult();
        }
    }

    /// <summary>Forgets the calls at the front of the in-flight queue that are answered (see <c>_inflight</c>).</summary>
    private void DropCompleted()
    {
        lock (_inflightLock)
        {
            while (_inflight.TryPeek(out var p) && p.Done.Task.IsCompleted) _inflight.TryDequeue(out _);
        }
    }

    private void Process(List<Pending> batch)
    {
        // One pass, no LINQ: this runs for every batch, and batches are a few records each under load.
        var tick = false;
        List<Pending>? probes = null;
        var events = new List<Pending>(batch.Count);
        foreach (var p in batch)
        {
            if (p.IsTick) tick = true;
            else if (p.Event is null) (probes ??= []).Add(p);
            else events.Add(p);
        }
        if (tick) WriteCheckpointIfDue(force: false);

        if (_carried.Count > 0 && !TryFlushCarried())
        {
            foreach (var p in probes ?? []) p.Done.TrySetException(new AuditUnavailableException());
            FailEvents(events);
            return;
        }

        if (probes is not null)
        {
            var ok = ProbeAny();
            foreach (var p in probes)
                if (ok) p.Done.TrySetResult(); else p.Done.TrySetException(new AuditUnavailableException());
        }

        if (events.Count == 0) return;
        var records = new List<AuditEvent>(events.Count);
        foreach (var p in events) records.Add(p.Event!);
        if (WriteEvents(records))
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
                AuditIdentity.LookupUserName(e.UserIdentity.Type, e.UserIdentity.UserName, e.UserIdentity.Arn), e.UserIdentity.Arn, e.UserIdentity.AccessKeyId, e.Resources.Count > 0 ? e.Resources[0].Arn : null,
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
        await _watchdog.DisposeAsync().ConfigureAwait(false);
        foreach (var s in _sinks) s.Dispose();
    }
}
