using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Coffer.Core.Audit;

/// <summary>
/// An audit event as stored: its CloudTrail JSON, its place in the hash chain, and the columns sinks index on.
/// <see cref="Hash"/> = SHA-256 over <c>prevHash + "\n" + seq + "\n" + eventJson</c> (lower-case hex), so an
/// edited, removed, inserted or moved record breaks the chain at that point.
/// </summary>
public sealed record AuditRecord(
    long Seq,
    string PrevHash,
    string Hash,
    byte[] EventJson,
    DateTimeOffset EventTime,
    string EventId,
    string EventSource,
    string EventName,
    string? UserName,
    string? PrincipalArn,
    string? AccessKeyId,
    string? Resource,
    AuditOutcome Outcome,
    string? ErrorCode,
    bool ReadOnly,
    string? SourceIp)
{
    /// <summary>The previous hash of the first record.</summary>
    public static readonly string Genesis = new('0', 64);

    public static string ComputeHash(string prevHash, long seq, ReadOnlySpan<byte> eventJson)
    {
        // One-shot hash over "prev\nseq\njson" in a pooled buffer: no hash object per record.
        var length = prevHash.Length + 22 + eventJson.Length;
        var rented = System.Buffers.ArrayPool<byte>.Shared.Rent(length);
        try
        {
            var n = Encoding.ASCII.GetBytes(prevHash, rented);
            rented[n++] = (byte)'\n';
            seq.TryFormat(rented.AsSpan(n), out var digits, default, CultureInfo.InvariantCulture);
            n += digits;
            rented[n++] = (byte)'\n';
            eventJson.CopyTo(rented.AsSpan(n));
            n += eventJson.Length;
            Span<byte> hash = stackalloc byte[32];
            SHA256.HashData(rented.AsSpan(0, n), hash);
            return Convert.ToHexStringLower(hash);
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(rented);
        }
    }
}

/// <summary>
/// A signed statement "the chain reached <see cref="Seq"/> with hash <see cref="Hash"/> at <see cref="Time"/>",
/// authenticated with a key derived from the master key. Rewriting the chain after an edit cannot produce it.
/// </summary>
public sealed record AuditCheckpoint(long Seq, string Hash, DateTimeOffset Time, string Signature)
{
    public static string Canonical(long seq, string hash, DateTimeOffset time) =>
        "coffer-audit-checkpoint-v1\n" + seq.ToString(CultureInfo.InvariantCulture) + "\n" + hash + "\n" +
        time.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture);
}

/// <summary>Where a sink's chain ends: the last record's sequence number and hash.</summary>
public readonly record struct AuditChainHead(long Seq, string Hash);

/// <summary>
/// A place audit records go. Methods are called from the audit writer thread only, one at a time.
/// Invariants: <see cref="Write"/> either hands every record of the batch over (to the OS, or to the disk when
/// <c>durable</c>) or throws; a sink that threw may succeed on a later call (it reopens what it needs), so
/// service resumes when the fault is repaired.
/// </summary>
public interface IAuditSink : IDisposable
{
    /// <summary>"store", "file:/path" or "stdout".</summary>
    string Name { get; }

    void Write(IReadOnlyList<AuditRecord> records, AuditCheckpoint? checkpoint, bool durable);

    /// <summary>Throws when a write would fail now (the destination is gone or unwritable). Writes nothing.</summary>
    void Probe();

    /// <summary>The end of the chain this sink holds, to continue it after a restart; null when empty or unknown.</summary>
    AuditChainHead? ReadHead();
}
