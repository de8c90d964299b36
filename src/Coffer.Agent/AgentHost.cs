using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;

namespace Coffer.Agent;

/// <summary>What the command line adds on top of the environment and the config file.</summary>
public sealed class AgentCommandLine
{
    public string? ConfigFile { get; init; }
    public string? EndpointUrl { get; init; }
    public int? Port { get; init; }
    public string? Region { get; init; }
}

/// <summary>
/// The `coffer agent` host: Kestrel on the loopback interface only, one request delegate (no routing
/// middleware on the hot path), the change-feed watcher in the background.
/// </summary>
public static class AgentHost
{
    /// <summary>Runs until SIGINT/SIGTERM. Returns the process exit code (2 for configuration errors).</summary>
    public static async Task<int> RunAsync(AgentCommandLine commandLine, TextWriter stdout, TextWriter stderr)
    {
        Func<string, string?> env = Environment.GetEnvironmentVariable;
        var (options, errors) = Configure(commandLine, env);
        if (errors.Count > 0)
        {
            foreach (var e in errors) await stderr.WriteLineAsync("coffer agent: " + e).ConfigureAwait(false);
            return 2;
        }

        SsrfToken token;
        AwsCredentials? staticCredentials = null;
        Uri endpoint;
        RoleProfile? roleProfile = null;
        string region;
        try
        {
            region = ResolveRegion(options.Region, env);
            token = SsrfToken.Resolve(options.SsrfEnvVariables, env);
            endpoint = ResolveEndpoint(options, env);
            (roleProfile, staticCredentials, var warning) = ChooseCredentials(options.CredentialsFilePath, env);
            if (warning is not null) await stderr.WriteLineAsync("coffer agent: " + warning).ConfigureAwait(false);
        }
        catch (InvalidOperationException e)
        {
            await stderr.WriteLineAsync("coffer agent: " + e.Message).ConfigureAwait(false);
            return 2;
        }
        // A role profile: the role is assumed through the server's STS before serving, and again before expiry.
        using var roleSource = roleProfile is null ? null
            : new RoleCredentialsSource(roleProfile, endpoint, region, TimeSpan.FromMilliseconds(options.UpstreamTimeoutMillis), TimeProvider.System);
        // A server not up yet (the agent started beside it) is waited for, as the renewals do; a refusal ends here.
        AwsCredentials credentials;
        for (var failures = 1; ; failures++)
        {
            try
            {
                credentials = staticCredentials ?? await roleSource!.AssumeAsync(CancellationToken.None).ConfigureAwait(false);
                break;
            }
            catch (StsUnavailableException e)
            {
                var delay = RoleCredentialsRefresher.RetryDelay(failures);
                await stderr.WriteLineAsync($"coffer agent: {e.Message} Trying again in {delay.TotalSeconds} s.").ConfigureAwait(false);
                await Task.Delay(delay).ConfigureAwait(false);
            }
            catch (InvalidOperationException e)
            {
                await stderr.WriteLineAsync("coffer agent: " + e.Message).ConfigureAwait(false);
                return 1;
            }
        }

        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [], ApplicationName = "coffer-agent" });
        builder.Configuration.Sources.Clear();
        ConfigureLogging(builder.Logging, options.LogLevel);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = 0;
            kestrel.Limits.MaxRequestHeadersTotalSize = 16 * 1024;
            // Loopback only (spec §6.2): never reachable from another host.
            kestrel.Listen(IPAddress.Loopback, options.HttpPort);
        });
        builder.Services.Configure<HostOptions>(h => h.ShutdownTimeout = TimeSpan.FromSeconds(5));

        var metrics = new AgentMetrics();
        var time = TimeProvider.System;
        var signer = new SigV4Signer(credentials, region, "secretsmanager");
        using var upstream = new UpstreamClient(endpoint, signer, TimeSpan.FromMilliseconds(options.UpstreamTimeoutMillis), time, metrics);
        var cache = new SecretCache(upstream, new CacheSettings(options.EffectiveCacheSize, TimeSpan.FromSeconds(options.TtlSeconds),
            options.IgnoreTransientErrors ? TimeSpan.FromSeconds(options.MaxStaleSeconds) : TimeSpan.Zero), time, metrics);
        builder.Services.AddSingleton(metrics);
        builder.Services.AddSingleton(cache);
        builder.Services.AddSingleton(sp => new AgentEndpoint(cache, token, options, metrics, sp.GetRequiredService<ILogger<AgentEndpoint>>()));
        if (roleSource is not null)
            builder.Services.AddHostedService(sp => new RoleCredentialsRefresher(roleSource, signer, time, sp.GetRequiredService<ILogger<RoleCredentialsRefresher>>()));
        if (options.CredentialsFilePath is { } credentialsFile)
            builder.Services.AddHostedService(sp => new CredentialsFileWatcher(credentialsFile, env, signer, time,
                sp.GetRequiredService<ILogger<CredentialsFileWatcher>>()));
        if (options.ChangeFeed && options.EffectiveCacheSize > 0)
            builder.Services.AddHostedService(sp => new ChangeFeedWatcher(upstream, cache, metrics, sp.GetRequiredService<ILogger<ChangeFeedWatcher>>()));

        var app = builder.Build();
        var handler = app.Services.GetRequiredService<AgentEndpoint>();
        app.Run(handler.HandleAsync);
        try
        {
            await app.StartAsync().ConfigureAwait(false);
        }
        catch (IOException e)
        {
            await stderr.WriteLineAsync($"coffer agent: cannot listen on 127.0.0.1:{options.HttpPort}: {e.Message}").ConfigureAwait(false);
            return 1;
        }
        var log = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Coffer.Agent");
        log.LogInformation(
            "coffer agent on http://127.0.0.1:{Port} for {Endpoint} (region {Region}, credentials {Credentials}); cache size {CacheSize}, TTL {Ttl} s, max staleness {MaxStale} s, change feed {Feed}",
            options.HttpPort, endpoint, region, credentials.ToString(), options.EffectiveCacheSize, options.TtlSeconds,
            options.IgnoreTransientErrors ? options.MaxStaleSeconds : 0, options.ChangeFeed ? "on" : "off");
        await stdout.WriteLineAsync($"coffer agent listening on http://127.0.0.1:{options.HttpPort}").ConfigureAwait(false);
        await stdout.FlushAsync().ConfigureAwait(false);

        await app.WaitForShutdownAsync().ConfigureAwait(false);
        await app.DisposeAsync().ConfigureAwait(false);
        cache.Clear();
        return 0;
    }

    /// <summary>Defaults, then the Lambda extension's variables, then the config file, then the command line.</summary>
    internal static (AgentOptions Options, List<string> Errors) Configure(AgentCommandLine commandLine, Func<string, string?> env)
    {
        var options = new AgentOptions();
        var errors = options.ApplyEnvironment(env);
        if (commandLine.ConfigFile is not null)
        {
            try
            {
                errors.AddRange(options.ApplyFile(TomlFile.Parse(File.ReadAllText(commandLine.ConfigFile)))
                    .Select(e => $"{commandLine.ConfigFile}: {e}"));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
            {
                errors.Add($"{commandLine.ConfigFile}: {e.Message}");
            }
        }
        if (commandLine.EndpointUrl is not null) options.EndpointUrl = commandLine.EndpointUrl;
        if (commandLine.Region is not null) options.Region = commandLine.Region;
        if (commandLine.Port is { } port)
        {
            if (port is < 1024 or > 65535) errors.Add("--port must be from 1024 to 65535.");
            else options.HttpPort = port;
        }
        return (options, errors);
    }

    /// <summary>
    /// The upstream credentials: a role profile, or static keys, and a warning for the log. The SDKs' order: keys
    /// in the environment, then a role profile, then the credentials file; credentials_file_path (AWS's agent)
    /// replaces all of them. AWS_PROFILE names a profile explicitly, so it wins over keys in the environment, as in
    /// the JavaScript SDK v3 and in botocore for an explicit profile (<c>--profile</c>, which the agent has not):
    /// otherwise a role profile's <c>credential_source = Environment</c> could never be used, and an agent meant
    /// to run as a least-privilege role would silently run with the wider keys it was given to assume it.
    /// </summary>
    internal static (RoleProfile? Role, AwsCredentials? Static, string? Warning) ChooseCredentials(string? credentialsFilePath, Func<string, string?> env)
    {
        if (credentialsFilePath is not null) return (null, AwsCredentials.Resolve(credentialsFilePath, env), null);
        var profile = NonEmpty(env("AWS_PROFILE"));
        var envKeys = NonEmpty(env("AWS_ACCESS_KEY_ID")) is not null && NonEmpty(env("AWS_SECRET_ACCESS_KEY")) is not null;
        var role = profile is not null || !envKeys ? RoleProfile.Find(env, TimeProvider.System) : null;
        var keys = role is null ? AwsCredentials.Resolve(null, env) : null;
        var usesEnv = role is not null ? role.UsesEnvironment : keys!.Source == "environment";
        return (role, keys, profile is not null && envKeys && !usesEnv
            ? $"AWS_PROFILE={profile} names the profile to use: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY in the environment are ignored."
            : null);
    }

    /// <summary>
    /// The signing region: <c>region</c> (config file or --region), AWS_REGION, AWS_DEFAULT_REGION, then the
    /// <c>region</c> of the profile AWS_PROFILE (or default) in the AWS config file, as the SDKs take it; else us-east-1.
    /// </summary>
    internal static string ResolveRegion(string? configured, Func<string, string?> env) =>
        configured ?? NonEmpty(env("AWS_REGION")) ?? NonEmpty(env("AWS_DEFAULT_REGION"))
        ?? NonEmpty(IniFile.Read(RoleProfile.ConfigPath(env), configFile: true)
            .GetValueOrDefault(NonEmpty(env("AWS_PROFILE")) ?? "default")?.GetValueOrDefault("region"))
        ?? "us-east-1";

    private static Uri ResolveEndpoint(AgentOptions options, Func<string, string?> env)
    {
        var text = options.EndpointUrl ?? NonEmpty(env("AWS_ENDPOINT_URL_SECRETS_MANAGER")) ?? NonEmpty(env("AWS_ENDPOINT_URL"))
            ?? throw new InvalidOperationException(
                "No server endpoint: pass --endpoint-url, set endpoint_url in the config file, or AWS_ENDPOINT_URL_SECRETS_MANAGER / AWS_ENDPOINT_URL.");
        if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
            throw new InvalidOperationException($"The endpoint {text} is not an http(s) URL.");
        return uri;
    }

    private static string? NonEmpty(string? s) => string.IsNullOrEmpty(s) ? null : s;

    private static void ConfigureLogging(ILoggingBuilder logging, LogLevel level)
    {
        logging.ClearProviders();
        logging.SetMinimumLevel(level);
        logging.AddFilter("Microsoft", level > LogLevel.Warning ? level : LogLevel.Warning);
        // While this category is enabled, ASP.NET Core's hosting layer starts an Activity and opens a logging scope
        // for every request, to correlate log entries that the agent never writes per request. That was about two
        // thirds of a cache hit's allocations (about 900 against 300 bytes), and three times the gen-0 collections
        // whose pauses make the latency tail (docs/benchmarks.md). The server turns it off too.
        logging.AddFilter("Microsoft.AspNetCore.Hosting.Diagnostics", LogLevel.None);
        // Logs name no secret id's value and no value: requests are not logged at all.
        logging.AddSimpleConsole(c =>
        {
            c.SingleLine = true;
            c.UseUtcTimestamp = true;
            c.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ ";
            c.ColorBehavior = LoggerColorBehavior.Disabled;
        });
    }
}
