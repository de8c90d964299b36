using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;
using Coffer.Core;

namespace Coffer.Functions.Tests;

/// <summary>ProcessFunctionRunner with real interpreters (Debian python3, node) and real child processes.</summary>
public sealed class RunnerTests : IAsyncLifetime
{
    private RunnerRig _rig = null!;
    private string _role = "";

    public async Task InitializeAsync()
    {
        _rig = await RunnerRig.CreateAsync(endpointUrl: "http://127.0.0.1:9/");
        _role = await _rig.RoleAsync("fn-role");
    }

    public async Task DisposeAsync() => await _rig.DisposeAsync();

    private static JsonNode Json(byte[] payload) => JsonNode.Parse(payload)!;

    [Fact]
    public async Task Python_handler_gets_the_event_and_context_and_its_prints_are_the_log()
    {
        var zip = Zips.Of(("pkg/app.py", """
            import json
            def handler(event, context):
                print("hello from", context.function_name)
                return {"echo": event["x"], "request": context.aws_request_id, "arn": context.invoked_function_arn,
                        "memory": context.memory_limit_in_mb, "left": context.get_remaining_time_in_millis(),
                        "group": context.log_group_name, "version": context.function_version}
            """), ("pkg/__init__.py", ""));
        var f = RunnerRig.Function("echo", "python3.11", "pkg.app.handler", zip, _role);
        var r = await _rig.InvokeAsync(f, """{"x": 42}""");
        Assert.Null(r.FunctionError);
        var j = Json(r.Payload);
        Assert.Equal(42, (int)j["echo"]!);
        Assert.Equal(f.Configuration.FunctionArn, (string)j["arn"]!);
        Assert.Equal("128", (string)j["memory"]!);
        Assert.Equal("/aws/lambda/echo", (string)j["group"]!);
        Assert.Equal("$LATEST", (string)j["version"]!);
        Assert.InRange((int)j["left"]!, 1, 10_000);
        Assert.Contains("hello from echo", r.LogTail);
        Assert.Contains("START RequestId: " + (string)j["request"]!, r.LogTail);
        Assert.Contains("REPORT RequestId:", r.LogTail);
        var log = File.ReadAllText(_rig.Runner.Logs.PathOf("echo"));
        Assert.Contains("hello from echo", log);
    }

    [Fact]
    public async Task Python_exception_is_Unhandled_with_Lambdas_error_object()
    {
        var zip = Zips.Of(("index.py", "def handler(event, context):\n    raise KeyError('nope')\n"));
        var r = await _rig.InvokeAsync(RunnerRig.Function("boom", "python3.12", "index.handler", zip, _role));
        Assert.Equal("Unhandled", r.FunctionError);
        var j = Json(r.Payload);
        Assert.Equal("KeyError", (string)j["errorType"]!);
        Assert.Equal("'nope'", (string)j["errorMessage"]!);
        Assert.NotNull(j["stackTrace"]);
        Assert.Contains("KeyError", r.LogTail);
    }

    [Fact]
    public async Task Python_missing_module_and_crash_are_Unhandled()
    {
        var missing = await _rig.InvokeAsync(RunnerRig.Function("nomod", "python3.11", "nothere.handler", Zips.Of(("x.py", "")), _role));
        Assert.Equal("Unhandled", missing.FunctionError);
        Assert.Equal("Runtime.ImportModuleError", (string)Json(missing.Payload)["errorType"]!);

        var crash = await _rig.InvokeAsync(RunnerRig.Function("crash", "python3.11", "index.handler",
            Zips.Of(("index.py", "import os\ndef handler(event, context):\n    os._exit(3)\n")), _role));
        Assert.Equal("Unhandled", crash.FunctionError);
        Assert.Equal("Runtime.ExitError", (string)Json(crash.Payload)["errorType"]!);
        Assert.Contains("exit status 3", (string)Json(crash.Payload)["errorMessage"]!);
    }

