namespace Coffer.Core.Secrets;

/// <summary>
/// Version clean-up (spec §2.4): unlabelled (deprecated) versions are removed, oldest first, while the secret has
/// more than <see cref="SecretsOptions.VersionsToKeep"/> versions, but never a version younger than
/// <see cref="SecretsOptions.VersionMinimumAge"/>.
/// </summary>
public static class Retention
{
    public static List<SecretVersion> SelectForDeletion(Secret secret, DateTimeOffset now, SecretsOptions options)
    {
        var excess = secret.Versions.Count - options.VersionsToKeep;
        var doomed = new List<SecretVersion>();
        if (excess <= 0) return doomed;
        var cutoff = now - options.VersionMinimumAge;
        foreach (var v in secret.Versions) // stored oldest first
        {
            if (doomed.Count == excess) break;
            if (v.Stages.Count == 0 && v.CreatedDate < cutoff) doomed.Add(v);
        }
        return doomed;
    }
}
