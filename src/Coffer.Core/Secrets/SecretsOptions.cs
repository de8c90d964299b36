namespace Coffer.Core.Secrets;

/// <summary>Quotas and limits of the Secrets Manager API (spec §5). Defaults are AWS's published figures.</summary>
public sealed class SecretsOptions
{
    /// <summary>AWS keeps the 100 most recent versions plus every version younger than 24 hours (spec §2.4).</summary>
    public int VersionsToKeep { get; set; } = 100;
    public TimeSpan VersionMinimumAge { get; set; } = TimeSpan.FromHours(24);
    /// <summary>Hard ceiling on versions of one secret (unlabelled young versions count); beyond it writes get LimitExceededException.</summary>
    public int MaxVersionsPerSecret { get; set; } = 1000;
    public int MaxTagsPerSecret { get; set; } = 50;
    public int MaxStagesPerSecret { get; set; } = 20;
    /// <summary>Refuse ForceDeleteWithoutRecovery (purge protection).</summary>
    public bool PurgeProtection { get; set; }
}
