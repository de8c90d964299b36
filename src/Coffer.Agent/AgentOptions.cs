using System.Globalization;
using Microsoft.Extensions.Logging;

namespace Coffer.Agent;

/// <summary>
/// Everything `coffer agent` can be told (docs/agent.md). Sources, later ones winning: defaults; the Lambda
/// extension's environment variables (spec §6.5); the Secrets Manager Agent's TOML file given with
/// <c>--config</c> (spec §6.6, plus Coffer's own keys); the command line. Unknown file keys stop start-up.
/// </summary>
internal sealed class AgentOptions
{
    public const int DefaultPort = 2773;
    public const int DefaultCacheSize = 1000;
    public const int DefaultTtlSeconds = 300;
    public const int DefaultMaxStaleSeconds = 900;
    public const int DefaultMaxConn = 800;
    public const int DefaultUpstreamTimeoutMillis = 10_000;

    public static readonly IReadOnlyList<string> DefaultSsrfHeaders = ["X-Aws-Parameters-Secrets-Token", "X-Vault-Token"];
    public static readonly IReadOnlyList<string> DefaultSsrfEnvVariables = ["AWS_TOKEN", "AWS_SESSION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN"];

    public LogLevel LogLevel { get; set; } = LogLevel.Information;
    public int HttpPort { get; set; } = DefaultPort;
    public string? Region { get; set; }
    public bool CacheEnabled { get; set; } = true;
    public int CacheSize { get; set; } = DefaultCacheSize;
    public int TtlSeconds { get; set; } = DefaultTtlSeconds;
    /// <summary>How long past its TTL a value may still be served while the server cannot be reached.</summary>
    public int MaxStaleSeconds { get; set; } = DefaultMaxStaleSeconds;
    public bool IgnoreTransientErrors { get; set; } = true;
    public IReadOnlyList<string> SsrfHeaders { get; set; } = DefaultSsrfHeaders;
    public IReadOnlyList<string> SsrfEnvVariables { get; set; } = DefaultSsrfEnvVariables;
    public string PathPrefix { get; set; } = "/v1/";
    public int MaxConn { get; set; } = DefaultMaxConn;
    public string? CredentialsFilePath { get; set; }
    public string? EndpointUrl { get; set; }
    public bool ChangeFeed { get; set; } = true;
    public int UpstreamTimeoutMillis { get; set; } = DefaultUpstreamTimeoutMillis;

    /// <summary>Cache capacity in effect: 0 when caching is off.</summary>
    public int EffectiveCacheSize => CacheEnabled && TtlSeconds > 0 ? CacheSize : 0;

    /// <summary>Reads the Lambda extension's variables from <paramref name="env"/>. Returns errors.</summary>
    public List<string> ApplyEnvironment(Func<string, string?> env)
    {
        var errors = new List<string>();
        void Int(string name, int min, int max, Action<int> set)
        {
            var v = env(name);
            if (string.IsNullOrEmpty(v)) return;
            if (int.TryParse(v, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n) && n >= min && n <= max) set(n);
            else errors.Add($"{name} must be a whole number from {min} to {max}.");
        }
        var enabled = env("PARAMETERS_SECRETS_EXTENSION_CACHE_ENABLED");
        if (!string.IsNullOrEmpty(enabled))
        {
            if (bool.TryParse(enabled, out var b)) CacheEnabled = b;
            else errors.Add("PARAMETERS_SECRETS_EXTENSION_CACHE_ENABLED must be true or false.");
        }
        Int("PARAMETERS_SECRETS_EXTENSION_CACHE_SIZE", 0, 1000, n => { CacheSize = n; if (n == 0) CacheEnabled = false; });
        Int("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", 1024, 65535, n => HttpPort = n);
        Int("PARAMETERS_SECRETS_EXTENSION_MAX_CONNECTIONS", 1, 1000, _ => { }); // outbound pool size in AWS's extension; Coffer's pool grows as needed
        Int("SECRETS_MANAGER_TTL", 0, 300, n => TtlSeconds = n);
        Int("SECRETS_MANAGER_TIMEOUT_MILLIS", 0, 3_600_000, n => UpstreamTimeoutMillis = n == 0 ? DefaultUpstreamTimeoutMillis : n);
        var level = env("PARAMETERS_SECRETS_EXTENSION_LOG_LEVEL");
        if (!string.IsNullOrEmpty(level))
        {
            if (TryParseLogLevel(level, out var l)) LogLevel = l;
            else errors.Add("PARAMETERS_SECRETS_EXTENSION_LOG_LEVEL must be debug, info, warn, error or none.");
        }
        return errors;
    }

