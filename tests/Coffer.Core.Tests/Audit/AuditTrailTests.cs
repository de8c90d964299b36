using Coffer.Core.Audit;
using Coffer.Core.Principals;
using Coffer.Storage.Sqlite;
using Microsoft.Data.Sqlite;

namespace Coffer.Core.Tests.Audit;

public sealed class AuditTrailTests
{
    [Fact]
    public async Task Records_are_chained_in_every_sink_and_verify_intact()
    {
        await using var f = new AuditFixture();
        var trail = f.Trail([new SqliteAuditSink(f.DatabasePath), new JsonLinesFileSink(f.FilePath)], new AuditOptions { CheckpointEvery = 7 });
        await Task.WhenAll(Enumerable.Range(0, 15).Select(_ => trail.RecordAsync(AuditFixture.Event())));
        for (var i = 0; i < 15; i++) await trail.RecordAsync(AuditFixture.Event());
        await trail.DisposeAsync();

        using var store = new SqliteAuditSink(f.DatabasePath);
        var report = AuditVerifier.Verify(store.ReadAll().Select(r => (r.Seq, r.PrevHash, r.Hash, r.EventJson)), store.ReadCheckpoints(), f.Keys);
        Assert.True(report.Intact, string.Join("; ", report.Findings));
        Assert.Equal(30, report.Records);
        Assert.Equal(30, report.LastCheckpointSeq); // the final checkpoint at shutdown covers everything
        Assert.True(report.Checkpoints >= 2);

        var fileReport = VerifyFile(f.FilePath, f);
        Assert.True(fileReport.Intact, string.Join("; ", fileReport.Findings));
        Assert.Equal(30, fileReport.Records);
    }

    [Fact]
    public async Task A_restarted_trail_continues_the_chain()
    {
        await using var f = new AuditFixture();
        var first = f.Trail([new SqliteAuditSink(f.DatabasePath)]);
        await first.RecordAsync(AuditFixture.Event());
        await first.DisposeAsync();
        var second = f.Trail([new SqliteAuditSink(f.DatabasePath)]);
        await second.RecordAsync(AuditFixture.Event());
        await second.DisposeAsync();
        using var store = new SqliteAuditSink(f.DatabasePath);
        var report = AuditVerifier.Verify(store.ReadAll().Select(r => (r.Seq, r.PrevHash, r.Hash, r.EventJson)), store.ReadCheckpoints(), f.Keys);
        Assert.True(report.Intact, string.Join("; ", report.Findings));
        Assert.Equal([1L, 2L], store.ReadAll().Select(r => r.Seq));
    }

    [Theory]
    [InlineData("edit", AuditFindingKind.Edited)]
    [InlineData("delete", AuditFindingKind.Deleted)]
    [InlineData("reorder", AuditFindingKind.Reordered)]
    [InlineData("insert", AuditFindingKind.Inserted)]
    [InlineData("rewrite", AuditFindingKind.Edited)]
    public async Task Verify_catches_tampering_with_a_copy_of_the_store(string tampering, AuditFindingKind expected)
    {
        await using var f = new AuditFixture();
        var trail = f.Trail([new SqliteAuditSink(f.DatabasePath)], new AuditOptions { CheckpointEvery = 5 });
        for (var i = 0; i < 12; i++) await trail.RecordAsync(AuditFixture.Event());
        await trail.DisposeAsync();
        SqliteConnection.ClearAllPools();
        var copy = Path.Combine(f.Directory, "copy.db");
        File.Copy(f.DatabasePath, copy);

        using (var db = new SqliteConnection($"Data Source={copy};Pooling=False"))
        {
            db.Open();
            using var c = db.CreateCommand();
            c.CommandText = tampering switch
            {
                "edit" => "UPDATE audit_event SET event_json = replace(event_json, 'alice', 'mallory') WHERE seq = 4",
                "delete" => "DELETE FROM audit_event WHERE seq = 7",
                "reorder" => "UPDATE audit_event SET id = -id WHERE seq IN (8, 9); UPDATE audit_event SET id = 9 WHERE id = -8; UPDATE audit_event SET id = 8 WHERE id = -9",
                "insert" => "INSERT INTO audit_event (seq, prev_hash, hash, event_time_ms, event_id, event_source, event_name, outcome, read_only, event_json) " +
                            "SELECT seq, prev_hash, hash, event_time_ms, 'x', event_source, event_name, outcome, read_only, event_json FROM audit_event WHERE seq = 3",
                _ => "SELECT 1",
            };
            c.ExecuteNonQuery();
        }
        if (tampering == "rewrite") RewriteChainAfterEdit(copy);

        using var store = new SqliteAuditSink(copy);
        var report = AuditVerifier.Verify(store.ReadAll().Select(r => (r.Seq, r.PrevHash, r.Hash, r.EventJson)), store.ReadCheckpoints(), f.Keys);
        Assert.False(report.Intact);
        Assert.Contains(report.Findings, x => x.Kind == expected);
    }

