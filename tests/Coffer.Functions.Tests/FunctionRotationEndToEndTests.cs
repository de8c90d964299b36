using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Coffer.EndToEnd.Tests.Harness;
using Coffer.Rotation.Tests;

namespace Coffer.Functions.Tests;

/// <summary>
/// Rotation through functions against a real <c>coffer server</c> process: the AWS CLI creates the execution roles
/// (IAM on the same endpoint), the functions are deployed as files into the server's data directory (the
/// <see cref="FileFunctionDirectory"/> seam, until the Lambda API deploys them), and RotateSecret runs them. The
/// database functions rotate real MariaDB and PostgreSQL users (scripts/databases.sh; skipped locally without them,
/// failing in CI).
/// </summary>
public sealed class FunctionRotationEndToEndTests(ITestOutputHelper output) : IAsyncLifetime
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

    [MariaDbFact]
    public Task A_template_shaped_python_function_rotates_a_MariaDB_user() =>
        RotatesDatabaseUserAsync(MariaDb.Instance, "mysql-single-user");

    [PostgresFact]
    public Task A_template_shaped_python_function_rotates_a_PostgreSQL_user() =>
        RotatesDatabaseUserAsync(Postgres.Instance, "postgres-single-user");

    private async Task RotatesDatabaseUserAsync(TestDatabase db, string fixture)
    {
        var user = "fn_" + _suffix;
        var password = RandomNumberGenerator.GetHexString(24, lowercase: true);
        await db.CreateUserAsync(user, password);
        var role = await RoleAsync("rot-" + fixture, RotationActions);
        var function = await DeployAsync(fixture + "-" + _suffix, fixture, role, timeout: 30);
        var arn = await CreateSecretAsync("db-" + fixture + "-" + _suffix, db.SecretJson(user, password));

        var token = await RotateAsync(arn, function);
        await WaitForAsync(arn, function, async () => await CurrentVersionAsync(arn) == token, TimeSpan.FromSeconds(90));
        // finishSecret moves the label before its process ends; the run is over when the engine records it.
        await WaitForAsync(arn, function, async () => (string?)(await RotationStatusAsync(arn))?["Status"] == "idle", TimeSpan.FromSeconds(30));

        var value = JsonNode.Parse((await _client.CallAsync("GetSecretValue", SecretsClient.Obj(("SecretId", arn)))).EnsureSuccess().Str("SecretString"))!;
        var rotated = (string)value["password"]!;
        Assert.NotEqual(password, rotated);
        Assert.True(await db.CanLoginAsync(user, rotated), "the new password logs in");
        Assert.False(await db.CanLoginAsync(user, password), "the old password no longer logs in");
        var log = FunctionLog(function);
        Assert.Contains("finishSecret: Successfully set AWSCURRENT stage", log);
        Assert.DoesNotContain(rotated, log);
        Assert.DoesNotContain(rotated, _server.OutputTail(1_000_000));
    }

    [Fact]
    public async Task A_role_without_PutSecretValue_fails_createSecret_with_AccessDenied_visibly()
    {
        var role = await RoleAsync("rot-denied", [.. RotationActions.Where(a => a != "secretsmanager:PutSecretValue")]);
        // The MySQL template fails at createSecret, before it touches any database.
        var function = await DeployAsync("denied-" + _suffix, "mysql-single-user", role, timeout: 30);
        var arn = await CreateSecretAsync("denied-" + _suffix,
            """{"engine":"mysql","host":"127.0.0.1","port":9,"username":"nobody","password":"initial-password"}""");
        var token = await RotateAsync(arn, function);

        JsonNode? status = null;
        await WaitForAsync(arn, function, async () =>
        {
            status = await RotationStatusAsync(arn);
            return status?["LastFailure"] is not null;
        }, TimeSpan.FromSeconds(60));
        var failure = status!["LastFailure"]!;
        Assert.Equal("createSecret", (string)failure["Step"]!);
        Assert.Contains("AccessDeniedException from PutSecretValue", (string)failure["Reason"]!);
        Assert.Contains($"function {function} failed: ClientError", (string)failure["Reason"]!);
        Assert.NotEqual(token, await CurrentVersionAsync(arn));
        // The function's own log holds boto3's error, naming the role session that was refused.
        Assert.Contains($"assumed-role/rot-denied-{_suffix}/{function}", FunctionLog(function));
        Assert.Contains("is not authorized to perform: secretsmanager:PutSecretValue", FunctionLog(function));

        // The audit trail has the refused call, under the function's role session, and the failed rotation.
        var denied = await AuditAsync("--event-name", "PutSecretValue", "--outcome", "denied");
        Assert.Contains(denied, e => ((string?)e["userIdentity"]?["arn"] ?? "").EndsWith($"assumed-role/rot-denied-{_suffix}/{function}", StringComparison.Ordinal));
        var failed = await AuditAsync("--event-name", "RotationFailed");
        Assert.Contains(failed, e => ((string?)e["errorMessage"] ?? "").Contains("createSecret step", StringComparison.Ordinal)
            && ((string?)e["errorMessage"] ?? "").Contains("AccessDeniedException from PutSecretValue", StringComparison.Ordinal));
    }

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
        var directory = new FileFunctionDirectory(Path.Combine(_server.DataDirectory, "functions", "deployed"), _account, _server.Region);
        await directory.DeployAsync(name, new FileFunctionSpec
        {
            Runtime = "python3.11", Handler = "lambda_function.lambda_handler", Role = role, Timeout = 20,
            Environment = new() { ["APP_SETTING"] = "on" },
        }, zip, default);
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

    [Fact]
    public async Task A_hanging_function_is_killed_at_its_timeout_and_the_rotation_is_retried()
    {
        var role = await RoleAsync("rot-hang", RotationActions);
        var function = await DeployAsync("hang-" + _suffix, "hang", role, timeout: 2);
        var arn = await CreateSecretAsync("hang-" + _suffix, """{"password":"initial"}""");
        var sw = Stopwatch.StartNew();
        await RotateAsync(arn, function);

        JsonNode? status = null;
        await WaitForAsync(arn, function, async () =>
        {
            status = await RotationStatusAsync(arn);
            return status?["LastFailure"]?["Attempt"] is { } a && (int)a >= 2;
        }, TimeSpan.FromSeconds(60));
        Assert.Contains("Sandbox.Timedout", (string)status!["LastFailure"]!["Reason"]!);
        Assert.Equal("createSecret", (string)status["LastFailure"]!["Step"]!);
        var log = FunctionLog(function);
        Assert.True(log.Split("Task timed out after 2.00 seconds").Length - 1 >= 2, log);
        // The operator's view of the same log.
        var (file, prefix) = CofferBinary.Locate();
        var (code, stdout, _) = await RunAsync(file, [.. prefix, "functions", "logs", function, "--tail", "3", "--data-dir", _server.DataDirectory], null);
        Assert.Equal(0, code);
        Assert.Equal(3, stdout.TrimEnd('\n').Split('\n').Length);
        Assert.StartsWith("REPORT RequestId: ", stdout.TrimEnd('\n').Split('\n')[^1]);
        // Each attempt was killed at 2 s: two attempts and a retry delay fit well under the engine's 30 s step timeout.
        Assert.InRange(sw.Elapsed.TotalSeconds, 4, 60);
        output.WriteLine(status.ToJsonString());
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

    private async Task<string> DeployAsync(string name, string fixture, string role, int timeout)
    {
        var directory = new FileFunctionDirectory(Path.Combine(_server.DataDirectory, "functions", "deployed"), _account, _server.Region);
        await directory.DeployAsync(name, new FileFunctionSpec
        {
            Runtime = "python3.11", Handler = "lambda_function.lambda_handler", Role = role, Timeout = timeout, MemorySize = 256,
        }, Zips.OfFixture(fixture), default);
        return name;
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

    private async Task<string?> CurrentVersionAsync(string arn)
    {
        var d = (await _client.CallAsync("DescribeSecret", SecretsClient.Obj(("SecretId", arn)))).EnsureSuccess().Json!;
        return d["VersionIdsToStages"]!.AsObject().FirstOrDefault(p => p.Value!.AsArray().Any(l => (string)l! == "AWSCURRENT")).Key;
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

    /// <summary>`coffer audit --format json` with filters: the operator's view of the trail.</summary>
    private async Task<List<JsonNode>> AuditAsync(params string[] filters)
    {
        var (file, prefix) = CofferBinary.Locate();
        var (code, stdout, stderr) = await RunAsync(file, [.. prefix, "audit", "--data-dir", _server.DataDirectory, "--format", "json", .. filters], null);
        Assert.True(code == 0, "coffer audit failed: " + stderr);
        return [.. stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonNode.Parse(l)!)];
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

/// <summary>A fact that needs MariaDB: skipped when it is missing, unless CI=true (then it runs and fails).</summary>
public sealed class MariaDbFactAttribute : FactAttribute
{
    public MariaDbFactAttribute()
    {
        if (!MariaDb.Instance.Available && !TestDatabase.InCi) Skip = "MariaDB not running (eval \"$(scripts/databases.sh start)\")";
    }
}

/// <summary>A fact that needs PostgreSQL: skipped when it is missing, unless CI=true (then it runs and fails).</summary>
public sealed class PostgresFactAttribute : FactAttribute
{
    public PostgresFactAttribute()
    {
        if (!Postgres.Instance.Available && !TestDatabase.InCi) Skip = "PostgreSQL not running (eval \"$(scripts/databases.sh start)\")";
    }
}
