using System.Net;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Coffer.Core.Functions;
using Coffer.Protocol;
using Coffer.Protocol.Lambda;
using Coffer.Protocol.Query;
using Coffer.Protocol.SigV4;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;

namespace Coffer.Server;

/// <summary>
/// The `coffer server` host: Kestrel with minimal endpoints. <c>GET /health/live</c> and <c>GET /health/ready</c>
/// are the only paths outside the AWS protocol; everything else goes to <see cref="AwsJsonEndpoint"/>, which
/// answers AWS-shaped errors for anything but POST to the base path (never static files).
/// </summary>
public static class CofferServer
{
    /// <summary>Runs until SIGINT/SIGTERM. Returns the process exit code.</summary>
    public static async Task<int> RunAsync(CofferServerOptions options, TextWriter stdout, TextWriter stderr)
    {
        var errors = options.Validate();
        if (errors.Count > 0)
        {
            foreach (var e in errors) await stderr.WriteLineAsync("coffer server: " + e).ConfigureAwait(false);
            return 2;
        }

        string? devDir = null;
        if (options.Dev)
        {
            devDir = Directory.CreateTempSubdirectory("coffer-dev-").FullName;
            options.DataDir = devDir;
            options.MasterKeyFile ??= Path.Combine(devDir, "master.key");
        }
        try
        {
            return await RunCoreAsync(options, stdout, stderr).ConfigureAwait(false);
        }
        finally
        {
            if (devDir is not null)
            {
                try { Directory.Delete(devDir, recursive: true); }
                catch (IOException) { await stderr.WriteLineAsync($"coffer server: could not remove {devDir}").ConfigureAwait(false); }
            }
        }
    }

