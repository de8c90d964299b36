using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Data.Sqlite;

namespace Coffer.EndToEnd.Tests.Harness;

internal sealed class InvariantCheckOptions
{
    /// <summary>Acknowledged writes re-sent per secret with the same token and value (I4).</summary>
    public int ReplaysPerSecret { get; init; } = 2;
    /// <summary>Acknowledged writes re-sent per secret with the same token and another value (I4).</summary>
    public int DifferentValueReplaysPerSecret { get; init; } = 1;
    /// <summary>
    /// Every version was written without VersionStages, so once a secret has two versions exactly one holds
    /// AWSPREVIOUS (spec §2.3 rule 2).
    /// </summary>
    public bool OnlyDefaultStages { get; init; } = true;
    public int Seed { get; init; }
    /// <summary>
    /// Acknowledged writes per secret whose value is read back (null: all). Presence and VersionId of every
    /// acknowledged write are always checked through ListSecretVersionIds, and every unacknowledged write that is
    /// present is always read (I2), so sampling only bounds the byte-for-byte comparison of I1.
    /// </summary>
    public int? ValueReadsPerSecret { get; init; }
}

/// <summary>
/// The invariant checker of reliability-matrix §3.5, for the invariants that apply to issue 2 through the API:
/// I1 (acknowledged writes present, same VersionId, byte-identical value, their labels), I2 (unacknowledged writes
/// all or nothing), I3 (exactly one AWSCURRENT, every label on ≤ 1 version, labelled versions decrypt) and I4
/// (idempotent replays). I7's <c>PRAGMA integrity_check</c> is <see cref="SqliteIntegrityAsync"/>.
/// Violations name tokens and hashes only, never values.
/// </summary>
internal sealed class InvariantChecker(SecretsClient client, SeededValues values)
{
    public async Task<IReadOnlyList<string>> CheckAsync(IReadOnlyList<HistoryEntry> history, IReadOnlyCollection<string> secretIds,
        InvariantCheckOptions options, CancellationToken ct = default)
    {
        var violations = new ConcurrentQueue<string>();
        var bySecret = history.GroupBy(e => e.SecretId).ToDictionary(g => g.Key, g => g.ToList());
        await Parallel.ForEachAsync(secretIds, new ParallelOptions { MaxDegreeOfParallelism = 12, CancellationToken = ct },
            async (secretId, token) =>
            {
                var writes = bySecret.TryGetValue(secretId, out var list) ? list : [];
                try
                {
                    await CheckSecretAsync(secretId, writes, options, violations, token);
                }
                catch (Exception e) when (e is InvalidOperationException or HttpRequestException or TaskCanceledException)
                {
                    violations.Enqueue($"{secretId}: check failed: {e.Message}");
                }
            });
        return violations.ToList();
    }