    /// <summary>An attacker without the master key edits record 2 and recomputes every hash after it: only the signed checkpoints notice.</summary>
    private static void RewriteChainAfterEdit(string path)
    {
        using var db = new SqliteConnection($"Data Source={path};Pooling=False");
        db.Open();
        var rows = new List<(long Id, long Seq, byte[] Json)>();
        using (var read = db.CreateCommand())
        {
            read.CommandText = "SELECT id, seq, event_json FROM audit_event ORDER BY id";
            using var r = read.ExecuteReader();
            while (r.Read()) rows.Add((r.GetInt64(0), r.GetInt64(1), System.Text.Encoding.UTF8.GetBytes(r.GetString(2))));
        }
        var prev = AuditRecord.Genesis;
        foreach (var (id, seq, json0) in rows)
        {
            var json = seq == 2 ? System.Text.Encoding.UTF8.GetBytes(System.Text.Encoding.UTF8.GetString(json0).Replace("alice", "mallory", StringComparison.Ordinal)) : json0;
            var hash = AuditRecord.ComputeHash(prev, seq, json);
            using var w = db.CreateCommand();
            w.CommandText = "UPDATE audit_event SET prev_hash = $p, hash = $h, event_json = $j WHERE id = $id";
            w.Parameters.AddWithValue("$p", prev);
            w.Parameters.AddWithValue("$h", hash);
            w.Parameters.AddWithValue("$j", System.Text.Encoding.UTF8.GetString(json));
            w.Parameters.AddWithValue("$id", id);
            w.ExecuteNonQuery();
            prev = hash;
        }
    }

    [Theory]
    [InlineData("edit", AuditFindingKind.Edited)]
    [InlineData("delete", AuditFindingKind.Deleted)]
    [InlineData("reorder", AuditFindingKind.Reordered)]
    public async Task Verify_catches_tampering_with_a_file_sink(string tampering, AuditFindingKind expected)
    {
        await using var f = new AuditFixture();
        var trail = f.Trail([new JsonLinesFileSink(f.FilePath)]);
        for (var i = 0; i < 10; i++) await trail.RecordAsync(AuditFixture.Event());
        await trail.DisposeAsync();
        var lines = File.ReadAllLines(f.FilePath).ToList();
        switch (tampering)
        {
            case "edit": lines[3] = lines[3].Replace("alice", "mallory", StringComparison.Ordinal); break;
            case "delete": lines.RemoveAt(5); break;
            default: (lines[6], lines[7]) = (lines[7], lines[6]); break;
        }
        File.WriteAllLines(f.FilePath, lines);
        var report = VerifyFile(f.FilePath, f);
        Assert.False(report.Intact);
        Assert.Contains(report.Findings, x => x.Kind == expected);
    }

    [Fact]
    public async Task Fails_closed_while_no_sink_can_write_and_resumes_when_repaired()
    {
        await using var f = new AuditFixture();
        var trail = f.Trail([new JsonLinesFileSink(f.FilePath)], new AuditOptions { Timeout = TimeSpan.FromSeconds(5) });
        await trail.RecordAsync(AuditFixture.Event());

        // The sink's file is replaced by a directory: nothing can be appended there any more.
        File.Move(f.FilePath, f.FilePath + ".saved");
        Directory.CreateDirectory(f.FilePath);
        var started = DateTime.UtcNow;
        var refused = await Assert.ThrowsAsync<ServiceException>(() => trail.RecordAsync(AuditFixture.Event()));
        Assert.Equal("InternalServiceError", refused.Code);
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(6));
        await Assert.ThrowsAsync<ServiceException>(() => trail.EnsureAvailableAsync());
        Assert.False(trail.IsHealthy);
        Assert.True(trail.WriteFailures >= 2);
        // A write that was applied in the window between the probe and its record is carried, not lost.
        await Assert.ThrowsAsync<ServiceException>(() => trail.RecordAsync(AuditFixture.Event("PutSecretValue"), applied: true));

        Directory.Delete(f.FilePath);
        File.Move(f.FilePath + ".saved", f.FilePath);
        await trail.EnsureAvailableAsync();
        await trail.RecordAsync(AuditFixture.Event("DescribeSecret"));
        Assert.True(trail.IsHealthy);
        await trail.DisposeAsync();

