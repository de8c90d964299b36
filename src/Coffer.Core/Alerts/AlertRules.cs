using Coffer.Core.Audit;

namespace Coffer.Core.Alerts;

public sealed class AlertRuleOptions
{
    /// <summary>Denied or unauthenticated calls by one principal (or claimed access key) within <see cref="DenialWindow"/>.</summary>
    public int DenialThreshold { get; init; } = 10;
    public TimeSpan DenialWindow { get; init; } = TimeSpan.FromMinutes(1);
    /// <summary>A read spike: reads of one secret in the current minute ≥ factor × its trailing per-minute rate…</summary>
    public double ReadSpikeFactor { get; init; } = 10;
    /// <summary>…and at least this many (so a quiet secret read a few times is no spike).</summary>
    public int ReadSpikeMinimum { get; init; } = 100;
    /// <summary>The trailing rate is an exponentially weighted mean over about this many minutes.</summary>
    public int TrailingMinutes { get; init; } = 60;
    /// <summary>The same rule does not fire again for the same principal, secret or sink within this time.</summary>
    public TimeSpan Cooldown { get; init; } = TimeSpan.FromMinutes(5);
}

/// <summary>
/// The built-in alert rules, fed by the audit trail (every call passes through it) and its sink failures:
/// a burst of denials for one principal, a read rate on one secret far above its trailing rate, and an audit
/// sink failure. Runs on the audit writer thread: each event costs a dictionary lookup under one lock.
/// </summary>
public sealed class AlertRules
{
    private readonly AlertStream _stream;
    private readonly AlertRuleOptions _options;
    private readonly TimeProvider _time;
    private readonly Lock _lock = new();
    private readonly Dictionary<string, Queue<DateTimeOffset>> _denials = new(StringComparer.Ordinal);
    private readonly Dictionary<string, ReadRate> _reads = new(StringComparer.Ordinal);
    private readonly Dictionary<string, DateTimeOffset> _lastFired = new(StringComparer.Ordinal);

    private sealed class ReadRate
    {
        public long Minute;
        public int Count;
        public double Trailing;
        public int MinutesSeen;
        /// <summary>This secret's key in the cooldown table, built once: during a spike every read checks it.</summary>
        public string? AlertKey;
    }

    public AlertRules(AlertStream stream, AlertRuleOptions options, TimeProvider time)
    {
        _stream = stream;
        _options = options;
        _time = time;
    }

    public void Watch(AuditTrail trail)
    {
        trail.Recorded += events => { foreach (var e in events) Observe(e); };
        trail.SinkFailed += SinkFailed;
    }

    public void SinkFailed(AuditSinkFailure failure)
    {
        if (!Due("audit-sink-failure|" + failure.Sink, failure.Time)) return;
        _stream.Publish(new Alert("audit-sink-failure", failure.Time,
            $"The audit sink {failure.Sink} failed ({failure.ErrorType}); calls fail closed while no sink takes records.",
            Resource: failure.Sink, Details: new Dictionary<string, string> { ["errorType"] = failure.ErrorType }));
    }

    public void Observe(AuditEvent e)
    {
        var now = e.EventTime;
        if (e.Outcome is AuditOutcome.Denied or AuditOutcome.Unauthenticated)
            ObserveDenial(e, now);
        else if (e.Outcome == AuditOutcome.Success && e.EventName is "GetSecretValue" or "BatchGetSecretValue")
            foreach (var r in e.Resources) ObserveRead(r.Arn, now);
        else if (e.EventName is "RotationFailed" && e.EventType == "AwsServiceEvent")
            ObserveRotationFailure(e, now);
    }

    /// <summary>Rotation (issue 5): every failed attempt is audited; one alert per secret per cooldown.</summary>
    private void ObserveRotationFailure(AuditEvent e, DateTimeOffset now)
    {
        foreach (var r in e.Resources)
        {
            if (!Due("rotation-failed|" + r.Arn, now)) continue;
            _stream.Publish(new Alert("rotation-failed", now, $"Rotation of {r.Arn} failed: {e.ErrorMessage}",
                Resource: r.Arn, Details: new Dictionary<string, string> { ["versionId"] = r.VersionId ?? "" }));
        }
    }

    private void ObserveDenial(AuditEvent e, DateTimeOffset now)
    {
        var who = e.UserIdentity.Arn ?? (e.UserIdentity.AccessKeyId is { } k ? "access-key:" + k : "anonymous");
        int count;
        lock (_lock)
        {
            if (!_denials.TryGetValue(who, out var times))
            {
                if (_denials.Count > 10_000) _denials.Clear();
                _denials[who] = times = new Queue<DateTimeOffset>();
            }
            times.Enqueue(now);
            while (times.Count > 0 && now - times.Peek() > _options.DenialWindow) times.Dequeue();
            count = times.Count;
        }
        if (count < _options.DenialThreshold || !Due("denial-burst|" + who, now)) return;
        _stream.Publish(new Alert("denial-burst", now,
            $"{count} denied or unauthenticated calls by {who} within {_options.DenialWindow.TotalSeconds:0} s.",
            Principal: who,
            Details: new Dictionary<string, string> { ["count"] = count.ToString(System.Globalization.CultureInfo.InvariantCulture), ["lastErrorCode"] = e.ErrorCode ?? "" }));
    }

    private void ObserveRead(string secret, DateTimeOffset now)
    {
        var minute = now.ToUnixTimeSeconds() / 60;
        int count;
        double trailing;
        string alertKey;
        lock (_lock)
        {
            if (!_reads.TryGetValue(secret, out var rate))
            {
                if (_reads.Count > 100_000) _reads.Clear();
                _reads[secret] = rate = new ReadRate { Minute = minute };
            }
            if (rate.Minute != minute)
            {
                // Fold finished minutes (including empty ones) into the trailing mean.
                var alpha = 2.0 / (_options.TrailingMinutes + 1);
                var elapsed = Math.Min(minute - rate.Minute, _options.TrailingMinutes * 4);
                rate.Trailing = rate.Trailing * (1 - alpha) + alpha * rate.Count;
                for (var i = 1; i < elapsed; i++) rate.Trailing *= 1 - alpha;
                rate.MinutesSeen += (int)elapsed;
                rate.Minute = minute;
                rate.Count = 0;
            }
            count = ++rate.Count;
            trailing = rate.Trailing;
            alertKey = rate.AlertKey ??= "read-spike|" + secret;
        }
        if (count < _options.ReadSpikeMinimum || count < _options.ReadSpikeFactor * trailing) return;
        if (!Due(alertKey, now)) return;
        _stream.Publish(new Alert("read-spike", now,
            $"{count} reads of {secret} in the current minute, against a trailing rate of {trailing:0.0} per minute.",
            Resource: secret,
            Details: new Dictionary<string, string>
            {
                ["readsThisMinute"] = count.ToString(System.Globalization.CultureInfo.InvariantCulture),
                ["trailingPerMinute"] = trailing.ToString("0.0", System.Globalization.CultureInfo.InvariantCulture),
            }));
    }

    private bool Due(string key, DateTimeOffset now)
    {
        lock (_lock)
        {
            if (_lastFired.TryGetValue(key, out var last) && now - last < _options.Cooldown) return false;
            if (_lastFired.Count > 10_000) _lastFired.Clear();
            _lastFired[key] = now;
            return true;
        }
    }
}
