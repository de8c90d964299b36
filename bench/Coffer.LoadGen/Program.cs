using System.Globalization;
using System.Text.Json;
using Coffer.LoadGen;

LoadOptions options;
try
{
    options = LoadOptions.Parse(args);
}
catch (UsageException ex)
{
    if (ex.Detail is not null)
    {
        Console.Error.WriteLine("error: " + ex.Detail);
    }
    Console.Error.WriteLine(LoadOptions.Usage);
    return 2;
}

switch (options.Mode)
{
    case "signer-check":
        return SignerCheck.Run(options, Console.Out);
    case "raw":
    case "get-secret-value":
    case "agent-get":
    case "put-secret-value":
    case "setup":
        return await Modes.RunAsync(options);
    default:
        Console.Error.WriteLine($"error: unknown mode '{options.Mode}'");
        Console.Error.WriteLine(LoadOptions.Usage);
        return 2;
}

internal static class Modes
{
    public static async Task<int> RunAsync(LoadOptions o)
    {
        using HttpClient client = LoadRunner.CreateClient(o.Connections);
        var runner = new LoadRunner(client, o.Connections);
        var requests = new SecretsManagerRequests(o);
        RunResult result;

        switch (o.Mode)
        {
            case "setup":
            {
                result = await runner.RunCountAsync(o.Secrets, i =>
                {
                    string name = SecretsManagerRequests.SecretName(o.Prefix, i);
                    return requests.Create("CreateSecret",
                        SecretsManagerRequests.CreateSecretBody(name, SecretsManagerRequests.Value(o.ValueSize, i)));
                });
                // Re-running setup on the same server is fine: existing secrets are kept.
                result.ErrorsByType.Remove("400 ResourceExistsException", out long existing);
                result = result with { Errors = result.Errors - existing };
                Report(o, result, $"created {result.Requests - result.Errors - existing}, already there {existing}");
                return result.Errors == 0 ? 0 : 1;
            }
            case "get-secret-value":
            case "raw" when o.Sign:
            {
                // One body per secret, hashed once: only the date and the signature change per request.
                var bodies = new (byte[] Body, string Hash)[o.Secrets];
                for (int i = 0; i < bodies.Length; i++)
                {
                    byte[] body = SecretsManagerRequests.GetSecretValueBody(SecretsManagerRequests.SecretName(o.Prefix, i));
                    bodies[i] = (body, SigV4Signer.HashHex(body));
                }
                int counter = -1;
                result = await runner.RunAsync(_ =>
                {
                    var (body, hash) = bodies[(int)((uint)Interlocked.Increment(ref counter) % (uint)bodies.Length)];
                    return requests.Create("GetSecretValue", body, hash);
                }, o.WarmupSeconds, o.DurationSeconds, o.ServerPids);
                break;
            }
            case "agent-get":
            {
                // The agent's cache-hit path: the same plain GET the Lambda extension's users send.
                string token = o.Token ?? Environment.GetEnvironmentVariable("AWS_TOKEN")
                    ?? throw new UsageException("agent-get needs --token or $AWS_TOKEN");
                var uris = new Uri[o.Secrets];
                for (int i = 0; i < uris.Length; i++)
                {
                    uris[i] = new Uri(o.Endpoint, "/secretsmanager/get?secretId="
                        + Uri.EscapeDataString(SecretsManagerRequests.SecretName(o.Prefix, i)));
                }
                int counter = -1;
                result = await runner.RunAsync(_ =>
                {
                    var message = new HttpRequestMessage(HttpMethod.Get, uris[(int)((uint)Interlocked.Increment(ref counter) % (uint)uris.Length)])
                    {
                        Version = System.Net.HttpVersion.Version11,
                        VersionPolicy = HttpVersionPolicy.RequestVersionExact,
                    };
                    message.Headers.TryAddWithoutValidation("X-Aws-Parameters-Secrets-Token", token);
                    return message;
                }, o.WarmupSeconds, o.DurationSeconds, o.ServerPids);
                break;
            }
            case "raw":
            {
                byte[] body = """{"SecretId":"bench/get-00000"}"""u8.ToArray();
                var method = o.Method == "GET" ? HttpMethod.Get : HttpMethod.Post;
                result = await runner.RunAsync(_ =>
                {
                    var message = new HttpRequestMessage(method, o.Endpoint)
                    {
                        Version = System.Net.HttpVersion.Version11,
                        VersionPolicy = HttpVersionPolicy.RequestVersionExact,
                    };
                    if (o.Token is not null)
                    {
                        message.Headers.TryAddWithoutValidation("X-Aws-Parameters-Secrets-Token", o.Token);
                    }
                    if (method == HttpMethod.Post)
                    {
                        message.Content = new ByteArrayContent(body);
                        message.Content.Headers.TryAddWithoutValidation("Content-Type", SecretsManagerRequests.ContentType);
                    }
                    return message;
                }, o.WarmupSeconds, o.DurationSeconds, o.ServerPids);
                break;
            }
            case "put-secret-value":
            {
                // Values share a random tail; the token at the front makes each one unique.
                string tail = SecretsManagerRequests.Value(Math.Max(0, o.ValueSize - 36), o.Seed);
                int counter = -1;
                result = await runner.RunAsync(_ =>
                {
                    int n = Interlocked.Increment(ref counter);
                    string name = SecretsManagerRequests.SecretName(o.Prefix, (int)((uint)n % (uint)o.Secrets));
                    string token = Guid.NewGuid().ToString("D");
                    string value = o.ValueSize >= 36 ? token + tail : token[..o.ValueSize];
                    return requests.Create("PutSecretValue", SecretsManagerRequests.PutSecretValueBody(name, token, value));
                }, o.WarmupSeconds, o.DurationSeconds, o.ServerPids);
                break;
            }
            default:
                throw new InvalidOperationException(o.Mode);
        }

        Report(o, result, null);
        return 0;
    }

