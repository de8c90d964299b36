using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Coffer.EndToEnd.Tests.Harness;
using Microsoft.Data.Sqlite;

namespace Coffer.EndToEnd.Tests.Audit;

/// <summary>
/// Issue 4 end to end on the real `coffer server`: one audit record per call of every Secrets Manager action
/// (served, failed, unauthenticated) with the right identity, resources and outcome; fail-closed with an
/// unwritable sink and resumption without restart; a signed webhook alert for a denial burst; and the canary:
/// planted values, a generated password, secret keys and a session token never reach audit records, logs,
/// /metrics or webhook bodies.
/// </summary>
public sealed class AuditEndToEndTests(ITestOutputHelper output)
{
    private static List<JsonElement> AuditRows(CofferProcess server)
    {
        var db = Path.Combine(server.DataDirectory, "coffer.db");
        using var connection = new SqliteConnection($"Data Source={db};Mode=ReadOnly;Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT event_json FROM audit_event ORDER BY id";
        using var reader = command.ExecuteReader();
        var rows = new List<JsonElement>();
        while (reader.Read()) rows.Add(JsonDocument.Parse(reader.GetString(0)).RootElement.Clone());
        return rows;
    }

    private static string RequestId(ApiResponse r) => r.Header("x-amzn-RequestId") ?? throw new InvalidOperationException("no request id");

    private static string? Str(JsonElement e, params string[] path)
    {
        foreach (var p in path)
        {
            if (e.ValueKind != JsonValueKind.Object || !e.TryGetProperty(p, out e)) return null;
        }
        return e.ValueKind == JsonValueKind.String ? e.GetString() : e.ToString();
    }

    [Fact]
    public async Task Every_action_yields_exactly_one_record_with_identity_resources_and_outcome()
    {
        await using var server = await CofferProcess.StartAsync(new CofferServerOptions { Name = "audit-actions" });
        using var client = server.CreateClient();
        var name = "audit/" + Guid.NewGuid().ToString("N")[..8];
        var calls = new List<(string Action, ApiResponse Response, string? ExpectError)>();
        async Task<ApiResponse> Call(string action, JsonObject body, string? expectError = null)
        {
            var r = await client.CallAsync(action, body);
            calls.Add((action, r, expectError));
            if (expectError is null) Assert.True(r.IsSuccess, $"{action}: {r.Describe()}");
            else Assert.Equal(expectError, r.ErrorType);
            return r;
        }

        var created = await Call("CreateSecret", SecretsClient.Obj(("Name", name), ("SecretString", "v1"), ("ClientRequestToken", Guid.NewGuid().ToString())));
        var arn = created.Str("ARN");
        await Call("PutSecretValue", SecretsClient.Obj(("SecretId", name), ("SecretString", "v2"), ("ClientRequestToken", Guid.NewGuid().ToString())));
        await Call("GetSecretValue", SecretsClient.Obj(("SecretId", name)));
        await Call("BatchGetSecretValue", SecretsClient.Obj(("SecretIdList", new JsonArray(name))));
        await Call("DescribeSecret", SecretsClient.Obj(("SecretId", arn)));
        await Call("ListSecrets", SecretsClient.Obj());
        await Call("ListSecretVersionIds", SecretsClient.Obj(("SecretId", name)));
        await Call("UpdateSecret", SecretsClient.Obj(("SecretId", name), ("Description", "d")));
        var versions = (await client.CallAsync("ListSecretVersionIds", SecretsClient.Obj(("SecretId", name)))).Json!["Versions"]!.AsArray();
        calls.Add(("ListSecretVersionIds", (await client.CallAsync("ListSecretVersionIds", SecretsClient.Obj(("SecretId", name)))), null));
        var previous = versions.First(v => v!["VersionStages"]!.AsArray().Any(s => (string?)s == "AWSPREVIOUS"))!["VersionId"]!.GetValue<string>();
        await Call("UpdateSecretVersionStage", SecretsClient.Obj(("SecretId", name), ("VersionStage", "TEST"), ("MoveToVersionId", previous)));
        await Call("TagResource", SecretsClient.Obj(("SecretId", name), ("Tags", new JsonArray(SecretsClient.Obj(("Key", "k"), ("Value", "v"))))));
        await Call("UntagResource", SecretsClient.Obj(("SecretId", name), ("TagKeys", new JsonArray("k"))));
        var policy = $$"""{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::{{arn.Split(':')[4]}}:root"},"Action":"secretsmanager:GetSecretValue","Resource":"*"}]}""";
        await Call("PutResourcePolicy", SecretsClient.Obj(("SecretId", name), ("ResourcePolicy", policy)));
        await Call("GetResourcePolicy", SecretsClient.Obj(("SecretId", name)));
        await Call("ValidateResourcePolicy", SecretsClient.Obj(("ResourcePolicy", policy)));
        await Call("DeleteResourcePolicy", SecretsClient.Obj(("SecretId", name)));
        await Call("GetRandomPassword", SecretsClient.Obj(("PasswordLength", 20)));
        var rotate = await client.CallAsync("RotateSecret", SecretsClient.Obj(("SecretId", name)));
        // Without a rotation configuration this fails; either way the record must carry the outcome the caller saw.
        calls.Add(("RotateSecret", rotate, rotate.IsSuccess ? null : rotate.ErrorType));
        await Call("DeleteSecret", SecretsClient.Obj(("SecretId", name), ("RecoveryWindowInDays", 7)));
        await Call("RestoreSecret", SecretsClient.Obj(("SecretId", name)));
        await Call("GetSecretValue", SecretsClient.Obj(("SecretId", "audit/missing")), expectError: "ResourceNotFoundException");
        await Call("GetSecretValue", SecretsClient.Obj(("SecretId", name), ("VersionId", "x")), expectError: "ValidationException");

        // Unauthenticated: an unknown key, a wrong secret for a known key, no Authorization at all.
        var stranger = new SigV4Signer("AKIASTRANGER00000001", "wrong", "us-east-1");
        var unknown = await client.SendAsync(client.BuildSigned("secretsmanager.GetSecretValue", Encoding.UTF8.GetBytes($$"""{"SecretId":"{{name}}"}"""), signer: stranger), "GetSecretValue");
        Assert.Equal("UnrecognizedClientException", unknown.ErrorType);
        var badSig = await client.SendAsync(client.BuildSigned("secretsmanager.DescribeSecret", Encoding.UTF8.GetBytes($$"""{"SecretId":"{{name}}"}"""),
            signer: new SigV4Signer(server.AccessKeyId, "not-the-secret", "us-east-1")), "DescribeSecret");
        Assert.Equal("InvalidSignatureException", badSig.ErrorType);
        var none = client.BuildSigned("secretsmanager.ListSecrets", "{}"u8.ToArray());
        none.Headers.Remove("Authorization");
        var missing = await client.SendAsync(none, "ListSecrets");
        Assert.Equal("MissingAuthenticationTokenException", missing.ErrorType);

        var rows = AuditRows(server);
        foreach (var (action, response, error) in calls)
        {
            var id = RequestId(response);
            var matching = rows.Where(r => Str(r, "requestID") == id).ToList();
            var record = Assert.Single(matching);
            Assert.Equal(action, Str(record, "eventName"));
            Assert.Equal("secretsmanager.amazonaws.com", Str(record, "eventSource"));
            Assert.Equal("IAMUser", Str(record, "userIdentity", "type"));
            Assert.Equal(server.AccessKeyId, Str(record, "userIdentity", "accessKeyId"));
            Assert.Equal("coffer-admin", Str(record, "userIdentity", "userName"));
            Assert.Equal(error, Str(record, "errorCode"));
            var readOnly = action.StartsWith("Get", StringComparison.Ordinal) || action.StartsWith("List", StringComparison.Ordinal) ||
                action.StartsWith("Describe", StringComparison.Ordinal) || action.StartsWith("BatchGet", StringComparison.Ordinal) || action.StartsWith("Validate", StringComparison.Ordinal);
            Assert.Equal(readOnly, record.GetProperty("readOnly").GetBoolean());
            // Actions without output name the secret as the caller did; the others by the ARN they answered.
            if (error is null && action is "TagResource" or "UntagResource")
                Assert.Equal(name, Str(record.GetProperty("resources")[0], "ARN"));
            else if (error is null && action is not ("ListSecrets" or "GetRandomPassword" or "ValidateResourcePolicy"))
                Assert.Equal(arn, Str(record.GetProperty("resources")[0], "ARN"));
        }
        var get = rows.Single(r => Str(r, "requestID") == RequestId(calls.First(c => c.Action == "GetSecretValue").Response));
        Assert.Equal("AWSCURRENT", Str(get.GetProperty("resources")[0], "stagingLabel"));
        Assert.False(string.IsNullOrEmpty(Str(get.GetProperty("resources")[0], "versionId")));

        foreach (var (response, code, keyId) in new[] { (unknown, "UnrecognizedClientException", "AKIASTRANGER00000001"), (badSig, "InvalidSignatureException", server.AccessKeyId), (missing, "MissingAuthenticationTokenException", null) })
        {
            var record = Assert.Single(rows, r => Str(r, "requestID") == RequestId(response));
            Assert.Equal(code, Str(record, "errorCode"));
            Assert.Equal("Unknown", Str(record, "userIdentity", "type"));
            Assert.Equal(keyId, Str(record, "userIdentity", "accessKeyId"));
            Assert.Null(Str(record, "userIdentity", "arn"));
        }
        // Exactly one record per call: no extra records for anything else that was sent.
        var sent = calls.Count + 3 + 1; // + the unauthenticated three + the ListSecretVersionIds read for the version ids
        Assert.Equal(sent, rows.Count);

        await server.StopAsync();
        var verify = await RunCofferAsync(server, "audit", "verify", "--data-dir", server.DataDirectory);
        output.WriteLine(verify.Output);
        Assert.Equal(0, verify.ExitCode);
        Assert.Contains("intact", verify.Output);
    }

    [Fact]
    public async Task Coffer_audit_secret_filter_is_exact_in_the_store_and_in_a_file_sink()
    {
        var options = new CofferServerOptions { Name = "audit-secret-filter" };
        var auditFile = Path.Combine(Path.GetTempPath(), $"coffer-audit-{Guid.NewGuid():N}.jsonl");
        options.ExtraArguments.AddRange(["--audit-sink", "store", "--audit-sink", "file:" + auditFile]);
        await using var server = await CofferProcess.StartAsync(options);
        using var client = server.CreateClient();
        try
        {
            // "app/db" must not list the calls on "app/db-test" (a name it is a prefix of), and must list the
            // BatchGetSecretValue that read it second.
            foreach (var name in new[] { "app/db", "app/db-test" })
                (await client.CallAsync("CreateSecret", SecretsClient.Obj(("Name", name), ("SecretString", "v"), ("ClientRequestToken", Guid.NewGuid().ToString())))).EnsureSuccess();
            (await client.CallAsync("GetSecretValue", SecretsClient.Obj(("SecretId", "app/db-test")))).EnsureSuccess();
            (await client.CallAsync("BatchGetSecretValue", SecretsClient.Obj(("SecretIdList", new JsonArray("app/db-test", "app/db"))))).EnsureSuccess();

            foreach (var source in new[] { new[] { "--data-dir", server.DataDirectory }, ["--file", auditFile, "--data-dir", server.DataDirectory] })
            {
                var run = await RunCofferAsync(server, ["audit", .. source, "--secret", "app/db", "--format", "json"]);
                Assert.True(run.ExitCode == 0, run.Output);
                var names = run.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries)
                    .Select(l => Str(JsonDocument.Parse(l).RootElement, "eventName")).ToList();
                Assert.Equal(["BatchGetSecretValue", "CreateSecret"], names);
            }
        }
        finally
        {
            File.Delete(auditFile);
        }
    }

