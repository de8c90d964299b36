using System.Globalization;

namespace Coffer.LoadGen;

/// <summary>Command-line options shared by every mode; each mode reads the ones it needs.</summary>
internal sealed class LoadOptions
{
    public required string Mode { get; init; }
    public Uri Endpoint { get; private set; } = new("http://127.0.0.1:8390/");
    public int Connections { get; private set; } = 64;
    public double DurationSeconds { get; private set; } = 20;
    public double WarmupSeconds { get; private set; } = 5;
    public string AccessKey { get; private set; } = "test";
    public string SecretKey { get; private set; } = "test";
    public string Region { get; private set; } = "us-east-1";
    public int Secrets { get; private set; } = 1000;
    public string Prefix { get; private set; } = "bench/get-";
    public int ValueSize { get; private set; } = 4096;
    public string Method { get; private set; } = "POST";
    public bool Sign { get; private set; }
    public string? JsonPath { get; private set; }
    public string? Label { get; private set; }
    public int Count { get; private set; } = 1000;
    public int Seed { get; private set; } = 20250101;
    public IReadOnlyList<int> ServerPids { get; private set; } = [];
    public string? Token { get; private set; }

    public const string Usage = """
        coffer-loadgen MODE [options]

        Modes
          raw                GET or POST to --endpoint (the raw Kestrel baseline). With --sign, sends the very
                             same signed GetSecretValue request as get-secret-value, so the client does identical work.
          get-secret-value   signed POST secretsmanager.GetSecretValue, round-robin over --secrets secrets
          put-secret-value   signed PutSecretValue, a unique ClientRequestToken and value per request
          agent-get          GET /secretsmanager/get?secretId=… from `coffer agent` (--endpoint is the agent) with
                             the X-Aws-Parameters-Secrets-Token header (--token), round-robin over --secrets secrets
          setup              CreateSecret --secrets secrets with --value-size byte values (existing ones are kept)
          signer-check       print canonical request, string to sign and Authorization for --count random
                             requests (seed --seed) as JSON lines, for bench/signer-check.py

        Options
          --endpoint URL         default http://127.0.0.1:8390/
          --connections C        closed loop: C connections and C workers (default 64)
          --duration S           measured seconds (default 20)
          --warmup S             seconds run before measuring (default 5)
          --access-key K         default test
          --secret-key K         default test
          --region R             default us-east-1
          --secrets N            number of secrets used (default 1000)
          --prefix P             secret name prefix; names are P00000, P00001, ... (default bench/get-)
          --value-size B         SecretString size for setup and put-secret-value (default 4096)
          --method GET|POST      raw mode only (default POST)
          --token T              agent-get: the SSRF token; raw: also sent as the token header, so the client
                                 does the same work in both (default $AWS_TOKEN for agent-get)
          --sign                 raw mode only, see above
          --server-pids P,Q      report the CPU these processes use while measuring (Linux /proc)
          --json FILE            also write the result as JSON to FILE
          --label TEXT           name for the result (default: the mode)
          --count N, --seed S    signer-check only (default 1000, 20250101)
        """;

    public static LoadOptions Parse(string[] args)
    {
        if (args.Length == 0 || args[0] is "-h" or "--help")
        {
            throw new UsageException(null);
        }
        var options = new LoadOptions { Mode = args[0] };
        for (int i = 1; i < args.Length; i++)
        {
            string name = args[i];
            if (name == "--sign")
            {
                options.Sign = true;
                continue;
            }
            if (i + 1 >= args.Length)
            {
                throw new UsageException($"missing value for {name}");
            }
            string value = args[++i];
            switch (name)
            {
                case "--endpoint":
                    if (!Uri.TryCreate(value, UriKind.Absolute, out var uri) || (uri.Scheme != "http" && uri.Scheme != "https"))
                    {
                        throw new UsageException($"--endpoint must be an http(s) URL, got '{value}'");
                    }
                    options.Endpoint = uri;
                    break;
                case "--connections": options.Connections = PositiveInt(name, value); break;
                case "--duration": options.DurationSeconds = PositiveDouble(name, value); break;
                case "--warmup": options.WarmupSeconds = NonNegativeDouble(name, value); break;
                case "--access-key": options.AccessKey = value; break;
                case "--secret-key": options.SecretKey = value; break;
                case "--region": options.Region = value; break;
                case "--secrets": options.Secrets = PositiveInt(name, value); break;
                case "--prefix": options.Prefix = value; break;
                case "--value-size": options.ValueSize = PositiveInt(name, value); break;
                case "--method":
                    options.Method = value.ToUpperInvariant();
                    if (options.Method is not ("GET" or "POST"))
                    {
                        throw new UsageException("--method must be GET or POST");
                    }
                    break;
                case "--json": options.JsonPath = value; break;
                case "--server-pids":
                    options.ServerPids = value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                        .Select(p => PositiveInt(name, p)).ToArray();
                    break;
                case "--label": options.Label = value; break;
                case "--token": options.Token = value; break;
                case "--count": options.Count = PositiveInt(name, value); break;
                case "--seed": options.Seed = int.Parse(value, CultureInfo.InvariantCulture); break;
                default: throw new UsageException($"unknown option {name}");
            }
        }
        return options;
    }

    private static int PositiveInt(string name, string value) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n > 0
            ? n
            : throw new UsageException($"{name} must be a positive integer, got '{value}'");

    private static double PositiveDouble(string name, string value) =>
        double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double d) && d > 0
            ? d
            : throw new UsageException($"{name} must be a positive number, got '{value}'");

    private static double NonNegativeDouble(string name, string value) =>
        double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double d) && d >= 0
            ? d
            : throw new UsageException($"{name} must be a number ≥ 0, got '{value}'");
}

internal sealed class UsageException(string? detail) : Exception(detail ?? "usage")
{
    public string? Detail { get; } = detail;
}