    private async Task CheckSecretAsync(string secretId, List<HistoryEntry> writes, InvariantCheckOptions options,
        ConcurrentQueue<string> violations, CancellationToken ct)
    {
        void Fail(string what) => violations.Enqueue($"{secretId}: {what}");

        var byToken = new Dictionary<string, HistoryEntry>(StringComparer.Ordinal);
        foreach (var w in writes)
        {
            if (!byToken.TryAdd(w.Token, w))
            {
                Fail($"harness reused token {w.Token}");
            }
        }

        // What the server holds: every version (deprecated ones included) and the label map.
        var listed = await ListVersionsAsync(secretId, ct);
        var labels = await LabelsAsync(secretId, ct);

        // I3: exactly one AWSCURRENT; every label on at most one version.
        var holders = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        foreach (var (versionId, stages) in labels)
        {
            foreach (string stage in stages)
            {
                (holders.TryGetValue(stage, out var h) ? h : holders[stage] = []).Add(versionId);
            }
        }

        foreach (var (stage, versions) in holders.Where(h => h.Value.Count > 1))
        {
            Fail($"I3: label {stage} on {versions.Count} versions ({string.Join(", ", versions)})");
        }

        if (listed.Count > 0 && (!holders.TryGetValue("AWSCURRENT", out var current) || current.Count != 1))
        {
            Fail($"I3: {listed.Count} versions but {(holders.TryGetValue("AWSCURRENT", out var c) ? c.Count : 0)} AWSCURRENT");
        }

        foreach (var (versionId, stages) in labels)
        {
            if (!listed.TryGetValue(versionId, out var listedStages))
            {
                Fail($"I3: DescribeSecret labels version {versionId} that ListSecretVersionIds does not list");
            }
            else if (!listedStages.SetEquals(stages))
            {
                Fail($"I3: version {versionId} labels differ between DescribeSecret and ListSecretVersionIds");
            }
        }

        // I1 / I2: every listed version is a write we made that was not rejected.
        foreach (string versionId in listed.Keys)
        {
            if (!byToken.TryGetValue(versionId, out var w))
            {
                Fail($"I2: version {versionId} matches no write in the history");
            }
            else if (w.Outcome == Outcome.Rejected)
            {
                Fail($"I2: write {versionId} was rejected ({w.Status} {w.ErrorType}) but is present");
            }
        }

        var valueRng = new Random(HashCode.Combine(options.Seed, secretId.Length, writes.Count));
        var acknowledgedToRead = writes.Where(w => w.Outcome == Outcome.Acknowledged).ToArray();
        valueRng.Shuffle(acknowledgedToRead);
        var readAcknowledged = acknowledgedToRead.Take(options.ValueReadsPerSecret ?? int.MaxValue).Select(w => w.Token).ToHashSet(StringComparer.Ordinal);
        foreach (var w in writes)
        {
            bool present = listed.ContainsKey(w.Token);
            if (w.Outcome == Outcome.Acknowledged && !present)
            {
                Fail($"I1: acknowledged {w.Op} {w.Token} (client {w.Client}) is missing");
                continue;
            }

            if (w.Outcome == Outcome.Acknowledged && w.VersionId != w.Token)
            {
                Fail($"I1: {w.Op} {w.Token} was acknowledged with VersionId {w.VersionId}");
            }

            if (w.Outcome == Outcome.Rejected || (w.Outcome == Outcome.Acknowledged && !readAcknowledged.Contains(w.Token)))
            {
                continue;
            }

            var read = await client.CallAsync("GetSecretValue",
                SecretsClient.Obj(("SecretId", secretId), ("VersionId", w.Token)), ct);
            if (present)
            {
                if (!read.IsSuccess)
                {
                    Fail($"I1/I2: listed version {w.Token} cannot be read: {read.Describe()}");
                }
                else if (HashOf(read.Json) != w.ValueHash)
                {
                    Fail($"I1/I2: version {w.Token} ({w.Outcome}) holds a value whose hash differs from the one written");
                }
                else if (read.Json?["VersionId"]?.GetValue<string>() != w.Token)
                {
                    Fail($"I1: GetSecretValue of {w.Token} answered VersionId {read.Json?["VersionId"]}");
                }
            }
            else if (read.IsSuccess || read.ErrorType != "ResourceNotFoundException")
            {
                Fail($"I2: unlisted write {w.Token} ({w.Outcome}) read as {read.Describe()}, expected ResourceNotFoundException");
            }
        }

        if (listed.Count == 0)
        {
            return;
        }

        // I3: the labelled versions decrypt and hold what was written; I1: AWSCURRENT never went back in real time.
        var currentRead = await client.CallAsync("GetSecretValue", SecretsClient.Obj(("SecretId", secretId), ("VersionStage", "AWSCURRENT")), ct);
        if (!currentRead.IsSuccess)
        {
            Fail($"I3: AWSCURRENT cannot be read: {currentRead.Describe()}");
            return;
        }

        string currentId = currentRead.Str("VersionId");
        if (holders.TryGetValue("AWSCURRENT", out var cur) && cur.Count == 1 && cur[0] != currentId)
        {
            Fail($"I3: DescribeSecret says AWSCURRENT is {cur[0]}, GetSecretValue says {currentId}");
        }

        if (byToken.TryGetValue(currentId, out var currentWrite))
        {
            if (HashOf(currentRead.Json) != currentWrite.ValueHash)
            {
                Fail($"I3: AWSCURRENT {currentId} value hash differs from the one written");
            }

            var later = writes.Where(w => w.Outcome == Outcome.Acknowledged && w.SentAtTicks > currentWrite.CompletedAtTicks).ToList();
            if (later.Count > 0)
            {
                Fail($"I1: AWSCURRENT is {currentId}, but {later.Count} acknowledged writes were sent after it completed (e.g. {later[0].Token})");
            }
        }

        if (options.OnlyDefaultStages && listed.Count >= 2)
        {
            if (!holders.TryGetValue("AWSPREVIOUS", out var previous) || previous.Count != 1)
            {
                Fail($"I3: {listed.Count} versions written with default stages but no single AWSPREVIOUS");
            }
            else if (previous[0] == currentId)
            {
                Fail("I3: AWSPREVIOUS and AWSCURRENT on the same version");
            }
        }

        // I4: idempotent replays change nothing; a different value under a used token is refused.
        var rng = new Random(HashCode.Combine(options.Seed, secretId.GetHashCode(StringComparison.Ordinal)));
        var acknowledged = writes.Where(w => w.Outcome == Outcome.Acknowledged && w.Op == "PutSecretValue").ToArray();
        rng.Shuffle(acknowledged);
        var replays = acknowledged.Take(options.ReplaysPerSecret).ToList();
        var differentValue = acknowledged.Skip(options.ReplaysPerSecret).Take(options.DifferentValueReplaysPerSecret).ToList();
        if (replays.Count + differentValue.Count == 0)
        {
            return;
        }

        foreach (var w in replays)
        {
            var body = SecretsClient.Obj(("SecretId", secretId), ("ClientRequestToken", w.Token));
            values.For(w.Token).WriteTo(body);
            var replay = await client.CallAsync("PutSecretValue", body, ct);
            if (!replay.IsSuccess)
            {
                Fail($"I4: replay of {w.Token} failed: {replay.Describe()}");
            }
            else if (replay.Json?["VersionId"]?.GetValue<string>() != w.Token)
            {
                Fail($"I4: replay of {w.Token} answered VersionId {replay.Json?["VersionId"]}");
            }
        }

        foreach (var w in differentValue)
        {
            var body = SecretsClient.Obj(("SecretId", secretId), ("ClientRequestToken", w.Token));
            values.Other(w.Token).WriteTo(body);
            var replay = await client.CallAsync("PutSecretValue", body, ct);
            if (replay.IsSuccess || replay.ErrorType != "ResourceExistsException")
            {
                Fail($"I4: {w.Token} re-sent with another value answered {replay.Describe()}, expected ResourceExistsException");
            }
        }

        var listedAfter = await ListVersionsAsync(secretId, ct);
        var labelsAfter = await LabelsAsync(secretId, ct);
        if (!SameVersions(listed, listedAfter) || !SameLabels(labels, labelsAfter))
        {
            Fail($"I4: replays changed the secret (versions {listed.Count} → {listedAfter.Count} or labels moved)");
        }
    }

