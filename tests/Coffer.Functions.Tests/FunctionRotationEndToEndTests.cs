using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Coffer.EndToEnd.Tests.Harness;

namespace Coffer.Functions.Tests;

/// <summary>
/// Rotation through a function against a real <c>coffer server</c> process, deployed as a user deploys it: the AWS
/// CLI creates the execution role (IAM on the same endpoint) and the function (<c>aws lambda create-function</c>),
/// and RotateSecret runs it. This checks what the function's process sees (its environment, its role); the
/// database rotations, the AccessDenied and the timeout cases are in tests/clients/python/test_lambda_rotation.py.
/// </summary>
public sealed class FunctionRotationEndToEndTests : IAsyncLifetime
{
    private const string AwsCli = "/usr/bin/aws";
    private CofferProcess _server = null!;
    private SecretsClient _client = null!;
    private string _account = "";
    private readonly string _suffix = RandomNumberGenerator.GetHexString(6, lowercase: true);

    public async Task InitializeAsync()
    {
        var options = new CofferServerOptions { Name = "functions" };
        options.ExtraArguments.AddRange(["--rotation-tick", "1", "--rotation-retry-base", "1", "--rotation-retry-max", "2", "--rotation-max-attempts", "3"]);
        _server = await CofferProcess.StartAsync(options);
        _client = _server.CreateClient();
        try
        {
            var created = await _client.CallAsync("CreateSecret", SecretsClient.Obj(("Name", "probe-" + _suffix), ("SecretString", "x"), ("ClientRequestToken", Guid.NewGuid().ToString())));
            _account = created.EnsureSuccess().Str("ARN").Split(':')[4];
        }
        catch
        {
            // xunit does not call DisposeAsync when InitializeAsync fails: stop the server here.
            await DisposeAsync();
            throw;
        }
    }

    public async Task DisposeAsync()
    {
        _client?.Dispose();
        if (_server is not null) await _server.DisposeAsync();
    }

    private static readonly string[] RotationActions =
    [
        "secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue",
        "secretsmanager:UpdateSecretVersionStage", "secretsmanager:GetRandomPassword",
    ];

    [Fact]
    public async Task A_function_sees_only_its_environment_and_acts_as_its_role()
    {
        var role = await RoleAsync("rot-env", RotationActions);
        var zip = Zips.Of(("lambda_function.py", """
            import os, boto3
            def lambda_handler(event, context):
                print("ENVKEYS " + " ".join(sorted(os.environ)))
                print("CALLER " + boto3.client("sts").get_caller_identity()["Arn"])
                print("SECRET " + boto3.client("secretsmanager").describe_secret(SecretId=event["SecretId"])["Name"])
                print("UID %d" % os.getuid())
                raise RuntimeError("stop here")
            """));
        var name = "env-" + _suffix;
        await DeployAsync(name, zip, role, timeout: 20, "--environment", "Variables={APP_SETTING=on}");
        var arn = await CreateSecretAsync("env-" + _suffix, """{"password":"initial"}""");
        await RotateAsync(arn, name);
        await WaitForAsync(arn, name, () => Task.FromResult(FunctionLog(name).Contains("END RequestId", StringComparison.Ordinal)), TimeSpan.FromSeconds(60));

        var log = FunctionLog(name);
        var keys = log.Split('\n').First(l => l.StartsWith("ENVKEYS ", StringComparison.Ordinal))["ENVKEYS ".Length..].Split(' ');
        Assert.Contains("APP_SETTING", keys);
        Assert.Contains("AWS_SESSION_TOKEN", keys);
        // Nothing of the server's environment (the harness gives it bootstrap credentials and DOTNET_* variables).
        Assert.DoesNotContain(keys, k => k.StartsWith("COFFER_", StringComparison.Ordinal) || k.StartsWith("DOTNET_", StringComparison.Ordinal));
        Assert.DoesNotContain(_server.SecretAccessKey, log);
        Assert.Contains($"CALLER arn:aws:sts::{_account}:assumed-role/rot-env-{_suffix}/{name}", log);
        Assert.Contains("SECRET env-" + _suffix, log);
        if (Native.GetEuid() == 0) Assert.DoesNotContain("UID 0\n", log);
        Assert.Contains("RuntimeError: stop here", log);
    }

    // ---- helpers ----------------------------------------------------------------------------------------------

