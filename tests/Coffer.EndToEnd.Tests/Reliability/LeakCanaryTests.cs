using System.Text;
using System.Text.Json.Nodes;
using Coffer.EndToEnd.Tests.Harness;

namespace Coffer.EndToEnd.Tests.Reliability;

/// <summary>
/// Issue 2 "leak canary" (reliability-matrix §3.7, 4d S1 for the issue-2 surface): plant canary values of every
/// shape through CreateSecret, PutSecretValue and UpdateSecret, read them back, drive error paths that carry them,
/// then scan the server's output, every response header and every response body except the legitimate
/// GetSecretValue/BatchGetSecretValue success bodies, the process command line, /metrics and the whole data
/// directory (the SQLite .db, -wal and -shm among it), live and after shutdown.
/// </summary>
public sealed class LeakCanaryTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Planted_values_never_appear_outside_legitimate_reads()
    {
        var options = new CofferServerOptions { Name = "canary" };
        // Worst case: the most verbose log level (4d S1).
        options.ExtraArguments.AddRange(["--log-level", "Trace"]);
        await using var server = await CofferProcess.StartAsync(options);
        var journal = new ResponseJournal();
        using var client = server.CreateClient(journal);
        var canaries = new List<Canary>();
        Canary Plant(Canary c)
        {
            canaries.Add(c);
            return c;
        }

        var failures = new List<string>();
        void Expect(bool ok, string what)
        {
            if (!ok)
            {
                failures.Add(what);
            }
        }

        // ---- plant through every writing action ----
        var plain = Plant(Canary.Plain());
        var large = Plant(Canary.Large());
        var json = Plant(Canary.JsonField());
        var binary = Plant(Canary.Binary64());
        var special = Plant(Canary.Special());
        var created = Plant(Canary.Special());
        var planted = new List<(string Secret, Canary Value, string Token)>();

        async Task<ApiResponse> Call(string action, JsonObject body) => await client.CallAsync(action, body);

        foreach (var (name, canary) in new[] { ("canary/plain", plain), ("canary/large", large), ("canary/created-special", created) })
        {
            string token = Guid.NewGuid().ToString();
            var body = SecretsClient.Obj(("Name", name), ("ClientRequestToken", token));
            SetValue(body, canary);
            var r = await Call("CreateSecret", body);
            Expect(r.IsSuccess, $"CreateSecret {name}: {r.Describe()}");
            planted.Add((name, canary, token));
        }

        foreach (var (name, canary, action) in new[]
                 {
                     ("canary/json", json, "PutSecretValue"), ("canary/binary", binary, "PutSecretValue"),
                     ("canary/special", special, "UpdateSecret"),
                 })
        {
            var create = await Call("CreateSecret", SecretsClient.Obj(("Name", name), ("ClientRequestToken", Guid.NewGuid().ToString()),
                ("SecretString", "placeholder")));
            Expect(create.IsSuccess, $"CreateSecret {name}: {create.Describe()}");
            string token = Guid.NewGuid().ToString();
            var body = SecretsClient.Obj(("SecretId", name), ("ClientRequestToken", token));
            SetValue(body, canary);
            var r = await Call(action, body);
            Expect(r.IsSuccess, $"{action} {name}: {r.Describe()}");
            planted.Add((name, canary, token));
        }

        // ---- read them back, byte for byte ----
        foreach (var (name, canary, token) in planted)
        {
            var byStage = await Call("GetSecretValue", SecretsClient.Obj(("SecretId", name)));
            Expect(byStage.IsSuccess && Matches(byStage.Json, canary), $"GetSecretValue {name} ({canary.Shape}) does not return the planted bytes: {byStage.Describe()}");
            var byVersion = await Call("GetSecretValue", SecretsClient.Obj(("SecretId", name), ("VersionId", token)));
            Expect(byVersion.IsSuccess && Matches(byVersion.Json, canary), $"GetSecretValue {name} by VersionId: {byVersion.Describe()}");
            await Call("DescribeSecret", SecretsClient.Obj(("SecretId", name)));
            await Call("ListSecretVersionIds", SecretsClient.Obj(("SecretId", name), ("IncludeDeprecated", true)));
        }

        var batch = await Call("BatchGetSecretValue", SecretsClient.Obj(("SecretIdList", new JsonArray(planted.Select(p => (JsonNode)p.Secret).ToArray()))));
        Expect(batch.IsSuccess && batch.Json?["SecretValues"] is JsonArray { Count: 6 }, $"BatchGetSecretValue: {batch.Describe()}");
        await Call("ListSecrets", SecretsClient.Obj(("IncludePlannedDeletion", true)));

        // ---- error paths that carry a canary ----
        async Task ExpectError(string what, ApiResponse r)
        {
            output.WriteLine($"{what} → {r.Status} {r.ErrorType}");
            Expect(r.Status is >= 400 and < 500, $"{what}: expected a 4xx error, got {r.Describe()}");
            await Task.CompletedTask;
        }

        var oversize = Plant(Canary.Oversize());
        var put = SecretsClient.Obj(("SecretId", "canary/plain"), ("ClientRequestToken", Guid.NewGuid().ToString()));
        SetValue(put, oversize);
        await ExpectError("oversize SecretString", await Call("PutSecretValue", put));

        var oversizeBinary = Canary.Of("oversize-binary", c => c);
        var bigBinary = new byte[65_537];
        Encoding.UTF8.GetBytes(oversizeBinary.Core).CopyTo(bigBinary, 30_000);
        canaries.Add(oversizeBinary);
        await ExpectError("oversize SecretBinary", await Call("PutSecretValue", SecretsClient.Obj(
            ("SecretId", "canary/plain"), ("ClientRequestToken", Guid.NewGuid().ToString()), ("SecretBinary", Convert.ToBase64String(bigBinary)))));

        var reuse = Plant(Canary.Plain());
        var reuseBody = SecretsClient.Obj(("SecretId", "canary/json"), ("ClientRequestToken", planted.Single(p => p.Secret == "canary/json").Token));
        SetValue(reuseBody, reuse);
        var reused = await Call("PutSecretValue", reuseBody);
        await ExpectError("token reuse with another value", reused);
        Expect(reused.ErrorType == "ResourceExistsException", $"token reuse: expected ResourceExistsException, got {reused.Describe()}");

        var reuseUpdate = Plant(Canary.Special());
        var reuseUpdateBody = SecretsClient.Obj(("SecretId", "canary/special"), ("ClientRequestToken", planted.Single(p => p.Secret == "canary/special").Token));
        SetValue(reuseUpdateBody, reuseUpdate);
        await ExpectError("UpdateSecret token reuse with another value", await Call("UpdateSecret", reuseUpdateBody));

        var reuseCreate = Plant(Canary.Plain());
        await ExpectError("CreateSecret of an existing name", await Call("CreateSecret", SecretsClient.Obj(
            ("Name", "canary/plain"), ("ClientRequestToken", planted.Single(p => p.Secret == "canary/plain").Token), ("SecretString", reuseCreate.Text))));

        var badJson = Plant(Canary.Plain());
        await ExpectError("truncated JSON", await client.CallAsync("PutSecretValue",
            $"{{\"SecretId\":\"canary/plain\",\"SecretString\":\"{badJson.Text}"));
        var duplicate = Plant(Canary.Plain());
        await ExpectError("duplicate keys", await client.CallAsync("PutSecretValue",
            $"{{\"SecretId\":\"canary/plain\",\"SecretString\":\"{duplicate.Text}\",\"SecretString\":\"{duplicate.Text}x\"}}"));
        var wrongType = Plant(Canary.Plain());
        await ExpectError("SecretString of the wrong type", await client.CallAsync("PutSecretValue",
            $"{{\"SecretId\":\"canary/plain\",\"SecretString\":{{\"password\":\"{wrongType.Text}\"}}}}"));
        var badBase64 = Plant(Canary.Plain());
        await ExpectError("SecretBinary not base64", await client.CallAsync("PutSecretValue",
            $"{{\"SecretId\":\"canary/plain\",\"SecretBinary\":\"!{badBase64.Text}!\"}}"));

        var both = Plant(Canary.Plain());
        await ExpectError("SecretString and SecretBinary", await Call("PutSecretValue", SecretsClient.Obj(
            ("SecretId", "canary/plain"), ("ClientRequestToken", Guid.NewGuid().ToString()), ("SecretString", both.Text),
            ("SecretBinary", Convert.ToBase64String(Encoding.UTF8.GetBytes(both.Text!))))));
        var shortToken = Plant(Canary.Plain());
        await ExpectError("ClientRequestToken too short", await Call("PutSecretValue", SecretsClient.Obj(
            ("SecretId", "canary/plain"), ("ClientRequestToken", "short"), ("SecretString", shortToken.Text))));
        var missing = Plant(Canary.Plain());
        await ExpectError("PutSecretValue on a missing secret", await Call("PutSecretValue", SecretsClient.Obj(
            ("SecretId", "canary/does-not-exist"), ("ClientRequestToken", Guid.NewGuid().ToString()), ("SecretString", missing.Text))));
        var badName = Plant(Canary.Plain());
        await ExpectError("CreateSecret with an invalid name", await Call("CreateSecret", SecretsClient.Obj(
            ("Name", "bad name with spaces!"), ("ClientRequestToken", Guid.NewGuid().ToString()), ("SecretString", badName.Text))));
        var emptyStages = Plant(Canary.Plain());
        await ExpectError("VersionStages empty list", await Call("PutSecretValue", SecretsClient.Obj(
            ("SecretId", "canary/plain"), ("ClientRequestToken", Guid.NewGuid().ToString()), ("SecretString", emptyStages.Text),
            ("VersionStages", new JsonArray()))));

        var unsigned = Plant(Canary.Plain());
        var unsignedRequest = client.BuildSigned("secretsmanager.PutSecretValue",
            Encoding.UTF8.GetBytes($"{{\"SecretId\":\"canary/plain\",\"SecretString\":\"{unsigned.Text}\"}}"));
        unsignedRequest.Headers.Remove("Authorization");
        await ExpectError("unsigned", await client.SendAsync(unsignedRequest, "PutSecretValue"));
        var badSignature = Plant(Canary.Plain());
        var stranger = new SigV4Signer(server.AccessKeyId, "wrong-secret-key-0000000000000000000000", server.Region);
        await ExpectError("bad signature", await client.SendAsync(client.BuildSigned("secretsmanager.PutSecretValue",
            Encoding.UTF8.GetBytes($"{{\"SecretId\":\"canary/plain\",\"SecretString\":\"{badSignature.Text}\"}}"), signer: stranger), "PutSecretValue"));

        // ---- scan ----
        var metrics = await client.GetAsync("metrics");
        output.WriteLine($"/metrics → {metrics.Status}");
        server.SnapshotCommandLine();
        var scanner = new CanaryScanner(canaries);
        output.WriteLine($"{canaries.Count} canaries, {scanner.NeedleCount} needles");
        var findings = new List<CanaryFinding>();
        var liveFiles = Directory.EnumerateFiles(server.DataDirectory, "*", SearchOption.AllDirectories).Select(Path.GetFileName).ToList();
        output.WriteLine("live data files: " + string.Join(", ", liveFiles));
        Assert.Contains(liveFiles, f => f!.EndsWith("-wal", StringComparison.Ordinal));
        findings.AddRange(scanner.ScanDirectory(server.DataDirectory, "data (live)"));

        // Positive control on real server output: the bodies left out of the scan (legitimate reads) do hold every
        // planted canary, so the needles match what this server actually writes.
        var legitimate = journal.Responses.Where(ResponseJournal.BodyMayHoldValue).ToList();
        foreach (var (_, canary, _) in planted)
        {
            var control = new CanaryScanner([canary]);
            Assert.True(legitimate.Any(r => control.Scan("control", r.Body, 1).Count > 0),
                $"positive control: the {canary.Shape} canary is not found in any GetSecretValue/BatchGetSecretValue body");
        }

        int bodies = 0;
        foreach (var (r, i) in journal.Responses.Select((r, i) => (r, i)))
        {
            string headers = string.Join("\n", r.Headers.Select(h => $"{h.Key}: {h.Value}"));
            findings.AddRange(scanner.Scan($"response #{i} {r.Action} {r.Status} headers", headers));
            if (!ResponseJournal.BodyMayHoldValue(r))
            {
                bodies++;
                findings.AddRange(scanner.Scan($"response #{i} {r.Action} {r.Status} body", r.Body));
            }
        }

        foreach (var (line, i) in server.CommandLines.Select((l, i) => (l, i)))
        {
            findings.AddRange(scanner.Scan($"/proc/<pid>/cmdline #{i}", line));
        }

        await server.StopAsync();
        findings.AddRange(scanner.ScanDirectory(server.DataDirectory, "data (stopped)"));
        foreach (string file in server.OutputFiles)
        {
            findings.AddRange(scanner.ScanFile(file, "output/" + Path.GetFileName(file)));
        }

        long logBytes = server.OutputFiles.Where(File.Exists).Sum(f => new FileInfo(f).Length);
        output.WriteLine($"scanned {journal.Responses.Count} responses ({bodies} bodies), {server.CommandLines.Count} command lines, " +
                         $"{logBytes} bytes of server output, data files: " +
                         string.Join(", ", Directory.Exists(server.DataDirectory)
                             ? Directory.EnumerateFiles(server.DataDirectory, "*", SearchOption.AllDirectories).Select(Path.GetFileName)
                             : []));
        Assert.True(findings.Count == 0, "canary found:\n" + string.Join("\n", findings.Take(40).Select(f => $"{f.Source} @{f.Offset}: {f.Canary}, {f.Form}")));
        Assert.True(failures.Count == 0, "the planting or the reads failed:\n" + string.Join("\n", failures));
    }

    private static void SetValue(JsonObject body, Canary canary)
    {
        if (canary.Binary is not null)
        {
            body["SecretBinary"] = Convert.ToBase64String(canary.Binary);
        }
        else
        {
            body["SecretString"] = canary.Text;
        }
    }

    private static bool Matches(JsonNode? response, Canary canary) =>
        InvariantChecker.HashOf(response) == SeededValues.Hash(canary.Bytes)
        && (canary.Binary is null ? response?["SecretString"] is not null : response?["SecretBinary"] is not null);
}
