namespace Coffer.Core.Secrets;

/// <summary>
/// Label moves (spec §2.3). Invariants kept by every method: a label is on at most one version; when
/// AWSCURRENT moves from A to B, AWSPREVIOUS moves to A; moving a label never removes the target's other labels.
/// Methods return the versions whose label sets changed, so the caller writes back only those.
/// </summary>
public static class StagingLabels
{
    public const string Current = "AWSCURRENT";
    public const string Previous = "AWSPREVIOUS";
    public const string Pending = "AWSPENDING";

    public static ISet<SecretVersion> Move(Secret secret, string label, SecretVersion target)
    {
        var changed = new HashSet<SecretVersion>(ReferenceEqualityComparer.Instance);
        var holder = secret.FindByStage(label);
        if (ReferenceEquals(holder, target)) return changed;
        if (holder is not null)
        {
            holder.Stages.Remove(label);
            changed.Add(holder);
        }
        target.Stages.Add(label);
        changed.Add(target);
        if (label == Current && holder is not null)
        {
            var previous = secret.FindByStage(Previous);
            if (previous is not null && !ReferenceEquals(previous, holder))
            {
                previous.Stages.Remove(Previous);
                changed.Add(previous);
            }
            if (!holder.Stages.Contains(Previous))
            {
                holder.Stages.Add(Previous);
                changed.Add(holder);
            }
        }
        return changed;
    }

    /// <summary>Distinct labels attached across all versions of the secret (quota: 20).</summary>
    public static int Count(Secret secret) => secret.Versions.Sum(v => v.Stages.Count);
}