    [Fact]
    public async Task Debian_packages_are_importable_and_boto3_clients_default_to_coffer()
    {
        var zip = Zips.Of(("index.py", """
            import boto3, pymysql, psycopg2
            def handler(event, context):
                client = boto3.session.Session().client(service_name="secretsmanager")
                sts = boto3.client("sts")
                return {"endpoint": client.meta.endpoint_url, "region": client.meta.region_name, "sts": sts.meta.endpoint_url}
            """));
        var r = await _rig.InvokeAsync(RunnerRig.Function("deb", "python3.11", "index.handler", zip, _role,
            env: new() { ["AWS_ENDPOINT_URL_STS"] = "http://127.0.0.1:10/" }));
        Assert.True(r.FunctionError is null, Encoding.UTF8.GetString(r.Payload) + r.LogTail);
        var j = Json(r.Payload);
        Assert.Equal("http://127.0.0.1:9/", (string)j["endpoint"]!);
        Assert.Equal("us-east-1", (string)j["region"]!);
        Assert.Equal("http://127.0.0.1:10/", (string)j["sts"]!);   // a service-specific endpoint wins
    }

    [Fact]
    public async Task Environment_is_built_from_nothing_and_holds_the_roles_credentials()
    {
        Environment.SetEnvironmentVariable("COFFER_TEST_SERVER_ONLY", "server-private");
        var zip = Zips.Of(("index.py", "import os\ndef handler(event, context):\n    return {'env': dict(os.environ), 'uid': os.getuid(), 'cwd': os.getcwd()}\n"));
        var f = RunnerRig.Function("envy", "python3.11", "index.handler", zip, _role, env: new() { ["APP_MODE"] = "blue" });
        var r = await _rig.InvokeAsync(f);
        Assert.Null(r.FunctionError);
        var j = Json(r.Payload);
        var env = j["env"]!.AsObject().ToDictionary(p => p.Key, p => (string)p.Value!);
        string[] allowed =
        [
            "APP_MODE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_VERSION",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME", "LAMBDA_TASK_ROOT",
            "LAMBDA_RUNTIME_DIR", "_HANDLER", "AWS_EXECUTION_ENV", "TZ", "LANG", "PATH", "HOME", "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SECRETS_MANAGER", "SECRETS_MANAGER_ENDPOINT",
            "LC_CTYPE", // python sets it itself under the C.UTF-8 locale
        ];
        Assert.Empty(env.Keys.Except(allowed));
        Assert.Equal("blue", env["APP_MODE"]);
        Assert.Equal("/usr/local/bin:/usr/bin:/bin", env["PATH"]);
        Assert.Equal((string)j["cwd"]!, env["HOME"]);
        Assert.Equal("http://127.0.0.1:9/", env["SECRETS_MANAGER_ENDPOINT"]);
        Assert.Equal("us-east-1", env["AWS_REGION"]);   // the region of the function's ARN
        Assert.DoesNotContain("server-private", Encoding.UTF8.GetString(r.Payload));
        if (Coffer.Functions.Native.GetEuid() == 0) Assert.NotEqual(0, (int)j["uid"]!);

        // The credentials are a session of the execution role, named after the function.
        var claims = _rig.Sessions.Open(env["AWS_ACCESS_KEY_ID"], env["AWS_SESSION_TOKEN"]);
        Assert.NotNull(claims);
        Assert.Equal(_role, claims!.RoleArn);
        Assert.Equal($"arn:aws:sts::{RunnerRig.Account}:assumed-role/fn-role/envy", claims.Arn);
        Assert.Equal(env["AWS_SECRET_ACCESS_KEY"], claims.SecretAccessKey);
        // The working directory is gone after the invocation.
        Assert.False(Directory.Exists((string)j["cwd"]!));
    }

    [Fact]
    public async Task A_role_that_does_not_trust_lambda_cannot_be_used()
    {
        var role = await _rig.RoleAsync("not-for-lambda",
            $$"""{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"{{RunnerRig.Account}}"},"Action":"sts:AssumeRole"}]}""");
        var f = RunnerRig.Function("untrusted", "python3.11", "index.handler", Zips.Of(("index.py", "def handler(e, c):\n    return 1\n")), role);
        var e = await Assert.ThrowsAsync<ServiceException>(() => _rig.InvokeAsync(f));
        Assert.Equal("AccessDeniedException", e.Code);
        Assert.Contains("lambda.amazonaws.com", e.Message);
        var missing = RunnerRig.Function("norole", "python3.11", "index.handler", Zips.Of(("index.py", "")), $"arn:aws:iam::{RunnerRig.Account}:role/none");
        Assert.Equal("AccessDeniedException", (await Assert.ThrowsAsync<ServiceException>(() => _rig.InvokeAsync(missing))).Code);
    }

