namespace Coffer.Core.Alerts;

/// <summary>
/// Something an operator should look at. Never carries a secret value: only ARNs, names, counts and AWS codes.
/// <see cref="Rule"/> names the rule (<c>denial-burst</c>, <c>read-spike</c>, <c>audit-sink-failure</c>; the
/// rotation issue adds <c>rotation-failed</c>).
/// </summary>
public sealed record Alert(
    string Rule,
    DateTimeOffset Time,
    string Summary,
    string? Principal = null,
    string? Resource = null,
    IReadOnlyDictionary<string, string>? Details = null)
{
    public string AlertId { get; init; } = Guid.NewGuid().ToString();
}

/// <summary>
/// The in-process alert stream: rules and services publish, sinks (log, metrics, webhook) subscribe. Publishing
/// never blocks and never throws; a subscriber's fault stays with that subscriber.
/// </summary>
public sealed class AlertStream
{
    private volatile Action<Alert>[] _subscribers = [];
    private readonly Lock _lock = new();

    public void Subscribe(Action<Alert> subscriber)
    {
        lock (_lock) _subscribers = [.. _subscribers, subscriber];
    }

    public void Publish(Alert alert)
    {
        foreach (var s in _subscribers)
        {
            try { s(alert); }
            catch (Exception) { /* a subscriber's fault never reaches the publisher */ }
        }
    }
}
