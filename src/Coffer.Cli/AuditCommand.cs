using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Coffer.Core.Audit;
using Coffer.Crypto;
using Coffer.Server;
using Coffer.Storage.Sqlite;

namespace Coffer.Cli;

/// <summary>
/// `coffer audit`: read the trail (filters, table or JSON lines), `coffer audit verify` (the chain and its signed
/// checkpoints), `coffer audit hash VALUE` (the HMAC auditors match sensitive fields with). docs/audit.md.
/// Reads the store sink (&lt;data-dir&gt;/coffer.db) or a JSON-lines file sink (--file); safe while the server runs.
/// </summary>
internal static class AuditCommand
{
    public static Command Create()
    {
        var dataDir = new Option<string>("--data-dir") { Description = "The server's data directory.", DefaultValueFactory = _ => CofferServerOptions.DefaultDataDir, Recursive = true };
        var keyFile = new Option<string?>("--master-key-file") { Description = $"Master key file. Default: ${ServerCommand.MasterKeyFileVariable}, else <data-dir>/master.key.", Recursive = true };
        var file = new Option<string?>("--file") { Description = "Read a JSON-lines file sink instead of the store.", Recursive = true };
        var from = new Option<DateTimeOffset?>("--from") { Description = "Only events at or after this time (ISO 8601)." };
        var to = new Option<DateTimeOffset?>("--to") { Description = "Only events at or before this time (ISO 8601)." };
        var principal = new Option<string?>("--principal") { Description = "User name or principal ARN." };
        var secret = new Option<string?>("--secret") { Description = "Secret name or ARN." };
        var eventName = new Option<string?>("--event-name") { Description = "e.g. GetSecretValue." };
        var region = new Option<string?>("--region") { Description = "Only events made in this Region (their awsRegion), e.g. us-east-1 for IAM and STS." };
        var outcome = new Option<string?>("--outcome") { Description = "success, failed, denied or unauthenticated." };
        var limit = new Option<int>("--limit") { Description = "At most this many events, newest first.", DefaultValueFactory = _ => 100 };
        var format = new Option<string>("--format") { Description = "table or json (JSON lines of CloudTrail records).", DefaultValueFactory = _ => "table" };

        var command = new Command("audit", "Show audit events (newest first); see also `audit verify` and `audit hash`.")
        {
            dataDir, keyFile, file, from, to, principal, secret, eventName, region, outcome, limit, format,
        };
        command.SetAction(result =>
        {
            AuditOutcome? wanted = null;
            if (result.GetValue(outcome) is { } o)
            {
                if (!AuditOutcomes.TryParse(o, out var parsed)) return Fail("--outcome must be success, failed, denied or unauthenticated.");
                wanted = parsed;
            }
            var fmt = result.GetValue(format);
            if (fmt is not ("table" or "json")) return Fail("--format must be table or json.");
            var query = new AuditQuery
            {
                From = result.GetValue(from), To = result.GetValue(to), Principal = result.GetValue(principal), Secret = result.GetValue(secret),
                EventName = result.GetValue(eventName), Region = result.GetValue(region), Outcome = wanted, Limit = Math.Max(1, result.GetValue(limit)),
            };
            IReadOnlyList<AuditRecord> records;
            if (result.GetValue(file) is { } path)
            {
                if (!File.Exists(path)) return Fail($"{path} does not exist.");
                records = FileRecords(path).Where(r => Matches(r, query)).OrderByDescending(r => r.Seq).Take(query.Limit).ToList();
            }
            else
            {
                var db = Database(result.GetValue(dataDir)!);
                if (db is null) return Fail($"No Coffer database in {result.GetValue(dataDir)}.");
                using var store = new SqliteAuditSink(db);
                records = store.QueryAsync(query, CancellationToken.None).GetAwaiter().GetResult();
            }
            if (fmt == "json")
                foreach (var r in records) Console.Out.WriteLine(Encoding.UTF8.GetString(r.EventJson));
            else
                PrintTable(records);
            return 0;
        });

        var verify = new Command("verify", "Check the trail: edited, deleted, inserted or reordered records and the signed checkpoints. Exit code 1 when not intact.");
        verify.SetAction(result =>
        {
            using var keys = LoadKeys(result.GetValue(dataDir)!, result.GetValue(keyFile), out var error);
            if (keys is null) return Fail(error!);
            AuditVerifyReport report;
            if (result.GetValue(file) is { } path)
            {
                if (!File.Exists(path)) return Fail($"{path} does not exist.");
                var lines = File.ReadLines(path).Select(AuditLines.Parse).Where(l => l is not null).ToList();
                report = AuditVerifier.Verify(lines.Where(l => l!.Hash is not null).Select(l => (l!.Seq, l.PrevHash!, l.Hash!, l.EventJson!)),
                    [.. lines.Where(l => l!.Checkpoint is not null).Select(l => l!.Checkpoint!)], keys);
            }
            else
            {
                var db = Database(result.GetValue(dataDir)!);
                if (db is null) return Fail($"No Coffer database in {result.GetValue(dataDir)}.");
                using var store = new SqliteAuditSink(db);
                report = AuditVerifier.Verify(store.ReadAll().Select(r => (r.Seq, r.PrevHash, r.Hash, r.EventJson)), store.ReadCheckpoints(), keys);
            }
            foreach (var f in report.Findings)
                Console.Out.WriteLine($"{f.Kind.ToString().ToLowerInvariant()}\t{f.Seq}\t{f.Detail}");
            Console.Out.WriteLine(report.Intact
                ? $"intact: {report.Records} records, {report.Checkpoints} signed checkpoints, last signed record {report.LastCheckpointSeq ?? 0}, {report.Unsigned} after it not yet signed"
                : $"NOT INTACT: {report.Findings.Count} problems in {report.Records} records");
            return report.Intact ? 0 : 1;
        });
        command.Subcommands.Add(verify);

        var value = new Argument<string>("value") { Description = "The value to hash (e.g. a secret value an auditor holds)." };
        var hash = new Command("hash", "Print the HMAC this installation stores for a sensitive value (additionalEventData.hmac).") { value };
        hash.SetAction(result =>
        {
            using var keys = LoadKeys(result.GetValue(dataDir)!, result.GetValue(keyFile), out var error);
            if (keys is null) return Fail(error!);
            Console.Out.WriteLine(keys.Hash(result.GetValue(value)!));
            return 0;
        });
        command.Subcommands.Add(hash);
        return command;
    }