    [Fact]
    public async Task Timeout_kills_the_whole_process_tree()
    {
        var marker = Path.Combine(Path.GetTempPath(), "coffer-fn-grandchild-" + Guid.NewGuid().ToString("N"));
        var zip = Zips.Of(("index.py", $$"""
            import subprocess, time
            def handler(event, context):
                p = subprocess.Popen(["/bin/sh", "-c", "sleep 3; echo alive > {{marker}}"])
                print("child", p.pid, flush=True)
                time.sleep(60)
            """));
        var sw = Stopwatch.StartNew();
        var r = await _rig.InvokeAsync(RunnerRig.Function("sleepy", "python3.11", "index.handler", zip, _role, timeout: 1));
        sw.Stop();
        Assert.Equal("Unhandled", r.FunctionError);
        var j = Json(r.Payload);
        Assert.Equal("Sandbox.Timedout", (string)j["errorType"]!);
        Assert.EndsWith("Task timed out after 1.00 seconds", (string)j["errorMessage"]!);
        Assert.InRange(sw.Elapsed.TotalSeconds, 0.9, 15);
        Assert.Contains("Task timed out after 1.00 seconds", r.LogTail);
        await Task.Delay(TimeSpan.FromSeconds(3.5));   // the grandchild would have written by now
        Assert.False(File.Exists(marker));
    }

    [Fact]
    public async Task MemorySize_is_enforced_for_python()
    {
        var zip = Zips.Of(("index.py", "def handler(event, context):\n    b = bytearray(1500 * 1024 * 1024)\n    return len(b)\n"));
        var r = await _rig.InvokeAsync(RunnerRig.Function("hog", "python3.11", "index.handler", zip, _role, memory: 128));
        Assert.Equal("Unhandled", r.FunctionError);
        Assert.Equal("MemoryError", (string)Json(r.Payload)["errorType"]!);
    }

    [Fact]
    public async Task Node_async_and_callback_handlers()
    {
        var zip = Zips.Of(
            ("index.js", "exports.handler = async (event, context) => { console.log('node says hi'); return { twice: event.n * 2, fn: context.functionName, left: context.getRemainingTimeInMillis() > 0 }; };"),
            ("cb.js", "exports.handler = (event, context, callback) => { setTimeout(() => callback(null, { got: event.n }), 10); };"),
            ("bad.js", "exports.handler = async () => { throw new TypeError('broken'); };"));
        var r = await _rig.InvokeAsync(RunnerRig.Function("nodefn", "nodejs20.x", "index.handler", zip, _role), """{"n": 21}""");
        Assert.True(r.FunctionError is null, Encoding.UTF8.GetString(r.Payload) + r.LogTail);
        Assert.Equal(42, (int)Json(r.Payload)["twice"]!);
        Assert.Equal("nodefn", (string)Json(r.Payload)["fn"]!);
        Assert.Contains("node says hi", r.LogTail);

        var cb = await _rig.InvokeAsync(RunnerRig.Function("nodecb", "nodejs18.x", "cb.handler", zip, _role), """{"n": 7}""");
        Assert.Null(cb.FunctionError);
        Assert.Equal(7, (int)Json(cb.Payload)["got"]!);

        var bad = await _rig.InvokeAsync(RunnerRig.Function("nodebad", "nodejs20.x", "bad.handler", zip, _role));
        Assert.Equal("Unhandled", bad.FunctionError);
        Assert.Equal("TypeError", (string)Json(bad.Payload)["errorType"]!);
        Assert.Equal("broken", (string)Json(bad.Payload)["errorMessage"]!);
    }

