using System.Net;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;

namespace Coffer.Server;

/// <summary>
/// Everything `coffer server` can be told (docs/configuration.md lists each option with its default and env var).
/// With nothing set, Coffer listens on 127.0.0.1:8390 and keeps its data and master key in ./coffer-data.
/// </summary>
public sealed partial class CofferServerOptions
{
    public const string DefaultListen = "127.0.0.1:8390";
    public const string DefaultDataDir = "./coffer-data";
    public const string DefaultRegion = "us-east-1";

    /// <summary>HOST:PORT; HOST is an IP address (IPv6 in brackets) or localhost. Port 0 picks a free port.</summary>
    public string Listen { get; set; } = DefaultListen;
    public string DataDir { get; set; } = DefaultDataDir;
    /// <summary>Null: <c>&lt;data-dir&gt;/master.key</c>.</summary>
    public string? MasterKeyFile { get; set; }
    /// <summary>The region shown in the printed example command; each request acts in its SigV4 scope's region.</summary>
    public string Region { get; set; } = DefaultRegion;
    /// <summary>Null: generated at first start and stored in the data directory.</summary>
    public string? AccountId { get; set; }
    /// <summary>Throwaway server: temporary data directory removed on exit, credentials test/test unless given.</summary>
    public bool Dev { get; set; }
    public string? BootstrapAccessKeyId { get; set; }
    public string? BootstrapSecretAccessKey { get; set; }
    /// <summary>Allow plain HTTP on a non-loopback address.</summary>
    public bool Insecure { get; set; }
    public string? TlsCertFile { get; set; }
    public string? TlsKeyFile { get; set; }
    /// <summary>The path clients post to, i.e. the path part of their endpoint URL.</summary>
    public string BasePath { get; set; } = "/";
    /// <summary>How often secrets whose recovery window has ended are purged.</summary>
    public TimeSpan PurgeInterval { get; set; } = TimeSpan.FromSeconds(60);
    public LogLevel LogLevel { get; set; } = LogLevel.Information;
    /// <summary>The rotation engine and built-in rotators (docs/rotation.md).</summary>
    public Coffer.Rotation.RotationOptions Rotation { get; set; } = new();
    /// <summary>"text" (one line per entry) or "json" (one JSON object per line, with the request id).</summary>
    public string LogFormat { get; set; } = "text";
    /// <summary>Audit sinks (docs/audit.md): "store", "stdout", "file:PATH". A call is served only when one takes its record.</summary>
    public List<string> AuditSinks { get; set; } = ["store"];
    /// <summary>default: records handed to the OS before the response; strict: fsync'd before the response.</summary>
    public Coffer.Core.Audit.AuditDurability AuditMode { get; set; } = Coffer.Core.Audit.AuditDurability.Default;
    /// <summary>Alerts are POSTed here (docs/operations.md); null: alerts are only logged and counted.</summary>
    public string? AlertWebhookUrl { get; set; }
    /// <summary>Key for the webhook body's HMAC-SHA256 signature (COFFER_ALERT_WEBHOOK_SECRET).</summary>
    public string? AlertWebhookSecret { get; set; }

    [GeneratedRegex("^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$", RegexOptions.CultureInvariant)]
    private static partial Regex RegionName();

    [GeneratedRegex("^[0-9]{12}$", RegexOptions.CultureInvariant)]
    private static partial Regex AccountIdPattern();

    [GeneratedRegex("^[A-Za-z0-9]{1,128}$", RegexOptions.CultureInvariant)]
    private static partial Regex AccessKeyIdPattern();

    [GeneratedRegex("^/([A-Za-z0-9._~-]+/)*([A-Za-z0-9._~-]+)?$", RegexOptions.CultureInvariant)]
    private static partial Regex BasePathPattern();

