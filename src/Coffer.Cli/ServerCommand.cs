using System.CommandLine;
using Coffer.Server;
using Microsoft.Extensions.Logging;

namespace Coffer.Cli;

/// <summary>`coffer server`: every option of <see cref="CofferServerOptions"/>; docs/configuration.md describes them.</summary>
internal static class ServerCommand
{
    public const string MasterKeyFileVariable = "COFFER_MASTER_KEY_FILE";
    public const string BootstrapKeyIdVariable = "COFFER_BOOTSTRAP_ACCESS_KEY_ID";
    public const string BootstrapSecretVariable = "COFFER_BOOTSTRAP_SECRET_ACCESS_KEY";

    public static Command Create()
    {
        var listen = new Option<string>("--listen")
        {
            Description = "Address to listen on, HOST:PORT (IP address or localhost; port 0 picks a free port).",
            DefaultValueFactory = _ => CofferServerOptions.DefaultListen,
        };
        var dataDir = new Option<string>("--data-dir")
        {
            Description = "Directory holding the database (created with mode 0700).",
            DefaultValueFactory = _ => CofferServerOptions.DefaultDataDir,
        };
        var masterKeyFile = new Option<string?>("--master-key-file")
        {
            Description = $"Master key file (created with mode 0600 if missing). Default: ${MasterKeyFileVariable}, else <data-dir>/master.key.",
        };
        var region = new Option<string>("--region")
        {
            Description = "Region shown in the example command; each request acts in the region of its SigV4 scope.",
            DefaultValueFactory = _ => CofferServerOptions.DefaultRegion,
        };
        var accountId = new Option<string?>("--account-id")
        {
            Description = "12-digit account id used in ARNs. Default: generated at first start and stored.",
        };
        var dev = new Option<bool>("--dev")
        {
            Description = "Throwaway server: temporary data directory removed on exit, credentials test/test unless given.",
        };
        var insecure = new Option<bool>("--insecure")
        {
            Description = "Allow plain HTTP on a non-loopback address.",
        };
        var tlsCert = new Option<string?>("--tls-cert") { Description = "TLS certificate chain, PEM." };
        var tlsKey = new Option<string?>("--tls-key") { Description = "TLS private key, PEM." };
        var basePath = new Option<string>("--base-path")
        {
            Description = "URL path clients post to (the path of their endpoint URL).",
            DefaultValueFactory = _ => "/",
        };
        var purgeInterval = new Option<int>("--purge-interval")
        {
            Description = "Seconds between sweeps that purge secrets whose recovery window ended.",
            DefaultValueFactory = _ => 60,
        };
        var logLevel = new Option<LogLevel>("--log-level")
        {
            Description = "Trace, Debug, Information, Warning, Error or Critical.",
            DefaultValueFactory = _ => LogLevel.Information,
        };

        var rotation = RotationCommandOptions.Create();
        var ops = AuditServerOptions.Create();

        var command = new Command("server", "Run the Coffer server (AWS Secrets Manager API on an encrypted SQLite store).")
        {
            listen, dataDir, masterKeyFile, region, accountId, dev, insecure, tlsCert, tlsKey, basePath, purgeInterval, logLevel,
        };
        rotation.AddTo(command);
        ops.AddTo(command);
        command.SetAction((result, _) =>
        {
            var options = new CofferServerOptions
            {
                Listen = result.GetValue(listen)!,
                DataDir = result.GetValue(dataDir)!,
                MasterKeyFile = result.GetValue(masterKeyFile) ?? NonEmpty(Environment.GetEnvironmentVariable(MasterKeyFileVariable)),
                Region = result.GetValue(region)!,
                AccountId = result.GetValue(accountId),
                Dev = result.GetValue(dev),
                Insecure = result.GetValue(insecure),
                TlsCertFile = result.GetValue(tlsCert),
                TlsKeyFile = result.GetValue(tlsKey),
                BasePath = result.GetValue(basePath)!,
                PurgeInterval = TimeSpan.FromSeconds(result.GetValue(purgeInterval)),
                LogLevel = result.GetValue(logLevel),
                BootstrapAccessKeyId = NonEmpty(Environment.GetEnvironmentVariable(BootstrapKeyIdVariable)),
                BootstrapSecretAccessKey = NonEmpty(Environment.GetEnvironmentVariable(BootstrapSecretVariable)),
                Rotation = rotation.Read(result),
            };
            ops.Apply(result, options);
            return CofferServer.RunAsync(options, Console.Out, Console.Error);
        });
        return command;
    }

    private static string? NonEmpty(string? s) => string.IsNullOrEmpty(s) ? null : s;
}
