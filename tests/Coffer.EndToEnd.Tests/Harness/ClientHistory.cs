using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;

namespace Coffer.EndToEnd.Tests.Harness;

internal enum Outcome
{
    /// <summary>HTTP 200 and a parsed answer: the ground truth for "acknowledged" (G1).</summary>
    Acknowledged,
    /// <summary>A 4xx answer: the write must not have happened.</summary>
    Rejected,
    /// <summary>No answer (connection cut, process killed) or a 5xx: all or nothing (I2).</summary>
    Unknown,
}

/// <summary>One client operation. Holds the value's hash only, never the value (reliability-matrix §3.6).</summary>
internal sealed record HistoryEntry(
    long Sequence,
    int Client,
    string Op,
    string SecretId,
    string Token,
    string ValueHash,
    long SentAtTicks,
    long CompletedAtTicks,
    Outcome Outcome,
    string? VersionId,
    int? Status,
    string? ErrorType);

/// <summary>
/// The append-only client-side history of a load or fault driver. Times are <see cref="Stopwatch"/> ticks, so
/// real-time order between operations can be judged (an operation sent after another was answered came after it).
/// </summary>
internal sealed class ClientHistory
{
    private readonly ConcurrentQueue<HistoryEntry> _entries = new();
    private long _sequence;

    public static long Now => Stopwatch.GetTimestamp();

    public HistoryEntry Append(int client, string op, string secretId, string token, string valueHash, long sentAt,
        Outcome outcome, string? versionId, int? status, string? errorType)
    {
        var entry = new HistoryEntry(Interlocked.Increment(ref _sequence), client, op, secretId, token, valueHash, sentAt, Now,
            outcome, versionId, status, errorType);
        _entries.Enqueue(entry);
        return entry;
    }

    public IReadOnlyList<HistoryEntry> Entries => _entries.ToArray();

    /// <summary>Writes the history as JSON lines (hashes only), for a failing run's post-mortem.</summary>
    public void WriteTo(string path)
    {
        using var writer = new StreamWriter(path, append: false);
        foreach (var e in _entries.OrderBy(e => e.Sequence))
        {
            writer.WriteLine(JsonSerializer.Serialize(e));
        }
    }
}