    [Fact]
    public async Task Coffer_audit_region_filter_keeps_one_regions_events_in_the_store_and_in_a_file_sink()
    {
        var options = new CofferServerOptions { Name = "audit-region-filter" };
        var auditFile = Path.Combine(Path.GetTempPath(), $"coffer-audit-{Guid.NewGuid():N}.jsonl");
        options.ExtraArguments.AddRange(["--audit-sink", "store", "--audit-sink", "file:" + auditFile]);
        await using var server = await CofferProcess.StartAsync(options);
        using var east = server.CreateClient();
        using var west = new SecretsClient(server.Endpoint, server.AccessKeyId, server.SecretAccessKey, "eu-west-1");
        try
        {
            (await east.CallAsync("CreateSecret", SecretsClient.Obj(("Name", "east/app"), ("SecretString", "v"), ("ClientRequestToken", Guid.NewGuid().ToString())))).EnsureSuccess();
            (await west.CallAsync("CreateSecret", SecretsClient.Obj(("Name", "west/app"), ("SecretString", "v"), ("ClientRequestToken", Guid.NewGuid().ToString())))).EnsureSuccess();
            (await west.CallAsync("GetSecretValue", SecretsClient.Obj(("SecretId", "west/app")))).EnsureSuccess();

            foreach (var source in new[] { new[] { "--data-dir", server.DataDirectory }, ["--file", auditFile, "--data-dir", server.DataDirectory] })
            {
                var run = await RunCofferAsync(server, ["audit", .. source, "--region", "eu-west-1", "--format", "json"]);
                Assert.True(run.ExitCode == 0, run.Output);
                var events = run.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToList();
                Assert.Equal(["GetSecretValue", "CreateSecret"], events.Select(e => Str(e, "eventName")));
                Assert.All(events, e => Assert.Equal("eu-west-1", Str(e, "awsRegion")));
            }
        }
        finally
        {
            File.Delete(auditFile);
        }
    }

