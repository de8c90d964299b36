using Coffer.Core.Audit;
using Coffer.Core.Principals;
using Coffer.Crypto;
using Coffer.Storage.Sqlite;

namespace Coffer.Core.Tests.Audit;

/// <summary>A temp directory with a real Coffer database (migrated) and a master key, for audit tests.</summary>
internal sealed class AuditFixture : IAsyncDisposable
{
    public AuditFixture()
    {
        Directory = System.IO.Directory.CreateTempSubdirectory("coffer-audit-test-").FullName;
        DatabasePath = Path.Combine(Directory, "coffer.db");
        using (SqliteStore.Open(DatabasePath)) { }
        MasterKey = MasterKey.Generate();
        Keys = new AuditKeys(MasterKey);
        FilePath = Path.Combine(Directory, "audit.jsonl");
    }

    public string Directory { get; }
    public string DatabasePath { get; }
    public string FilePath { get; }
    public MasterKey MasterKey { get; }
    public AuditKeys Keys { get; }

    public AuditTrail Trail(IReadOnlyList<IAuditSink> sinks, AuditOptions? options = null) =>
        new(sinks, Keys, options ?? new AuditOptions(), TimeProvider.System);

    public static readonly Principal Alice = new("arn:aws:iam::123456789012:user/alice", "123456789012", "AIDAALICE", "alice", "AKIAALICE", false);

    public static AuditEvent Event(string name = "GetSecretValue", string? error = null, Principal? who = null, string? resource = "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-abcdef") => new()
    {
        EventTime = DateTimeOffset.UtcNow,
        EventSource = "secretsmanager.amazonaws.com",
        EventName = name,
        AwsRegion = "us-east-1",
        SourceIPAddress = "127.0.0.1",
        UserAgent = "test",
        UserIdentity = AuditIdentity.Of(who ?? Alice),
        RequestId = Guid.NewGuid().ToString(),
        ReadOnly = AuditFields.IsReadOnly(name),
        ErrorCode = error,
        ErrorMessage = error is null ? null : "message",
        Resources = resource is null ? [] : [new AuditResource(resource, "123456789012")],
    };

    public async ValueTask DisposeAsync()
    {
        Keys.Dispose();
        MasterKey.Dispose();
        await Task.Yield();
        try { System.IO.Directory.Delete(Directory, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