    private static void Report(LoadOptions o, RunResult r, string? note)
    {
        string label = o.Label ?? o.Mode;
        var inv = CultureInfo.InvariantCulture;
        Console.WriteLine(string.Format(inv,
            "{0}: {1} {2} connections={3} duration={4}s warmup={5}s{6}",
            label, o.Mode, o.Endpoint, o.Connections, r.Seconds, o.Mode == "setup" ? 0 : o.WarmupSeconds,
            note is null ? "" : " (" + note + ")"));
        Console.WriteLine(string.Format(inv,
            "  requests {0}  ok {1}  errors {2}  {3:F1} req/s", r.Requests, r.Ok, r.Errors, r.RequestsPerSecond));
        Console.WriteLine(string.Format(inv,
            "  latency ms  p50 {0:F3}  p90 {1:F3}  p99 {2:F3}  max {3:F3}  mean {4:F3}",
            r.LatencyMs.P50, r.LatencyMs.P90, r.LatencyMs.P99, r.LatencyMs.Max, r.LatencyMs.Mean));
        if (r.Cpu is { } cpu)
        {
            string server = cpu.ServerSeconds is double s
                ? string.Format(inv, "server {0:F2} cores ({1:F0} µs/request), ", s / r.Seconds, r.Requests == 0 ? 0 : s * 1e6 / r.Requests)
                : "";
            Console.WriteLine(string.Format(inv, "  cpu  {0}load generator {1:F2} cores ({2:F0} µs/request)",
                server, cpu.ClientSeconds / r.Seconds, r.Requests == 0 ? 0 : cpu.ClientSeconds * 1e6 / r.Requests));
        }
        foreach (var (type, count) in r.ErrorsByType)
        {
            Console.WriteLine(string.Format(inv, "  error {0}: {1}", type, count));
        }

        if (o.JsonPath is not null)
        {
            var document = new
            {
                label,
                mode = o.Mode,
                endpoint = o.Endpoint.ToString(),
                connections = o.Connections,
                warmupSeconds = o.WarmupSeconds,
                durationSeconds = r.Seconds,
                secrets = o.Secrets,
                valueSize = o.ValueSize,
                signed = o.Mode != "raw" || o.Sign,
                requests = r.Requests,
                ok = r.Ok,
                errors = r.Errors,
                requestsPerSecond = r.RequestsPerSecond,
                latencyMs = new { p50 = r.LatencyMs.P50, p90 = r.LatencyMs.P90, p99 = r.LatencyMs.P99, max = r.LatencyMs.Max, mean = r.LatencyMs.Mean },
                errorsByType = r.ErrorsByType,
                cpu = r.Cpu is null ? null : new
                {
                    serverCores = r.Cpu.ServerSeconds / r.Seconds,
                    serverMicrosecondsPerRequest = r.Requests == 0 ? null : r.Cpu.ServerSeconds * 1e6 / r.Requests,
                    loadGeneratorCores = r.Cpu.ClientSeconds / r.Seconds,
                    loadGeneratorMicrosecondsPerRequest = r.Requests == 0 ? 0 : r.Cpu.ClientSeconds * 1e6 / r.Requests,
                },
            };
            File.WriteAllText(o.JsonPath, JsonSerializer.Serialize(document, new JsonSerializerOptions { WriteIndented = true }) + "\n");
        }
    }
}
