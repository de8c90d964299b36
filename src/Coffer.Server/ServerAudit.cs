using Coffer.Core.Alerts;
using Coffer.Core.Audit;
using Coffer.Crypto;
using Coffer.Storage.Sqlite;
using Microsoft.Extensions.Logging;

namespace Coffer.Server;

/// <summary>
/// The operations side of a running server (issue 4): audit trail and its sinks, metrics, alert stream, rules
/// and webhook. Built after the data directory is open; disposed before it (the trail's last checkpoint goes to
/// the store).
/// </summary>
internal sealed partial class ServerAudit : IAsyncDisposable
{
    private readonly AuditKeys _keys;
    private readonly AlertWebhook? _webhook;

    private ServerAudit(AuditKeys keys, AuditTrail trail, SqliteAuditSink? store, ServerMetrics metrics, AlertStream alerts, AlertWebhook? webhook)
    {
        _keys = keys;
        Trail = trail;
        Reader = store;
        Metrics = metrics;
        Alerts = alerts;
        _webhook = webhook;
    }

    public AuditTrail Trail { get; }
    /// <summary>The store sink, when configured: LookupEvents and `coffer audit` read it.</summary>
    public IAuditReader? Reader { get; }
    public ServerMetrics Metrics { get; }
    public AlertStream Alerts { get; }

    public static ServerAudit Create(CofferServerOptions options, DataDirectory data, ILoggerFactory logs, TimeProvider time)
    {
        var keys = new AuditKeys(data.MasterKey);
        var sinks = new List<IAuditSink>();
        SqliteAuditSink? store = null;
        foreach (var name in options.AuditSinks)
        {
            if (name == "store") sinks.Add(store = new SqliteAuditSink(data.Store.DatabasePath));
            else if (name == "stdout") sinks.Add(new StdoutSink());
            else sinks.Add(new JsonLinesFileSink(name["file:".Length..]));
        }
        var trail = new AuditTrail(sinks, keys, new AuditOptions { Durability = options.AuditMode }, time);
        var metrics = new ServerMetrics();
        metrics.Watch(trail);
        var alerts = new AlertStream();
        new AlertRules(alerts, new AlertRuleOptions(), time).Watch(trail);
        var log = logs.CreateLogger("Coffer.Alerts");
        alerts.Subscribe(a =>
        {
            metrics.Alerts.WithLabels(a.Rule).Inc();
            LogAlert(log, a.Rule, a.Summary, a.AlertId);
        });
        AlertWebhook? webhook = null;
        if (options.AlertWebhookUrl is { } url)
        {
            webhook = new AlertWebhook(new Uri(url), options.AlertWebhookSecret!, log, metrics, time);
            alerts.Subscribe(webhook.Enqueue);
        }
        return new ServerAudit(keys, trail, store, metrics, alerts, webhook);
    }

    public async ValueTask DisposeAsync()
    {
        await Trail.DisposeAsync().ConfigureAwait(false);
        if (_webhook is not null) await _webhook.DisposeAsync().ConfigureAwait(false);
        _keys.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Alert {Rule}: {Summary} ({AlertId})")]
    private static partial void LogAlert(ILogger log, string rule, string summary, string alertId);
}