    /// <summary>I7: <c>PRAGMA integrity_check</c> on every SQLite database under the data directory.</summary>
    public static async Task<IReadOnlyList<string>> SqliteIntegrityAsync(string dataDirectory, CancellationToken ct = default)
    {
        var problems = new List<string>();
        var files = DatabaseFiles(dataDirectory).ToList();
        if (files.Count == 0)
        {
            problems.Add($"I7: no SQLite database under {dataDirectory}");
        }

        foreach (string file in files)
        {
            var cs = new SqliteConnectionStringBuilder { DataSource = file, Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ToString();
            await using var connection = new SqliteConnection(cs);
            await connection.OpenAsync(ct);
            await using var command = connection.CreateCommand();
            command.CommandText = "PRAGMA integrity_check";
            var rows = new List<string>();
            await using (var reader = await command.ExecuteReaderAsync(ct))
            {
                while (await reader.ReadAsync(ct))
                {
                    rows.Add(reader.GetString(0));
                }
            }

            if (rows is not ["ok"])
            {
                problems.Add($"I7: integrity_check of {Path.GetFileName(file)}: {string.Join("; ", rows.Take(10))}");
            }
        }

        return problems;
    }

    /// <summary>Files that start with the SQLite header, wherever the server put them.</summary>
    public static IEnumerable<string> DatabaseFiles(string dataDirectory)
    {
        if (!Directory.Exists(dataDirectory))
        {
            yield break;
        }

        byte[] magic = Encoding.ASCII.GetBytes("SQLite format 3\0");
        foreach (string file in Directory.EnumerateFiles(dataDirectory, "*", SearchOption.AllDirectories))
        {
            if (file.EndsWith("-wal", StringComparison.Ordinal) || file.EndsWith("-shm", StringComparison.Ordinal)
                || file.EndsWith("-journal", StringComparison.Ordinal))
            {
                continue;
            }

            var header = new byte[16];
            int read;
            using (var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete))
            {
                read = stream.ReadAtLeast(header, 16, throwOnEndOfStream: false);
            }

            if (read == 16 && header.AsSpan().SequenceEqual(magic))
            {
                yield return file;
            }
        }
    }

