using System.Collections.Concurrent;
using Coffer.Core.Principals;
using Coffer.Crypto;

namespace Coffer.Core.Tests.Principals;

/// <summary>AccessKeyService's cache of opened keys against a revocation that races a lookup.</summary>
public sealed class AccessKeyRevocationTests
{
    /// <summary>Keys in memory; a lookup reads the record at once and may then be held until the test lets it go.</summary>
    private sealed class HeldStore : IAccountStore
    {
        public readonly ConcurrentDictionary<string, AccessKeyRecord> Keys = new();
        public TaskCompletionSource? Hold;

        public Task<string?> GetSettingAsync(string name, CancellationToken ct) => Task.FromResult<string?>(null);
        public Task<string> GetOrAddSettingAsync(string name, string value, CancellationToken ct) => Task.FromResult(value);
        public Task<bool> InsertAccessKeyAsync(AccessKeyRecord key, CancellationToken ct) => Task.FromResult(Keys.TryAdd(key.AccessKeyId, key));

        public async Task<AccessKeyRecord?> FindAccessKeyAsync(string accessKeyId, CancellationToken ct)
        {
            var record = Keys.TryGetValue(accessKeyId, out var k) ? k : null;
            if (Hold is { } hold) await hold.Task;
            return record;
        }
    }

    [Fact]
    public async Task A_lookup_that_read_the_key_before_its_deactivation_does_not_cache_it_past_the_revocation()
    {
        var store = new HeldStore();
        var keys = new AccessKeyService(store, new EnvelopeCipher(MasterKey.Generate()), "111111111111", TimeProvider.System);
        var (record, _) = await keys.CreateUserKeyAsync("agent", "arn:aws:iam::111111111111:user/agent", default);

        store.Hold = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var early = keys.FindAsync(record.AccessKeyId, default).AsTask(); // has read "Active"
        store.Keys[record.AccessKeyId] = record with { Status = "Inactive" };
        keys.Forget(record.AccessKeyId);                                   // as UpdateAccessKey does after the store
        var hold = store.Hold;
        store.Hold = null;
        hold.SetResult();
        Assert.NotNull(await early); // it began before the revocation

        Assert.Null(await keys.FindAsync(record.AccessKeyId, default));
    }
}