    /// <summary>Every problem with the options, as messages for the operator; empty when the options are usable.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (!TryParseListen(Listen, out var endpoint, out var listenError))
            errors.Add(listenError);
        if (string.IsNullOrWhiteSpace(DataDir))
            errors.Add("--data-dir must not be empty.");
        if (MasterKeyFile is { } k && string.IsNullOrWhiteSpace(k))
            errors.Add("--master-key-file must not be empty.");
        if (!RegionName().IsMatch(Region))
            errors.Add($"--region must be an AWS region name such as us-east-1 (got '{Region}').");
        if (AccountId is not null && !AccountIdPattern().IsMatch(AccountId))
            errors.Add("--account-id must be exactly 12 digits.");
        if ((BootstrapAccessKeyId is null) != (BootstrapSecretAccessKey is null))
            errors.Add("COFFER_BOOTSTRAP_ACCESS_KEY_ID and COFFER_BOOTSTRAP_SECRET_ACCESS_KEY must be set together.");
        if (BootstrapAccessKeyId is not null && !AccessKeyIdPattern().IsMatch(BootstrapAccessKeyId))
            errors.Add("COFFER_BOOTSTRAP_ACCESS_KEY_ID must be 1-128 letters and digits.");
        if (BootstrapSecretAccessKey is { Length: 0 or > 128 })
            errors.Add("COFFER_BOOTSTRAP_SECRET_ACCESS_KEY must be 1-128 characters.");
        if ((TlsCertFile is null) != (TlsKeyFile is null))
            errors.Add("--tls-cert and --tls-key must be given together.");
        if (TlsCertFile is not null && !File.Exists(TlsCertFile))
            errors.Add($"--tls-cert: {TlsCertFile} does not exist.");
        if (TlsKeyFile is not null && !File.Exists(TlsKeyFile))
            errors.Add($"--tls-key: {TlsKeyFile} does not exist.");
        if (endpoint is not null && !IPAddress.IsLoopback(endpoint.Address) && TlsCertFile is null && !Insecure)
            errors.Add($"--listen {Listen} is not a loopback address: give --tls-cert/--tls-key, or --insecure to serve plain HTTP anyway.");
        if (!BasePathPattern().IsMatch(BasePath))
            errors.Add("--base-path must be an absolute URL path such as / or /coffer/.");
        if (PurgeInterval < TimeSpan.FromSeconds(1) || PurgeInterval > TimeSpan.FromDays(1))
            errors.Add("--purge-interval must be between 1 second and 1 day.");
        errors.AddRange(Rotation.Validate());
        if (LogFormat is not ("text" or "json"))
            errors.Add("--log-format must be text or json.");
        if (AuditSinks.Count == 0)
            errors.Add("--audit-sink: at least one sink is required (store, stdout or file:PATH).");
        foreach (var sink in AuditSinks)
            if (sink is not ("store" or "stdout") && !(sink.StartsWith("file:", StringComparison.Ordinal) && sink.Length > 5))
                errors.Add($"--audit-sink must be store, stdout or file:PATH (got '{sink}').");
        if (AuditSinks.Distinct(StringComparer.Ordinal).Count() != AuditSinks.Count)
            errors.Add("--audit-sink: each sink may be given once.");
        if (AlertWebhookUrl is not null && (!Uri.TryCreate(AlertWebhookUrl, UriKind.Absolute, out var hook) || hook.Scheme is not ("http" or "https")))
            errors.Add("--alert-webhook must be an http(s) URL.");
        if (AlertWebhookUrl is not null && string.IsNullOrEmpty(AlertWebhookSecret))
            errors.Add("--alert-webhook needs COFFER_ALERT_WEBHOOK_SECRET (the key its bodies are signed with).");
        return errors;
    }

    public static bool TryParseListen(string value, out IPEndPoint? endpoint, out string error)
    {
        endpoint = null;
        error = $"--listen must be HOST:PORT with an IP address or localhost, e.g. {DefaultListen} (got '{value}').";
        var colon = value.LastIndexOf(':');
        if (colon <= 0) return false;
        var host = value[..colon];
        if (!int.TryParse(value.AsSpan(colon + 1), System.Globalization.NumberStyles.None, null, out var port) || port > 65535)
            return false;
        IPAddress? address;
        if (host == "localhost") address = IPAddress.Loopback;
        else if (host.StartsWith('[') && host.EndsWith(']')) { if (!IPAddress.TryParse(host[1..^1], out address) || address.AddressFamily != System.Net.Sockets.AddressFamily.InterNetworkV6) return false; }
        else if (!IPAddress.TryParse(host, out address) || address.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork) return false;
        endpoint = new IPEndPoint(address, port);
        return true;
    }

    public string ResolvedMasterKeyFile => Path.GetFullPath(MasterKeyFile ?? Path.Combine(DataDir, "master.key"));
}