    /// <summary>Applies the keys of a TOML config file. Returns errors (unknown keys, wrong types, out of range).</summary>
    public List<string> ApplyFile(IReadOnlyDictionary<string, TomlValue> keys)
    {
        var errors = new List<string>();
        foreach (var (key, value) in keys)
        {
            try { ApplyKey(key, value); }
            catch (FormatException e) { errors.Add($"line {value.Line}: {key}: {e.Message}"); }
        }
        return errors;
    }

    private void ApplyKey(string key, TomlValue value)
    {
        switch (key)
        {
            case "log_level":
                LogLevel = TryParseLogLevel(Str(value), out var l) ? l : throw new FormatException("must be DEBUG, INFO, WARN, ERROR or NONE.");
                break;
            case "log_to_file": Bool(value); break; // accepted for compatibility; Coffer always logs to stderr
            case "validate_credentials": Bool(value); break; // accepted; Coffer checks credentials on the first upstream call
            case "http_port": HttpPort = Int(value, 1024, 65535); break;
            case "region": Region = NonEmpty(value); break;
            case "ttl_seconds": TtlSeconds = Int(value, 0, 3600); break;
            case "cache_size": CacheSize = Int(value, 1, 1000); break;
            case "ssrf_headers": SsrfHeaders = List(value); break;
            case "ssrf_env_variables": SsrfEnvVariables = List(value); break;
            case "path_prefix":
                PathPrefix = Str(value);
                // "/" alone is allowed, as in AWS's agent: then every path the router does not know names a secret.
                if (!PathPrefix.StartsWith('/')) throw new FormatException("must start with '/'.");
                if (!PathPrefix.EndsWith('/')) PathPrefix += "/";
                break;
            case "max_conn": MaxConn = Int(value, 1, 1000); break;
            case "ignore_transient_errors": IgnoreTransientErrors = Bool(value); break;
            case "credentials_file_path": CredentialsFilePath = NonEmpty(value); break;
            // Coffer's own keys.
            case "endpoint_url": EndpointUrl = NonEmpty(value); break;
            case "max_stale_seconds": MaxStaleSeconds = Int(value, 0, 86_400); break;
            case "change_feed": ChangeFeed = Bool(value); break;
            case "upstream_timeout_millis": UpstreamTimeoutMillis = Int(value, 1, 3_600_000); break;
            default: throw new FormatException("unknown configuration key.");
        }
    }

    public static bool TryParseLogLevel(string text, out LogLevel level)
    {
        switch (text.Trim().ToUpperInvariant())
        {
            case "DEBUG": level = LogLevel.Debug; return true;
            case "INFO": level = LogLevel.Information; return true;
            case "WARN": level = LogLevel.Warning; return true;
            case "ERROR": level = LogLevel.Error; return true;
            case "NONE": level = LogLevel.None; return true;
            default: level = LogLevel.None; return false;
        }
    }

    private static string Str(TomlValue v) => v.Value as string ?? throw new FormatException("must be a string.");
    private static string NonEmpty(TomlValue v) => Str(v) is { Length: > 0 } s ? s : throw new FormatException("must not be empty.");
    private static bool Bool(TomlValue v) => v.Value is bool b ? b : throw new FormatException("must be true or false.");

    // AWS's agent reads its numeric keys as strings (http_port = "2773", cache_size = '1000' and ttl_seconds = 300
    // all work there), so a quoted whole number is accepted too.
    private static int Int(TomlValue v, int min, int max) => v.Value switch
    {
        long n when n >= min && n <= max => (int)n,
        string s when long.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n >= min && n <= max => (int)n,
        _ => throw new FormatException($"must be a whole number from {min} to {max}."),
    };

    private static IReadOnlyList<string> List(TomlValue v) =>
        v.Value is List<string> { Count: > 0 } list && list.All(s => s.Length > 0) ? list : throw new FormatException("must be a non-empty list of non-empty strings.");
}
