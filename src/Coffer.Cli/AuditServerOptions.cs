using System.CommandLine;
using Coffer.Core.Audit;
using Coffer.Server;

namespace Coffer.Cli;

/// <summary>`coffer server` options for audit, logs and alerts (docs/audit.md, docs/operations.md).</summary>
internal sealed class AuditServerOptions
{
    public const string WebhookSecretVariable = "COFFER_ALERT_WEBHOOK_SECRET";

    private readonly Option<string[]> _sinks = new("--audit-sink")
    {
        Description = "Audit sink: store, stdout or file:PATH; repeat for several. A call is served only when one takes its record. Default: store.",
        AllowMultipleArgumentsPerToken = false,
    };
    private readonly Option<AuditDurability> _mode = new("--audit-mode")
    {
        Description = "Default: each record handed to the OS before the response. Strict: fsync'd before the response (group commit).",
        DefaultValueFactory = _ => AuditDurability.Default,
    };
    private readonly Option<string> _logFormat = new("--log-format")
    {
        Description = "text or json (one JSON object per line, with the request id).",
        DefaultValueFactory = _ => "text",
    };
    private readonly Option<string?> _webhook = new("--alert-webhook")
    {
        Description = $"URL alerts are POSTed to, signed with ${WebhookSecretVariable}.",
    };

    public static AuditServerOptions Create() => new();

    public void AddTo(Command command)
    {
        command.Options.Add(_sinks);
        command.Options.Add(_mode);
        command.Options.Add(_logFormat);
        command.Options.Add(_webhook);
    }

    public void Apply(ParseResult result, CofferServerOptions options)
    {
        if (result.GetValue(_sinks) is { Length: > 0 } sinks) options.AuditSinks = [.. sinks];
        options.AuditMode = result.GetValue(_mode);
        options.LogFormat = result.GetValue(_logFormat)!;
        options.AlertWebhookUrl = result.GetValue(_webhook);
        var secret = Environment.GetEnvironmentVariable(WebhookSecretVariable);
        options.AlertWebhookSecret = string.IsNullOrEmpty(secret) ? null : secret;
    }
}
