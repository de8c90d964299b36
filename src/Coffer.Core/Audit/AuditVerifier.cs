using Coffer.Crypto;

namespace Coffer.Core.Audit;

public enum AuditFindingKind { Edited, Deleted, Inserted, Reordered, BadCheckpoint }

public sealed record AuditFinding(AuditFindingKind Kind, long Seq, string Detail);

public sealed record AuditVerifyReport(long Records, long Checkpoints, long LastSeq, long? LastCheckpointSeq, IReadOnlyList<AuditFinding> Findings)
{
    public bool Intact => Findings.Count == 0;
    /// <summary>Records after the last signed checkpoint: their chain is intact but not yet signed.</summary>
    public long Unsigned => LastSeq - (LastCheckpointSeq ?? 0);
}

/// <summary>
/// Checks a trail: storage order (reordered records), sequence numbers (deleted and inserted records), each
/// record's hash over its own content (edited records), each link to the previous hash (an edit whose hash was
/// recomputed), and every signed checkpoint (a chain rewritten from some point on). Records written after the
/// last checkpoint are reported as unsigned: removing them from the end is detectable only from the next
/// checkpoint on.
/// </summary>
public static class AuditVerifier
{
    public static AuditVerifyReport Verify(IEnumerable<(long Seq, string PrevHash, string Hash, byte[] EventJson)> storageOrder,
        IReadOnlyList<AuditCheckpoint> checkpoints, AuditKeys keys)
    {
        var findings = new List<AuditFinding>();
        var records = storageOrder.ToList();

        long max = 0;
        foreach (var r in records)
        {
            if (r.Seq < max) findings.Add(new(AuditFindingKind.Reordered, r.Seq, $"record {r.Seq} is stored after record {max}"));
            max = Math.Max(max, r.Seq);
        }

        var bySeq = records.OrderBy(r => r.Seq).ToList();
        var hashes = new Dictionary<long, string>();
        (long Seq, string Hash)? prev = null;
        foreach (var r in bySeq)
        {
            if (AuditRecord.ComputeHash(r.PrevHash, r.Seq, r.EventJson) != r.Hash)
                findings.Add(new(AuditFindingKind.Edited, r.Seq, $"record {r.Seq} does not match its hash"));
            var expected = (prev?.Seq ?? 0) + 1;
            if (prev is { } p && r.Seq == p.Seq)
                findings.Add(new(AuditFindingKind.Inserted, r.Seq, $"a second record with sequence number {r.Seq}"));
            else if (r.Seq > expected)
                findings.Add(new(AuditFindingKind.Deleted, expected, r.Seq - expected == 1 ? $"record {expected} is missing" : $"records {expected}..{r.Seq - 1} are missing"));
            else if (r.PrevHash != (prev?.Hash ?? AuditRecord.Genesis))
                findings.Add(new(AuditFindingKind.Edited, r.Seq - 1, $"record {r.Seq} does not follow record {r.Seq - 1}: that record was edited or replaced"));
            hashes.TryAdd(r.Seq, r.Hash);
            prev = (r.Seq, r.Hash);
        }

        long? lastCheckpoint = null;
        foreach (var c in checkpoints)
        {
            if (!keys.VerifyCheckpoint(AuditCheckpoint.Canonical(c.Seq, c.Hash, c.Time), c.Signature))
            {
                findings.Add(new(AuditFindingKind.BadCheckpoint, c.Seq, $"the checkpoint at {c.Seq} has a wrong signature (not written by this installation's key)"));
                continue;
            }
            if (!hashes.TryGetValue(c.Seq, out var h))
                findings.Add(new(AuditFindingKind.Deleted, c.Seq, $"record {c.Seq}, signed by a checkpoint, is missing"));
            else if (h != c.Hash)
                findings.Add(new(AuditFindingKind.Edited, c.Seq, $"the chain up to record {c.Seq} differs from the signed checkpoint: records at or before it were rewritten"));
            lastCheckpoint = Math.Max(lastCheckpoint ?? 0, c.Seq);
        }
        return new AuditVerifyReport(records.Count, checkpoints.Count, max, lastCheckpoint, findings);
    }
}