    private static int Fail(string message)
    {
        Console.Error.WriteLine("coffer audit: " + message);
        return 2;
    }

    private static string? Database(string dataDir)
    {
        var path = Path.Combine(dataDir, "coffer.db");
        return File.Exists(path) ? path : null;
    }

    private static AuditKeys? LoadKeys(string dataDir, string? keyFile, out string? error)
    {
        var path = keyFile ?? Environment.GetEnvironmentVariable(ServerCommand.MasterKeyFileVariable);
        if (string.IsNullOrEmpty(path)) path = Path.Combine(dataDir, "master.key");
        error = null;
        try
        {
            using var master = MasterKeyFile.Load(path);
            return new AuditKeys(master);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or MasterKeyException)
        {
            error = $"the master key {path} cannot be read ({e.GetType().Name}).";
            return null;
        }
    }

    private static IEnumerable<AuditRecord> FileRecords(string path)
    {
        foreach (var text in File.ReadLines(path))
        {
            if (AuditLines.Parse(text) is not { EventJson: { } json } line) continue;
            using var doc = JsonDocument.Parse(json);
            var e = doc.RootElement;
            string? S(JsonElement el, string name) => el.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
            var id = e.GetProperty("userIdentity");
            var resource = e.TryGetProperty("resources", out var res) && res.GetArrayLength() > 0 ? S(res[0], "ARN") : null;
            var code = S(e, "errorCode");
            yield return new AuditRecord(line.Seq, line.PrevHash!, line.Hash!, json,
                DateTimeOffset.Parse(S(e, "eventTime")!, CultureInfo.InvariantCulture), S(e, "eventID") ?? "", S(e, "eventSource") ?? "", S(e, "eventName") ?? "",
                AuditIdentity.LookupUserName(S(id, "type"), S(id, "userName"), S(id, "arn")), S(id, "arn"), S(id, "accessKeyId"), resource, AuditOutcomes.Of(code), code,
                e.TryGetProperty("readOnly", out var ro) && ro.ValueKind == JsonValueKind.True, S(e, "sourceIPAddress"));
        }
    }

    private static bool Matches(AuditRecord r, AuditQuery q) =>
        (q.From is null || r.EventTime >= q.From) && (q.To is null || r.EventTime <= q.To) &&
        (q.Principal is null || r.UserName == q.Principal || r.PrincipalArn == q.Principal) &&
        (q.Secret is null || AuditJson.ReadResources(r.EventJson).Any(x => AuditQuery.NamesSecret(x.Arn, q.Secret))) &&
        (q.EventName is null || r.EventName == q.EventName) && (q.Outcome is null || r.Outcome == q.Outcome) &&
        (q.Region is null || AuditJson.ReadRegion(r.EventJson) == q.Region);

    private static void PrintTable(IReadOnlyList<AuditRecord> records)
    {
        Console.Out.WriteLine($"{"SEQ",-8} {"TIME (UTC)",-24} {"EVENT",-26} {"OUTCOME",-16} {"PRINCIPAL",-24} {"SOURCE IP",-16} RESOURCE");
        foreach (var r in records)
        {
            var outcome = r.ErrorCode is null ? "success" : r.ErrorCode;
            Console.Out.WriteLine($"{r.Seq,-8} {r.EventTime.UtcDateTime:yyyy-MM-ddTHH:mm:ss.fff} {r.EventName,-26} {outcome,-16} {r.UserName ?? r.AccessKeyId ?? "-",-24} {r.SourceIp ?? "-",-16} {r.Resource ?? "-"}");
        }
    }
}