    private static async Task<int> RunCoreAsync(CofferServerOptions options, TextWriter stdout, TextWriter stderr)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [], ApplicationName = "coffer" });
        // Only the command line configures Coffer: no appsettings.json, ASPNETCORE_URLS or other ambient sources.
        builder.Configuration.Sources.Clear();
        ConfigureLogging(builder.Logging, options.LogLevel, options.LogFormat);
        CofferServerOptions.TryParseListen(options.Listen, out var endpoint, out _);
        builder.WebHost.ConfigureKestrel(kestrel => ConfigureKestrel(kestrel, endpoint!, options));
        builder.Services.Configure<HostOptions>(h => h.ShutdownTimeout = TimeSpan.FromSeconds(10));

        using var loggerFactory = LoggerFactory.Create(l => ConfigureLogging(l, options.LogLevel, options.LogFormat));
        var startLog = loggerFactory.CreateLogger("Coffer.Server");
        DataDirectory data;
        try
        {
            data = await DataDirectory.OpenAsync(options, startLog, CancellationToken.None).ConfigureAwait(false);
        }
        catch (StartupException e)
        {
            await stderr.WriteLineAsync("coffer server: " + e.Message).ConfigureAwait(false);
            return 1;
        }

        await using (data.ConfigureAwait(false))
        {
            var audit = ServerAudit.Create(options, data, loggerFactory, TimeProvider.System);
            await using var auditScope = audit.ConfigureAwait(false);
            builder.Services.AddSingleton(TimeProvider.System);
            builder.Services.AddSingleton(data.Secrets);
            builder.Services.AddSingleton(new SigV4Verifier(data.AccessKeys, TimeProvider.System));
            builder.Services.AddSingleton(sp => new QueryEndpoint(data.Iam, sp.GetRequiredService<SigV4Verifier>(),
                TimeProvider.System, sp.GetRequiredService<ILogger<QueryEndpoint>>(), audit.Trail, audit.Metrics));
            // Functions (docs/functions.md): the runner is the IFunctionRunner of Lambda Invoke and of rotation.
            using var functions = ServerFunctions.Create(options, data, loggerFactory, data.Functions);
            if (functions is not null)
            {
                builder.Services.AddSingleton<IFunctionRunner>(functions.Runner);
                builder.Services.AddSingleton<IFunctionDirectory>(functions.Directory);
            }
            builder.Services.AddHostedService(sp => RotationHost.Create(data.Secrets, options.Rotation, TimeProvider.System,
                sp.GetRequiredService<ILoggerFactory>(), audit.Trail, functions?.Rotations));
            builder.Services.AddSingleton(sp => new AwsJsonEndpoint(
                new AwsJsonServices { Secrets = data.Secrets, Audit = audit.Trail, AuditReader = audit.Reader, Metrics = audit.Metrics },
                sp.GetRequiredService<SigV4Verifier>(), TimeProvider.System, sp.GetRequiredService<ILogger<AwsJsonEndpoint>>(), options.BasePath));
            builder.Services.AddSingleton(sp => new ChangeFeedEndpoint(data.Secrets.Changes, sp.GetRequiredService<SigV4Verifier>(),
                TimeProvider.System, sp.GetRequiredService<ILogger<ChangeFeedEndpoint>>(),
                sp.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping, data.Secrets));
            builder.Services.AddSingleton(sp => new LambdaEndpoint(data.Functions, sp.GetRequiredService<SigV4Verifier>(), TimeProvider.System,
                sp.GetRequiredService<ILogger<LambdaEndpoint>>(), audit.Trail, audit.Metrics, options.BasePath));
            builder.Services.AddHostedService(sp => new PurgeSweeper(data.Secrets, options.PurgeInterval, TimeProvider.System,
                sp.GetRequiredService<ILogger<PurgeSweeper>>()));

            var app = builder.Build();
            var aws = app.Services.GetRequiredService<AwsJsonEndpoint>();
            var query = app.Services.GetRequiredService<QueryEndpoint>();
            var lambda = app.Services.GetRequiredService<LambdaEndpoint>();
            app.UseRouting();
            // Routed requests (the health checks) go on to their endpoints; everything else is the AWS protocol.
            // Lambda (REST-JSON under /2015-03-31/functions, docs/functions.md) goes to the Lambda endpoint;
            // IAM and STS (AWS Query protocol: form-encoded POST without X-Amz-Target) go to the Query endpoint.
            app.Use((context, next) => context.GetEndpoint() is not null ? next(context)
                : lambda.Accepts(context.Request) ? lambda.HandleAsync(context)
                : QueryEndpoint.Accepts(context.Request) ? query.HandleAsync(context) : aws.HandleAsync(context));
            // The change feed a `coffer agent` long-polls (docs/agent.md); SigV4-signed, outside the X-Amz-Target table.
            var changes = app.Services.GetRequiredService<ChangeFeedEndpoint>();
            app.MapGet(ChangeFeedEndpoint.Path, changes.HandleAsync);
            app.MapGet("/health/live", () => Results.Json(new HealthStatus("live"), HealthJsonContext.Default.HealthStatus));
            app.MapGet("/health/ready", async (CancellationToken ct) => !await data.IsReadyAsync(ct).ConfigureAwait(false)
                ? Results.Json(new HealthStatus("not-ready", "storage"), HealthJsonContext.Default.HealthStatus, statusCode: StatusCodes.Status503ServiceUnavailable)
                : !await audit.Trail.ProbeAsync().ConfigureAwait(false)
                ? Results.Json(new HealthStatus("not-ready", "audit-sink"), HealthJsonContext.Default.HealthStatus, statusCode: StatusCodes.Status503ServiceUnavailable)
                : Results.Json(new HealthStatus("ready"), HealthJsonContext.Default.HealthStatus));
            app.MapGet("/metrics", async (HttpContext http) =>
            {
                http.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
                await audit.Metrics.WriteAsync(http.Response.Body, http.RequestAborted).ConfigureAwait(false);
            });

            await app.StartAsync().ConfigureAwait(false);
            var url = PublicUrl(app, options);
            functions?.Listening(url);
            var log = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Coffer.Server");
            // Functions (docs/functions.md): the runner needs the URL above for AWS_ENDPOINT_URL. Without one (functions
            // disabled on this machine, see ServerFunctions.Create), Invoke answers "function runtime not available".
            data.Functions.Runner = functions?.Runner;
            data.Functions.BackgroundFailure = (name, e) =>
                log.LogWarning("An Event invocation of function {FunctionName} failed with {ExceptionType}.", name, e.GetType().FullName);
            log.LogInformation("Coffer serving account {AccountId} from {DataDir}{Mode}", data.AccountId, data.Path, options.Dev ? " (dev mode: removed on exit)" : "");
            if (endpoint is not null && !IPAddress.IsLoopback(endpoint.Address) && options.TlsCertFile is null)
                log.LogWarning("Serving plain HTTP on the non-loopback address {Listen} (--insecure): credentials and secrets cross the network unencrypted.", options.Listen);
            await PrintWelcomeAsync(stdout, options, data, url).ConfigureAwait(false);

            await app.WaitForShutdownAsync().ConfigureAwait(false);
            await app.DisposeAsync().ConfigureAwait(false);
        }
        return 0;
    }

    private static void ConfigureLogging(ILoggingBuilder logging, LogLevel level, string format)
    {
        logging.ClearProviders();
        logging.SetMinimumLevel(level);
        logging.AddFilter("Microsoft", level > LogLevel.Warning ? level : LogLevel.Warning);
        logging.AddFilter("Microsoft.Hosting.Lifetime", level);
        // ASP.NET Core's hosting layer opens a scope of its own with a RequestId (its connection and request count)
        // when this category is enabled: entries would carry two RequestIds, and only Coffer's is the x-amzn-RequestId
        // the client got. Coffer logs what that layer would (action, outcome, id) itself.
        logging.AddFilter("Microsoft.AspNetCore.Hosting.Diagnostics", LogLevel.None);
        // No request bodies are ever logged: the AWS endpoint logs action, code and request id only.
        if (format == "json")
        {
            // One JSON object per line; the request scope carries RequestId (docs/operations.md).
            logging.AddJsonConsole(c =>
            {
                c.IncludeScopes = true;
                c.UseUtcTimestamp = true;
                c.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ";
            });
            return;
        }
        logging.AddSimpleConsole(c =>
        {
            c.SingleLine = true;
            c.IncludeScopes = true;
            c.UseUtcTimestamp = true;
            c.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ ";
            c.ColorBehavior = LoggerColorBehavior.Disabled;
        });
    }

    private static void ConfigureKestrel(KestrelServerOptions kestrel, IPEndPoint endpoint, CofferServerOptions options)
    {
        kestrel.AddServerHeader = false;
        var limits = kestrel.Limits;
        // A backstop only: AwsJsonEndpoint refuses bodies over 256 KiB itself, with an AWS-shaped error.
        limits.MaxRequestBodySize = 1024 * 1024;
        limits.RequestHeadersTimeout = TimeSpan.FromSeconds(15);   // slow-header clients (reliability matrix L5)
        limits.KeepAliveTimeout = TimeSpan.FromSeconds(120);
        limits.MinRequestBodyDataRate = new MinDataRate(bytesPerSecond: 240, gracePeriod: TimeSpan.FromSeconds(5));
        limits.MaxRequestHeadersTotalSize = 32 * 1024;
        limits.MaxRequestHeaderCount = 100;
        limits.MaxConcurrentConnections = 10_000;
        kestrel.Listen(endpoint, listen =>
        {
            if (options.TlsCertFile is null) return;
            var certificate = X509Certificate2.CreateFromPemFile(options.TlsCertFile, options.TlsKeyFile);
            listen.UseHttps(https =>
            {
                https.ServerCertificate = certificate;
                https.SslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13;
            });
        });
    }

    private static string PublicUrl(WebApplication app, CofferServerOptions options)
    {
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault()
            ?? "http://" + options.Listen;
        // A wildcard bind is reachable on loopback; show that in the example command.
        address = address.Replace("://0.0.0.0:", "://127.0.0.1:", StringComparison.Ordinal).Replace("://[::]:", "://[::1]:", StringComparison.Ordinal);
        var basePath = options.BasePath == "/" ? "" : options.BasePath;
        return address + basePath;
    }

    private static async Task PrintWelcomeAsync(TextWriter stdout, CofferServerOptions options, DataDirectory data, string url)
    {
        await stdout.WriteLineAsync($"Coffer listening on {url}").ConfigureAwait(false);
        if (options.Dev && options.BootstrapAccessKeyId is null)
        {
            // Dev mode's well-known test/test credentials, as local AWS emulators accept.
            await stdout.WriteLineAsync($"AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test aws --endpoint-url {url} --region {options.Region} secretsmanager list-secrets").ConfigureAwait(false);
        }
        else if (File.Exists(data.CredentialsPath))
        {
            if (data.CreatedBootstrapKey)
                await stdout.WriteLineAsync($"Administrator credentials written to {data.CredentialsPath}. Try:").ConfigureAwait(false);
            await stdout.WriteLineAsync($"AWS_SHARED_CREDENTIALS_FILE={data.CredentialsPath} aws --endpoint-url {url} --region {options.Region} secretsmanager list-secrets").ConfigureAwait(false);
        }
        await stdout.FlushAsync().ConfigureAwait(false);
    }
}

internal sealed record HealthStatus(string Status, string? Reason = null);

[System.Text.Json.Serialization.JsonSourceGenerationOptions(DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull, PropertyNamingPolicy = System.Text.Json.Serialization.JsonKnownNamingPolicy.CamelCase)]
[System.Text.Json.Serialization.JsonSerializable(typeof(HealthStatus))]
internal sealed partial class HealthJsonContext : System.Text.Json.Serialization.JsonSerializerContext;
