using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Coffer.Agent;

/// <summary>
/// Re-reads <c>credentials_file_path</c> when its modification time changes, checked every five minutes, as AWS's
/// agent does (spec §6.6), so a rotated access key is picked up without a restart. A file that cannot be read or
/// holds no credentials for the profile keeps the current credentials, and is tried again at the next check even
/// if its time has not changed again (it may have been caught half written).
/// </summary>
internal sealed class CredentialsFileWatcher(string path, Func<string, string?> env, SigV4Signer signer, TimeProvider time, ILogger<CredentialsFileWatcher> log)
    : BackgroundService
{
    public static readonly TimeSpan Interval = TimeSpan.FromMinutes(5);

    private DateTime? _loadedModified = ModifiedTime(path);

    /// <summary>One check. True when new credentials were loaded.</summary>
    public bool ReloadIfChanged()
    {
        var modified = ModifiedTime(path);
        if (modified == _loadedModified) return false;
        AwsCredentials loaded;
        try
        {
            loaded = AwsCredentials.Resolve(path, env);
        }
        catch (Exception e) when (e is InvalidOperationException or IOException or UnauthorizedAccessException)
        {
            log.LogWarning("Could not reload credentials from {Path} ({Error}); keeping the current ones", path, e.GetType().Name);
            return false;
        }
        signer.Credentials = loaded;
        _loadedModified = modified;
        log.LogInformation("Reloaded upstream credentials: {Credentials}", loaded.ToString());
        return true;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try { await Task.Delay(Interval, time, stoppingToken).ConfigureAwait(false); }
            catch (OperationCanceledException) { break; }
            ReloadIfChanged();
        }
    }

    private static DateTime? ModifiedTime(string path)
    {
        try { return File.Exists(path) ? File.GetLastWriteTimeUtc(path) : null; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
    }
}