    private async Task<Dictionary<string, HashSet<string>>> ListVersionsAsync(string secretId, CancellationToken ct)
    {
        var versions = await client.ListAllAsync("ListSecretVersionIds",
            SecretsClient.Obj(("SecretId", secretId), ("IncludeDeprecated", true), ("MaxResults", 100)), "Versions", ct);
        var result = new Dictionary<string, HashSet<string>>(StringComparer.Ordinal);
        foreach (var v in versions)
        {
            string id = v["VersionId"]!.GetValue<string>();
            var stages = (v["VersionStages"] as JsonArray)?.Select(s => s!.GetValue<string>()) ?? [];
            if (!result.TryAdd(id, new HashSet<string>(stages, StringComparer.Ordinal)))
            {
                throw new InvalidOperationException($"ListSecretVersionIds lists {id} twice");
            }
        }

        return result;
    }

    private async Task<Dictionary<string, HashSet<string>>> LabelsAsync(string secretId, CancellationToken ct)
    {
        var describe = (await client.CallAsync("DescribeSecret", SecretsClient.Obj(("SecretId", secretId)), ct)).EnsureSuccess();
        var result = new Dictionary<string, HashSet<string>>(StringComparer.Ordinal);
        if (describe.Json?["VersionIdsToStages"] is JsonObject map)
        {
            foreach (var (id, stages) in map)
            {
                result[id] = new HashSet<string>((stages as JsonArray)?.Select(s => s!.GetValue<string>()) ?? [], StringComparer.Ordinal);
            }
        }

        return result;
    }

    private static bool SameVersions(Dictionary<string, HashSet<string>> a, Dictionary<string, HashSet<string>> b) =>
        a.Count == b.Count && a.Keys.All(b.ContainsKey);

    private static bool SameLabels(Dictionary<string, HashSet<string>> a, Dictionary<string, HashSet<string>> b) =>
        a.Count == b.Count && a.All(kv => b.TryGetValue(kv.Key, out var s) && s.SetEquals(kv.Value));

    /// <summary>SHA-256 of the value bytes in a GetSecretValue answer (SecretBinary decoded), or null.</summary>
    public static string? HashOf(JsonNode? response)
    {
        if (response?["SecretBinary"]?.GetValue<string>() is { } b)
        {
            return SeededValues.Hash(Convert.FromBase64String(b));
        }

        return response?["SecretString"]?.GetValue<string>() is { } s ? SeededValues.Hash(Encoding.UTF8.GetBytes(s)) : null;
    }
}