    [Fact]
    public async Task An_unwritable_sink_fails_calls_closed_and_service_resumes_without_restart()
    {
        var options = new CofferServerOptions { Name = "audit-failclosed" };
        var auditFile = Path.Combine(Path.GetTempPath(), $"coffer-audit-{Guid.NewGuid():N}.jsonl");
        options.ExtraArguments.AddRange(["--audit-sink", "file:" + auditFile]);
        await using var server = await CofferProcess.StartAsync(options);
        using var client = server.CreateClient();
        try
        {
            const string before = "fail-closed-value-before";
            const string during = "fail-closed-value-during";
            (await client.CallAsync("CreateSecret", SecretsClient.Obj(("Name", "fc"), ("SecretString", before), ("ClientRequestToken", Guid.NewGuid().ToString())))).EnsureSuccess();

            File.Move(auditFile, auditFile + ".saved");
            Directory.CreateDirectory(auditFile);
            var started = DateTime.UtcNow;
            var read = await client.CallAsync("GetSecretValue", SecretsClient.Obj(("SecretId", "fc")));
            Assert.Equal(500, read.Status);
            Assert.Equal("InternalServiceError", read.ErrorType);
            Assert.DoesNotContain(before, read.BodyText);
            var write = await client.CallAsync("PutSecretValue", SecretsClient.Obj(("SecretId", "fc"), ("SecretString", during), ("ClientRequestToken", Guid.NewGuid().ToString())));
            Assert.Equal("InternalServiceError", write.ErrorType);
            Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(12), "bounded wait");
            var ready = await client.GetAsync("/health/ready");
            Assert.Equal(503, ready.Status);
            Assert.Contains("audit-sink", ready.BodyText);
            var metrics = await client.GetAsync("/metrics");
            Assert.Matches(@"coffer_audit_write_failures_total\{sink=""file:[^""]+""\} [1-9]", metrics.BodyText);

            Directory.Delete(auditFile);
            File.Move(auditFile + ".saved", auditFile);
            var after = await client.CallAsync("GetSecretValue", SecretsClient.Obj(("SecretId", "fc")));
            after.EnsureSuccess();
            Assert.Equal(before, after.Str("SecretString")); // the PutSecretValue was not applied
            Assert.Equal(200, (await client.GetAsync("/health/ready")).Status);
            (await client.CallAsync("PutSecretValue", SecretsClient.Obj(("SecretId", "fc"), ("SecretString", during), ("ClientRequestToken", Guid.NewGuid().ToString())))).EnsureSuccess();
            var lines = File.ReadAllLines(auditFile).Where(l => l.StartsWith("{\"seq\"", StringComparison.Ordinal)).ToList();
            Assert.Equal(3, lines.Count); // CreateSecret, then GetSecretValue and PutSecretValue after the repair: refused calls left no record
            Assert.DoesNotContain(lines, l => l.Contains(before, StringComparison.Ordinal) || l.Contains(during, StringComparison.Ordinal));
        }
        finally
        {
            if (Directory.Exists(auditFile)) Directory.Delete(auditFile);
            File.Delete(auditFile);
            File.Delete(auditFile + ".saved");
        }
    }

    [Fact]
    public async Task A_denial_burst_reaches_the_webhook_correctly_signed_and_nothing_leaks()
    {
        const string webhookKey = "webhook-test-key";
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var hookPort = ((IPEndPoint)listener.LocalEndpoint).Port;
        var received = ReceiveOneAsync(listener);

        var options = new CofferServerOptions { Name = "audit-webhook" };
        var auditFile = Path.Combine(Path.GetTempPath(), $"coffer-audit-{Guid.NewGuid():N}.jsonl");
        options.ExtraArguments.AddRange(["--alert-webhook", $"http://127.0.0.1:{hookPort}/hook", "--log-format", "json", "--log-level", "Trace",
            "--audit-sink", "store", "--audit-sink", "file:" + auditFile, "--audit-sink", "stdout"]);
        options.Environment["COFFER_ALERT_WEBHOOK_SECRET"] = webhookKey;
        await using var server = await CofferProcess.StartAsync(options);
        using var client = server.CreateClient();
        try
        {
            var value = Canary.Plain();
            var secretKey = Canary.Plain();
            var sessionToken = Canary.Plain();
            (await client.CallAsync("CreateSecret", SecretsClient.Obj(("Name", "canary"), ("SecretString", value.Text), ("ClientRequestToken", Guid.NewGuid().ToString())))).EnsureSuccess();
            (await client.CallAsync("PutSecretValue", SecretsClient.Obj(("SecretId", "canary"), ("SecretString", value.Text + "-2"), ("ClientRequestToken", Guid.NewGuid().ToString())))).EnsureSuccess();
            (await client.CallAsync("GetSecretValue", SecretsClient.Obj(("SecretId", "canary")))).EnsureSuccess();
            var password = (await client.CallAsync("GetRandomPassword", SecretsClient.Obj(("PasswordLength", 64)))).EnsureSuccess().Str("RandomPassword");

            // 12 calls signed with an unknown key whose secret is a canary, carrying a canary session token.
            var intruder = new SigV4Signer("AKIAINTRUDER00000001", secretKey.Text!, "us-east-1");
            for (var i = 0; i < 12; i++)
            {
                var request = client.BuildSigned("secretsmanager.GetSecretValue", "{\"SecretId\":\"canary\"}"u8.ToArray(), signer: intruder);
                request.Headers.TryAddWithoutValidation("X-Amz-Security-Token", sessionToken.Text);
                var r = await client.SendAsync(request, "GetSecretValue");
                Assert.False(r.IsSuccess);
            }

            var hook = await received.WaitAsync(TimeSpan.FromSeconds(30));
            output.WriteLine(hook.Body);
            var expected = "sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(webhookKey),
                Encoding.UTF8.GetBytes(hook.Headers["x-coffer-timestamp"] + "." + hook.Body)));
            Assert.Equal(expected, hook.Headers["x-coffer-signature"]);
            var alert = JsonDocument.Parse(hook.Body).RootElement;
            Assert.Equal("denial-burst", alert.GetProperty("rule").GetString());
            Assert.Equal("access-key:AKIAINTRUDER00000001", alert.GetProperty("principal").GetString());

            var metrics = (await client.GetAsync("/metrics")).BodyText;
            Assert.Contains("coffer_alerts_total{rule=\"denial-burst\"} 1", metrics);
            await server.StopAsync();

            var passwordCanary = Canary.Of("password", _ => password);
            var scanner = new CanaryScanner([value, secretKey, sessionToken, passwordCanary]);
            var findings = new List<CanaryFinding>();
            findings.AddRange(scanner.Scan("webhook", hook.Body));
            findings.AddRange(scanner.Scan("metrics", metrics));
            findings.AddRange(scanner.ScanFile(auditFile, "audit file"));
            foreach (var f in server.OutputFiles) findings.AddRange(scanner.ScanFile(f));
            var rows = AuditRows(server);
            findings.AddRange(scanner.Scan("audit table", string.Join("\n", rows.Select(r => r.GetRawText()))));
            Assert.True(findings.Count == 0, string.Join("\n", findings));

            // The records exist (the scan looked at something): the intruder's 12 and the admin's 4.
            Assert.Equal(16, rows.Count);
            Assert.Equal(12, rows.Count(r => Str(r, "userIdentity", "accessKeyId") == "AKIAINTRUDER00000001"));
            // The stdout sink and the JSON logs carry the trail and the request ids.
            var stdout = string.Concat(server.OutputFiles.Select(File.ReadAllText));
            Assert.Contains("\"eventName\":\"GetRandomPassword\"", stdout);
            Assert.Contains("RequestId", stdout);
        }
        finally
        {
            File.Delete(auditFile);
        }
    }

    private sealed record Received(Dictionary<string, string> Headers, string Body);

    /// <summary>A minimal HTTP/1.1 receiver: reads one POST, answers 200.</summary>
    private static async Task<Received> ReceiveOneAsync(TcpListener listener)
    {
        using var socket = await listener.AcceptTcpClientAsync();
        var stream = socket.GetStream();
        var buffer = new MemoryStream();
        var chunk = new byte[8192];
        int headerEnd;
        while ((headerEnd = IndexOf(buffer.ToArray(), "\r\n\r\n"u8.ToArray())) < 0)
        {
            var n = await stream.ReadAsync(chunk);
            if (n == 0) throw new IOException("closed");
            buffer.Write(chunk, 0, n);
        }
        var head = Encoding.ASCII.GetString(buffer.ToArray(), 0, headerEnd).Split("\r\n");
        var headers = head.Skip(1).Select(l => l.Split(':', 2)).ToDictionary(p => p[0].Trim().ToLowerInvariant(), p => p[1].Trim());
        var length = int.Parse(headers["content-length"], System.Globalization.CultureInfo.InvariantCulture);
        while (buffer.Length < headerEnd + 4 + length)
        {
            var n = await stream.ReadAsync(chunk);
            if (n == 0) break;
            buffer.Write(chunk, 0, n);
        }
        var body = Encoding.UTF8.GetString(buffer.ToArray(), headerEnd + 4, length);
        await stream.WriteAsync("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"u8.ToArray());
        return new Received(headers, body);
    }

    private static int IndexOf(byte[] data, byte[] needle) => data.AsSpan().IndexOf(needle);

    private static async Task<(int ExitCode, string Output)> RunCofferAsync(CofferProcess server, params string[] args)
    {
        var (fileName, prefix) = CofferBinary.Locate();
        var psi = new System.Diagnostics.ProcessStartInfo(fileName) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in prefix) psi.ArgumentList.Add(a);
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var process = System.Diagnostics.Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        _ = server;
        return (process.ExitCode, await stdout + await stderr);
    }
}
