using Microsoft.Extensions.Logging.Abstractions;

namespace Coffer.Agent.Tests;

/// <summary><c>credentials_file_path</c> is re-read when the file changes, as AWS's agent does (spec §6.6).</summary>
public sealed class CredentialsFileWatcherTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("coffer-agent-test-").FullName;
    private readonly string _path;
    private DateTime _mtime = new(2025, 1, 2, 3, 4, 5, DateTimeKind.Utc);

    public CredentialsFileWatcherTests()
    {
        _path = Path.Combine(_dir, "credentials");
        Write("[default]\naws_access_key_id = OLD\naws_secret_access_key = old-secret\n");
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private void Write(string text)
    {
        File.WriteAllText(_path, text);
        _mtime += TimeSpan.FromMinutes(1);
        File.SetLastWriteTimeUtc(_path, _mtime);
    }

    private static string? NoEnv(string name) => null;

    private (CredentialsFileWatcher Watcher, SigV4Signer Signer) Start()
    {
        var signer = new SigV4Signer(AwsCredentials.Resolve(_path, NoEnv), "us-east-1", "secretsmanager");
        return (new CredentialsFileWatcher(_path, NoEnv, signer, TimeProvider.System, NullLogger<CredentialsFileWatcher>.Instance), signer);
    }

    private static string Authorization(SigV4Signer signer)
    {
        var headers = new SortedDictionary<string, string>(StringComparer.Ordinal);
        signer.Sign("POST", "127.0.0.1:8390", "/", [], headers, "{}"u8, new DateTimeOffset(2025, 1, 2, 3, 4, 5, TimeSpan.Zero));
        return headers["authorization"];
    }

    [Fact]
    public void A_rewritten_file_is_used_for_the_next_signature()
    {
        var (watcher, signer) = Start();
        var before = Authorization(signer);
        Assert.False(watcher.ReloadIfChanged());

        Write("[default]\naws_access_key_id = NEW\naws_secret_access_key = new-secret\n");
        Assert.True(watcher.ReloadIfChanged());
        Assert.Equal("NEW", signer.Credentials.AccessKeyId);
        var after = Authorization(signer);
        Assert.Contains("Credential=NEW/", after, StringComparison.Ordinal);
        // Same date, new secret key: the derived signing key must not be reused.
        Assert.NotEqual(before.Split("Signature=")[1], after.Split("Signature=")[1]);
        Assert.False(watcher.ReloadIfChanged());
    }

    [Fact]
    public void A_broken_file_keeps_the_current_credentials_and_is_tried_again()
    {
        var (watcher, signer) = Start();
        Write("half written");
        Assert.False(watcher.ReloadIfChanged());
        Assert.Equal("OLD", signer.Credentials.AccessKeyId);

        // Completed later with the same modification time: still picked up.
        File.WriteAllText(_path, "[default]\naws_access_key_id = NEW\naws_secret_access_key = new-secret\n");
        File.SetLastWriteTimeUtc(_path, _mtime);
        Assert.True(watcher.ReloadIfChanged());
        Assert.Equal("NEW", signer.Credentials.AccessKeyId);
    }
}