        var names = File.ReadLines(f.FilePath).Select(AuditLines.Parse).Where(l => l?.EventJson is not null)
            .Select(l => System.Text.Json.JsonDocument.Parse(l!.EventJson!).RootElement.GetProperty("eventName").GetString()).ToList();
        Assert.Equal(["GetSecretValue", "PutSecretValue", "DescribeSecret"], names);
        var report = VerifyFile(f.FilePath, f);
        Assert.True(report.Intact, string.Join("; ", report.Findings));
    }

    [Fact]
    public async Task A_hung_sink_fails_the_call_within_the_timeout()
    {
        await using var f = new AuditFixture();
        using var gate = new ManualResetEventSlim(false);
        var trail = f.Trail([new HangingSink(gate)], new AuditOptions { Timeout = TimeSpan.FromMilliseconds(300) });
        var refused = await Assert.ThrowsAsync<ServiceException>(() => trail.RecordAsync(AuditFixture.Event()));
        Assert.Equal("InternalServiceError", refused.Code);
        gate.Set();
        await trail.DisposeAsync();
    }

    /// <summary>A blocked device cannot be made here without root tricks; this sink blocks until released.</summary>
    private sealed class HangingSink(ManualResetEventSlim gate) : IAuditSink
    {
        public string Name => "hang";
        public void Write(IReadOnlyList<AuditRecord> records, AuditCheckpoint? checkpoint, bool durable) => gate.Wait();
        public void Probe() => gate.Wait();
        public AuditChainHead? ReadHead() => null;
        public void Dispose() { }
    }

    [Fact]
    public async Task The_store_keeps_each_record_as_json_text_sqlite_can_read()
    {
        await using var f = new AuditFixture();
        var trail = f.Trail([new SqliteAuditSink(f.DatabasePath)]);
        await trail.RecordAsync(AuditFixture.Event());
        await trail.DisposeAsync();
        using var db = new SqliteConnection($"Data Source={f.DatabasePath};Pooling=False");
        db.Open();
        using var c = db.CreateCommand();
        c.CommandText = "SELECT typeof(event_json), json_extract(event_json, '$.eventName') FROM audit_event";
        using var r = c.ExecuteReader();
        Assert.True(r.Read());
        Assert.Equal("text", r.GetString(0));
        Assert.Equal(AuditFixture.Event().EventName, r.GetString(1));
    }

    [Fact]
    public async Task Strict_mode_writes_durably()
    {
        await using var f = new AuditFixture();
        var trail = f.Trail([new SqliteAuditSink(f.DatabasePath), new JsonLinesFileSink(f.FilePath)], new AuditOptions { Durability = AuditDurability.Strict });
        await Task.WhenAll(Enumerable.Range(0, 50).Select(_ => trail.RecordAsync(AuditFixture.Event())));
        await trail.DisposeAsync();
        using var store = new SqliteAuditSink(f.DatabasePath);
        Assert.Equal(50, store.ReadAll().Count());
    }

    [Fact]
    public async Task Query_filters_by_principal_secret_event_and_outcome()
    {
        await using var f = new AuditFixture();
        var trail = f.Trail([new SqliteAuditSink(f.DatabasePath)]);
        var bob = AuditFixture.Alice with { Arn = "arn:aws:iam::123456789012:user/bob", UserName = "bob", AccessKeyId = "AKIABOB" };
        await trail.RecordAsync(AuditFixture.Event());
        await trail.RecordAsync(AuditFixture.Event(who: bob));
        await trail.RecordAsync(AuditFixture.Event("DescribeSecret", error: "ResourceNotFoundException", resource: "other"));
        await trail.DisposeAsync();
        using var store = new SqliteAuditSink(f.DatabasePath);
        Assert.Single(await store.QueryAsync(new AuditQuery { Principal = "bob" }, default));
        Assert.Equal(2, (await store.QueryAsync(new AuditQuery { Secret = "db" }, default)).Count);
        Assert.Single(await store.QueryAsync(new AuditQuery { Outcome = AuditOutcome.Failed }, default));
        Assert.Equal(2, (await store.QueryAsync(new AuditQuery { EventName = "GetSecretValue" }, default)).Count);
        var page = await store.QueryAsync(new AuditQuery { Limit = 2 }, default);
        Assert.Equal([3L, 2L], page.Select(r => r.Seq));
        Assert.Equal([1L], (await store.QueryAsync(new AuditQuery { BeforeSeq = 2 }, default)).Select(r => r.Seq));
    }

    [Fact]
    public async Task Query_matches_every_resource_of_a_record_and_its_type()
    {
        await using var f = new AuditFixture();
        var trail = f.Trail([new SqliteAuditSink(f.DatabasePath)]);
        const string db = "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-abcdef";
        const string other = "arn:aws:secretsmanager:us-east-1:123456789012:secret:other-ghijkl";
        static AuditEvent With(string name, params AuditResource[] resources) => new()
        {
            EventTime = DateTimeOffset.UtcNow, EventSource = "secretsmanager.amazonaws.com", EventName = name, AwsRegion = "us-east-1",
            UserIdentity = AuditIdentity.Of(AuditFixture.Alice), RequestId = Guid.NewGuid().ToString(), ReadOnly = AuditFields.IsReadOnly(name),
            Resources = resources,
        };
        await trail.RecordAsync(With("BatchGetSecretValue", new AuditResource(db, "123456789012"), new AuditResource(other, "123456789012")));
        await trail.RecordAsync(With("AssumeRole", new AuditResource("arn:aws:iam::123456789012:role/r1", "123456789012", "AWS::IAM::Role")));
        await trail.RecordAsync(AuditFixture.Event("ListSecrets", resource: null));
        await trail.DisposeAsync();
        using var store = new SqliteAuditSink(f.DatabasePath);

        // The second secret of a BatchGetSecretValue, by name and by ARN.
        Assert.Equal([1L], (await store.QueryAsync(new AuditQuery { Secret = "other" }, default)).Select(r => r.Seq));
        Assert.Equal([1L], (await store.QueryAsync(new AuditQuery { Secret = other }, default)).Select(r => r.Seq));
        // Only records with a resource of that type: not the role's, not ListSecrets (no resource at all).
        Assert.Equal([1L], (await store.QueryAsync(new AuditQuery { ResourceType = AuditResource.SecretType }, default)).Select(r => r.Seq));
        Assert.Equal([2L], (await store.QueryAsync(new AuditQuery { ResourceType = "AWS::IAM::Role" }, default)).Select(r => r.Seq));
        Assert.Empty(await store.QueryAsync(new AuditQuery { ResourceType = "AWS::Lambda::Function" }, default));

        // A row edited into something that is not JSON: verify's finding; filtering and reading go on.
        using (var edit = new SqliteConnection($"Data Source={f.DatabasePath};Pooling=False"))
        {
            edit.Open();
            using var c = edit.CreateCommand();
            c.CommandText = "UPDATE audit_event SET event_json = '{\"resources\":[' WHERE seq = 3";
            c.ExecuteNonQuery();
        }
        Assert.Equal([1L], (await store.QueryAsync(new AuditQuery { Secret = "other" }, default)).Select(r => r.Seq));
        Assert.Empty(AuditJson.ReadResources(store.ReadAll().Single(r => r.Seq == 3).EventJson));

        var resources = AuditJson.ReadResources(store.ReadAll().Single(r => r.Seq == 2).EventJson);
        Assert.Equal([("arn:aws:iam::123456789012:role/r1", (string?)"AWS::IAM::Role")], resources);
    }

    [Theory]
    [InlineData("arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf", "prod/db", true)]
    [InlineData("arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf", "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf", true)]
    [InlineData("prod/db", "prod/db", true)]
    [InlineData("arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-test-AbCdEf", "prod/db", false)]
    [InlineData("arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf", "db", false)]
    [InlineData("arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf", "prod", false)]
    public void A_secret_name_matches_its_own_arn_only(string resource, string secret, bool expected) =>
        Assert.Equal(expected, AuditQuery.NamesSecret(resource, secret));

    [Fact]
    public async Task An_assumed_role_is_looked_up_by_its_session_name()
    {
        await using var f = new AuditFixture();
        var trail = f.Trail([new SqliteAuditSink(f.DatabasePath)]);
        var session = new Principal("arn:aws:sts::123456789012:assumed-role/deployer/ci-run-7", "123456789012", "AROADEPLOYER:ci-run-7",
            "deployer", "ASIASESSION", false, PrincipalKind.AssumedRole, "arn:aws:iam::123456789012:role/deployer");
        await trail.RecordAsync(AuditFixture.Event(who: session));
        await trail.DisposeAsync();
        using var store = new SqliteAuditSink(f.DatabasePath);
        // CloudTrail's LookupEvents answers the session name as Username for AssumedRole callers (and finds them by it).
        var found = Assert.Single(await store.QueryAsync(new AuditQuery { Principal = "ci-run-7" }, default));
        Assert.Equal("ci-run-7", found.UserName);
        Assert.Single(await store.QueryAsync(new AuditQuery { Principal = session.Arn }, default));
        Assert.Null(AuditIdentity.LookupUserName("Unknown", null, null));
        Assert.Equal("alice", AuditIdentity.LookupUserName("IAMUser", "alice", "arn:aws:iam::123456789012:user/alice"));
    }

    private static AuditVerifyReport VerifyFile(string path, AuditFixture f)
    {
        var lines = File.ReadLines(path).Select(AuditLines.Parse).Where(l => l is not null).ToList();
        return AuditVerifier.Verify(lines.Where(l => l!.Hash is not null).Select(l => (l!.Seq, l.PrevHash!, l.Hash!, l.EventJson!)),
            [.. lines.Where(l => l!.Checkpoint is not null).Select(l => l!.Checkpoint!)], f.Keys);
    }
}