    private async Task<string> RoleAsync(string name, string[] actions)
    {
        name = name + "-" + _suffix;
        const string trust = """{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}""";
        var created = JsonNode.Parse(await AwsAsync("iam", "create-role", "--role-name", name, "--assume-role-policy-document", trust))!;
        var policy = new JsonObject
        {
            ["Version"] = "2012-10-17",
            ["Statement"] = new JsonArray(new JsonObject { ["Effect"] = "Allow", ["Action"] = new JsonArray([.. actions.Select(a => (JsonNode)a)]), ["Resource"] = "*" }),
        };
        await AwsAsync("iam", "put-role-policy", "--role-name", name, "--policy-name", "rotation", "--policy-document", policy.ToJsonString());
        return (string)created["Role"]!["Arn"]!;
    }

    /// <summary>`aws lambda create-function --zip-file fileb://…`, as a user deploys.</summary>
    private async Task DeployAsync(string name, byte[] zip, string role, int timeout, params string[] extra)
    {
        var path = Path.Combine(Path.GetTempPath(), $"coffer-fn-{name}.zip");
        await File.WriteAllBytesAsync(path, zip);
        try
        {
            var created = JsonNode.Parse(await AwsAsync(["lambda", "create-function", "--function-name", name, "--runtime", "python3.11",
                "--handler", "lambda_function.lambda_handler", "--role", role, "--zip-file", "fileb://" + path,
                "--timeout", timeout.ToString(System.Globalization.CultureInfo.InvariantCulture), .. extra]))!;
            Assert.Equal($"arn:aws:lambda:{_server.Region}:{_account}:function:{name}", (string?)created["FunctionArn"]);
        }
        finally
        {
            File.Delete(path);
        }
    }

    private async Task<string> CreateSecretAsync(string name, string value) =>
        (await _client.CallAsync("CreateSecret", SecretsClient.Obj(("Name", name), ("SecretString", value), ("ClientRequestToken", Guid.NewGuid().ToString())))).EnsureSuccess().Str("ARN");

    private async Task<string> RotateAsync(string arn, string function)
    {
        var token = Guid.NewGuid().ToString();
        (await _client.CallAsync("RotateSecret", SecretsClient.Obj(("SecretId", arn), ("ClientRequestToken", token),
            ("RotationLambdaARN", $"arn:aws:lambda:{_server.Region}:{_account}:function:{function}"),
            ("RotationRules", new JsonObject { ["AutomaticallyAfterDays"] = 30 })))).EnsureSuccess();
        return token;
    }

    private async Task WaitForAsync(string arn, string function, Func<Task<bool>> done, TimeSpan limit)
    {
        var sw = Stopwatch.StartNew();
        while (!await done())
        {
            if (sw.Elapsed > limit)
                Assert.Fail($"not done after {limit}: status {(await RotationStatusAsync(arn))?.ToJsonString()}\nfunction log:\n{FunctionLog(function)}\nserver:\n{_server.OutputTail()}");
            await Task.Delay(250);
        }
    }

    private string FunctionLog(string function)
    {
        var path = Path.Combine(_server.DataDirectory, "functions", "logs", function + ".log");
        return File.Exists(path) ? File.ReadAllText(path) : "";
    }

    /// <summary>`coffer rotation status ARN --data-dir DATA`, the operator's view.</summary>
    private async Task<JsonNode?> RotationStatusAsync(string arn)
    {
        var (file, prefix) = CofferBinary.Locate();
        var (code, stdout, _) = await RunAsync(file, [.. prefix, "rotation", "status", arn, "--data-dir", _server.DataDirectory], null);
        return code == 0 ? JsonNode.Parse(stdout) : null;
    }

    private async Task<string> AwsAsync(params string[] args)
    {
        var env = new Dictionary<string, string>
        {
            ["AWS_ACCESS_KEY_ID"] = _server.AccessKeyId, ["AWS_SECRET_ACCESS_KEY"] = _server.SecretAccessKey,
            ["AWS_DEFAULT_REGION"] = _server.Region, ["AWS_PAGER"] = "", ["AWS_CONFIG_FILE"] = "/dev/null", ["AWS_SHARED_CREDENTIALS_FILE"] = "/dev/null",
        };
        var (code, stdout, stderr) = await RunAsync(AwsCli, [.. args, "--endpoint-url", _server.Endpoint.ToString(), "--output", "json"], env);
        Assert.True(code == 0, $"aws {string.Join(' ', args.Take(2))} failed: {stderr}");
        return stdout;
    }

    private static async Task<(int Code, string Stdout, string Stderr)> RunAsync(string file, IEnumerable<string> args, Dictionary<string, string>? env)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        if (env is not null) foreach (var (k, v) in env) psi.Environment[k] = v;
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        return (p.ExitCode, await stdout, await stderr);
    }
}