    [Fact]
    public async Task Provided_bootstrap_reads_stdin_and_answers_on_stdout()
    {
        var zip = Zips.Of(("bootstrap", "#!/bin/sh\nread -r event\necho \"log line\" >&2\nprintf '{\"got\":%s}' \"$event\"\n"));
        var r = await _rig.InvokeAsync(RunnerRig.Function("shfn", "provided.al2023", "unused", zip, _role), """{"a":1}""");
        Assert.True(r.FunctionError is null, Encoding.UTF8.GetString(r.Payload) + r.LogTail);
        Assert.Equal(1, (int)Json(r.Payload)["got"]!["a"]!);
        Assert.Contains("log line", r.LogTail);

        // File modes come from the zip: an executable helper next to the bootstrap stays executable.
        var withHelper = Zips.Build(("bootstrap", "#!/bin/sh\nexec \"$LAMBDA_TASK_ROOT/bin/helper\"\n", 0b111_101_101),
            ("bin/helper", "#!/bin/sh\nprintf '\"helped\"'\n", 0b111_101_101));
        var h = await _rig.InvokeAsync(RunnerRig.Function("helper", "provided.al2", "unused", withHelper, _role));
        Assert.True(h.FunctionError is null, Encoding.UTF8.GetString(h.Payload) + h.LogTail);
        Assert.Equal("\"helped\"", Encoding.UTF8.GetString(h.Payload));

        var failing = Zips.Of(("bootstrap", "#!/bin/sh\necho 'going down' >&2\nexit 2\n"));
        var f = await _rig.InvokeAsync(RunnerRig.Function("shfail", "provided", "unused", failing, _role));
        Assert.Equal("Unhandled", f.FunctionError);
        Assert.Contains("exit status 2", (string)Json(f.Payload)["errorMessage"]!);
    }

    [Fact]
    public async Task Unknown_runtime_and_zip_slip_are_refused()
    {
        var f = RunnerRig.Function("java", "java21", "x", Zips.Of(("a", "")), _role);
        Assert.Equal("InvalidRuntimeException", (await Assert.ThrowsAsync<ServiceException>(() => _rig.InvokeAsync(f))).Code);
        var slip = RunnerRig.Function("slip", "python3.11", "index.handler", Zips.Of(("../../evil.py", "x = 1")), _role);
        Assert.Equal("InvalidZipFileException", (await Assert.ThrowsAsync<ServiceException>(() => _rig.InvokeAsync(slip))).Code);
        var link = Zips.Build(("index.py", "x = 1", 0b110_100_100), ("passwd", "/etc/passwd", 0xA000 | 0b111_111_111));
        var linked = RunnerRig.Function("link", "python3.11", "index.handler", link, _role);
        Assert.Equal("InvalidZipFileException", (await Assert.ThrowsAsync<ServiceException>(() => _rig.InvokeAsync(linked))).Code);
        var notZip = new Coffer.Core.Functions.StoredFunction(f.Configuration with { Runtime = "python3.11", FunctionName = "nz" }, "not a zip"u8.ToArray());
        Assert.Equal("InvalidZipFileException", (await Assert.ThrowsAsync<ServiceException>(() => _rig.InvokeAsync(notZip))).Code);
    }

    [Fact]
    public async Task Code_is_unpacked_once_per_version()
    {
        var zip = Zips.Of(("index.py", "def handler(e, c):\n    return 'v1'\n"));
        var f = RunnerRig.Function("cached", "python3.11", "index.handler", zip, _role);
        await _rig.InvokeAsync(f);
        await _rig.InvokeAsync(f);
        Assert.Single(Directory.GetDirectories(_rig.Runner.CodeRoot), d => !Path.GetFileName(d).StartsWith('.'));
        var v2 = RunnerRig.Function("cached", "python3.11", "index.handler", Zips.Of(("index.py", "def handler(e, c):\n    return 'v2'\n")), _role);
        Assert.Equal("\"v2\"", Encoding.UTF8.GetString((await _rig.InvokeAsync(v2)).Payload));
    }

