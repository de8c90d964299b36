using Coffer.Core.Audit;
using Prometheus;

namespace Coffer.Server;

/// <summary>
/// The server's Prometheus metrics (GET /metrics, text format 0.0.4), on a registry of its own so that two
/// servers in one process do not share counters. Labels only ever carry action names, AWS error codes and sink
/// names — never anything taken from a request. Rotation and cache counters are registered here for the
/// rotation and agent issues to increment.
/// </summary>
public sealed class ServerMetrics : IRequestMetrics
{
    public CollectorRegistry Registry { get; } = Metrics.NewCustomRegistry();

    private readonly Counter _requests;
    private readonly Histogram _latency;
    private readonly Counter _auditFailures;
    private readonly Counter _auditRecords;
    private readonly Gauge _auditSinkUp;

    public ServerMetrics()
    {
        var f = Metrics.WithCustomRegistry(Registry);
        _requests = f.CreateCounter("coffer_requests_total", "AWS API calls by service, action and outcome (success or the AWS error code).",
            new CounterConfiguration { LabelNames = ["service", "action", "outcome"] });
        _latency = f.CreateHistogram("coffer_request_duration_seconds", "Time from request start to response, by service and action.",
            new HistogramConfiguration
            {
                LabelNames = ["service", "action"],
                Buckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
            });
        _auditFailures = f.CreateCounter("coffer_audit_write_failures_total", "Audit sink writes or probes that failed, by sink.",
            new CounterConfiguration { LabelNames = ["sink"] });
        _auditRecords = f.CreateCounter("coffer_audit_records_total", "Audit records taken by at least one sink.");
        _auditSinkUp = f.CreateGauge("coffer_audit_sink_up", "1 when the sink's last write or probe succeeded.",
            new GaugeConfiguration { LabelNames = ["sink"] });
        Alerts = f.CreateCounter("coffer_alerts_total", "Alerts raised, by rule.", new CounterConfiguration { LabelNames = ["rule"] });
        WebhookFailures = f.CreateCounter("coffer_alert_webhook_failures_total", "Alert deliveries that failed after all retries.");
        RotationAttempts = f.CreateCounter("coffer_rotation_attempts_total", "Rotation attempts (filled by the rotation scheduler).");
        RotationFailures = f.CreateCounter("coffer_rotation_failures_total", "Rotation attempts that failed (filled by the rotation scheduler).");
        CacheHits = f.CreateCounter("coffer_cache_hits_total", "Value cache hits (filled by the caching layer).");
        CacheMisses = f.CreateCounter("coffer_cache_misses_total", "Value cache misses (filled by the caching layer).");
    }

    public Counter Alerts { get; }
    public Counter WebhookFailures { get; }
    /// <summary>Registration points for later issues.</summary>
    public Counter RotationAttempts { get; }
    public Counter RotationFailures { get; }
    public Counter CacheHits { get; }
    public Counter CacheMisses { get; }

    public void RequestServed(string service, string action, string outcome, TimeSpan elapsed)
    {
        _requests.WithLabels(service, action, outcome).Inc();
        _latency.WithLabels(service, action).Observe(elapsed.TotalSeconds);
    }

    /// <summary>Follows the trail's sink failures and records.</summary>
    public void Watch(AuditTrail trail)
    {
        foreach (var sink in trail.Sinks) _auditSinkUp.WithLabels(sink.Name).Set(1);
        trail.SinkFailed += f =>
        {
            _auditFailures.WithLabels(f.Sink).Inc();
            _auditSinkUp.WithLabels(f.Sink).Set(0);
        };
        trail.Recorded += events =>
        {
            _auditRecords.Inc(events.Count);
            foreach (var (name, healthy) in trail.SinkStatus()) _auditSinkUp.WithLabels(name).Set(healthy ? 1 : 0);
        };
    }

    public Task WriteAsync(Stream output, CancellationToken ct) => Registry.CollectAndExportAsTextAsync(output, ct);
}