    [Fact]
    public async Task Node_heap_is_limited_by_MemorySize()
    {
        var zip = Zips.Of(("index.js", "exports.handler = async () => { const a = []; for (;;) a.push(new Array(1e6).fill(1.5)); };"));
        var r = await _rig.InvokeAsync(RunnerRig.Function("nodehog", "nodejs20.x", "index.handler", zip, _role, memory: 128, timeout: 30));
        Assert.Equal("Unhandled", r.FunctionError);
        Assert.Equal("Runtime.ExitError", (string)Json(r.Payload)["errorType"]!);
        Assert.Contains("heap", r.LogTail, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task Concurrent_invocations_of_one_version_each_get_their_own_directory()
    {
        var zip = Zips.Of(("index.py", """
            import os
            def handler(event, context):
                with open("mine.txt", "w") as f:
                    f.write(context.aws_request_id)
                return {"cwd": os.getcwd(), "n": event["n"], "mine": open("mine.txt").read() == context.aws_request_id}
            """));
        var f = RunnerRig.Function("parallel", "python3.11", "index.handler", zip, _role);
        var results = await Task.WhenAll(Enumerable.Range(0, 6).Select(i => _rig.InvokeAsync(f, $$"""{"n": {{i}}}""")));
        Assert.All(results, r => Assert.Null(r.FunctionError));
        Assert.Equal(6, results.Select(r => (string)Json(r.Payload)["cwd"]!).Distinct().Count());
        Assert.All(results, r => Assert.True((bool)Json(r.Payload)["mine"]!));
        Assert.Equal(Enumerable.Range(0, 6), results.Select(r => (int)Json(r.Payload)["n"]!).Order());
    }

    [Fact]
    public async Task The_function_cannot_change_its_code()
    {
        if (Native.GetEuid() != 0) return;   // as the server's own user, the code directory is the function's too
        var zip = Zips.Of(("index.py", """
            import os
            def handler(event, context):
                try:
                    open(os.path.join(os.environ["LAMBDA_TASK_ROOT"], "index.py"), "a").write("# changed")
                    return "changed"
                except OSError as e:
                    return type(e).__name__
            """));
        var r = await _rig.InvokeAsync(RunnerRig.Function("ro", "python3.11", "index.handler", zip, _role));
        Assert.Equal("\"PermissionError\"", Encoding.UTF8.GetString(r.Payload));
    }

    [Fact]
    public async Task Without_a_user_to_drop_to_functions_run_as_the_servers_user_under_the_data_directory()
    {
        await using var rig = await RunnerRig.CreateAsync(runAsUser: null);
        var role = await rig.RoleAsync("same-user");
        var zip = Zips.Of(("index.py", "import os\ndef handler(e, c):\n    return [os.getuid(), os.environ['LAMBDA_TASK_ROOT']]\n"),
            ("bootstrap", "#!/bin/sh\ncat\n"));
        var r = await rig.InvokeAsync(RunnerRig.Function("same", "python3.11", "index.handler", zip, role));
        Assert.Null(r.FunctionError);
        var j = Json(r.Payload).AsArray();
        Assert.Equal((int)Native.GetEuid(), (int)j[0]!);
        Assert.StartsWith(Path.Combine(rig.Options.DataDir, "functions", "code"), (string)j[1]!);
        Assert.Null(rig.Runner.RunsAs);
        var p = await rig.InvokeAsync(RunnerRig.Function("same-provided", "provided", "x", zip, role), "[1,2]");
        Assert.Equal("[1,2]", Encoding.UTF8.GetString(p.Payload));
    }

    [Fact]
    public async Task As_root_directories_left_by_a_killed_server_are_removed_at_start()
    {
        if (Native.GetEuid() != 0) return;
        var root = Directory.CreateTempSubdirectory("coffer-fn-runroot-").FullName;
        try
        {
            File.SetUnixFileMode(root, (UnixFileMode)0b111_101_101);   // like /run: root writes, others traverse
            var parent = Path.Combine(root, "runs");
            var stale = Directory.CreateDirectory(Path.Combine(parent, "2147483646-deadbeef", "code")).Parent!.FullName;
            var live = Directory.CreateDirectory(Path.Combine(parent, $"{Environment.ProcessId}-other")).FullName;
            using var runner = new ProcessFunctionRunner(new FunctionRunnerOptions { DataDir = _rig.Options.DataDir, RunRootParent = parent }, _rig.Iam);
            Assert.False(Directory.Exists(stale));
            Assert.True(Directory.Exists(live));
            Assert.StartsWith(parent, runner.CodeRoot);
            var r = await runner.InvokeAsync(new Coffer.Core.Functions.FunctionInvocation(
                RunnerRig.Function("inrun", "python3.11", "index.handler", Zips.Of(("index.py", "def handler(e, c):\n    return 7\n")), _role),
                "{}"u8.ToArray(), "req-1"), default);
            Assert.Equal("7", Encoding.UTF8.GetString(r.Payload));
            runner.Dispose();
            Assert.Equal([live], Directory.GetDirectories(parent));
        }
        finally { Directory.Delete(root, recursive: true); }
    }

    [Fact]
    public async Task Disposing_the_runner_kills_running_invocations()
    {
        var runner = new ProcessFunctionRunner(new FunctionRunnerOptions { DataDir = _rig.Options.DataDir }, _rig.Iam);
        var zip = Zips.Of(("index.py", "import time\ndef handler(e, c):\n    print('started', flush=True)\n    time.sleep(60)\n"));
        var f = RunnerRig.Function("outlives", "python3.11", "index.handler", zip, _role, timeout: 60);
        var sw = Stopwatch.StartNew();
        var running = runner.InvokeAsync(new Coffer.Core.Functions.FunctionInvocation(f, "{}"u8.ToArray(), "req-dispose"), default);
        await Task.Delay(1500);   // the interpreter is up and sleeping
        Assert.False(running.IsCompleted);
        runner.Dispose();
        var r = await running.WaitAsync(TimeSpan.FromSeconds(15));
        Assert.Equal("Unhandled", r.FunctionError);
        Assert.InRange(sw.Elapsed.TotalSeconds, 0, 30);
    }

    [Fact]
    public async Task Invocations_beyond_the_concurrency_limit_are_refused_with_TooManyRequests()
    {
        using var runner = new ProcessFunctionRunner(new FunctionRunnerOptions { DataDir = _rig.Options.DataDir, MaxConcurrentInvocations = 1 }, _rig.Iam);
        var zip = Zips.Of(("index.py", "import time\ndef handler(e, c):\n    time.sleep(3)\n    return 'done'\n"));
        var f = RunnerRig.Function("busy", "python3.11", "index.handler", zip, _role, timeout: 30);
        var first = runner.InvokeAsync(new Coffer.Core.Functions.FunctionInvocation(f, "{}"u8.ToArray(), "req-1"), default);
        var refused = await Assert.ThrowsAsync<Coffer.Core.ServiceException>(() =>
            runner.InvokeAsync(new Coffer.Core.Functions.FunctionInvocation(f, "{}"u8.ToArray(), "req-2"), default));
        Assert.Equal("TooManyRequestsException", refused.Code);
        Assert.Null((await first).FunctionError);
        // The slot is free again once the first returned.
        Assert.Null((await runner.InvokeAsync(new Coffer.Core.Functions.FunctionInvocation(f, "{}"u8.ToArray(), "req-3"), default)).FunctionError);
    }

    [Fact]
    public void Rotation_failure_reasons_keep_codes_and_never_the_message()
    {
        var aws = FunctionRotations.Reason("fn", Encoding.UTF8.GetBytes("""{"errorType":"ClientError","errorMessage":"An error occurred (AccessDeniedException) when calling the PutSecretValue operation: User: x is not authorized"}"""));
        Assert.Equal("function fn failed: ClientError (AccessDeniedException from PutSecretValue); see coffer functions logs fn", aws);
        var leak = FunctionRotations.Reason("fn", Encoding.UTF8.GetBytes("""{"errorType":"ValueError","errorMessage":"password hunter2 rejected"}"""));
        Assert.DoesNotContain("hunter2", leak);
        Assert.Contains("ValueError", leak);
        Assert.Contains("Unhandled", FunctionRotations.Reason("fn", "garbage"u8.ToArray()));
    }
}
