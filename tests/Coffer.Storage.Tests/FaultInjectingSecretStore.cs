using Coffer.Core.Principals;
using Coffer.Core.Secrets;
using Microsoft.Data.Sqlite;

namespace Coffer.Storage.Tests;

/// <summary>What a <see cref="FaultInjectingSecretStore"/> does (reliability matrix §3.2).</summary>
public sealed record FaultPlan
{
    /// <summary>Fail exactly the Nth intercepted call (1-based), counting store and transaction calls in <see cref="Scope"/>.</summary>
    public int? FailNthCall { get; init; }

    /// <summary>Fail this share of intercepted calls, 0–100, drawn from a generator seeded with <see cref="Seed"/>.</summary>
    public double FailPercentage { get; init; }

    public int Seed { get; init; } = 1;

    /// <summary>Added before every intercepted call, timed by <see cref="Time"/>.</summary>
    public TimeSpan Latency { get; init; }

    public TimeProvider Time { get; init; } = TimeProvider.System;

    public FaultKind Kind { get; init; } = FaultKind.DiskFull;

    public FaultScope Scope { get; init; } = FaultScope.All;

    /// <summary>For store-level writes: fail before the inner store runs (nothing applied) or after it committed (acknowledgement lost).</summary>
    public FaultTiming Timing { get; init; } = FaultTiming.Before;
}

public enum FaultKind { DiskFull, Busy, Io }

public enum FaultScope { All, StoreCalls, TransactionCalls }

public enum FaultTiming { Before, After }

/// <summary>
/// A decorator over any store that fails chosen calls or slows them down, so the contract suite can show what
/// callers see under faults and that nothing is half-written. Faults thrown inside a transaction call abort the
/// caller's work, which the inner store must roll back as a whole.
/// </summary>
public sealed class FaultInjectingSecretStore(ISecretStore secrets, IAccountStore accounts, FaultPlan plan) : ISecretStore, IAccountStore
{
    private readonly Random _random = new(plan.Seed);
    private readonly Lock _randomLock = new();
    private int _calls;
    private int _injected;

    /// <summary>How many faults were thrown so far.</summary>
    public int InjectedFaults => Volatile.Read(ref _injected);

    public static bool IsInjected(Exception error) => error.Data.Contains(InjectedKey);

    private const string InjectedKey = "coffer.injected-fault";

    private bool ShouldFail(bool transactionCall)
    {
        if (plan.Scope == FaultScope.StoreCalls && transactionCall) return false;
        if (plan.Scope == FaultScope.TransactionCalls && !transactionCall) return false;
        var call = Interlocked.Increment(ref _calls);
        if (plan.FailNthCall == call) return true;
        if (plan.FailPercentage <= 0) return false;
        lock (_randomLock) return _random.NextDouble() * 100 < plan.FailPercentage;
    }

    private Exception Fault()
    {
        Interlocked.Increment(ref _injected);
        Exception error = plan.Kind switch
        {
            FaultKind.DiskFull => new SqliteException("SQLite Error 13: 'database or disk is full'.", 13),
            FaultKind.Busy => new SqliteException("SQLite Error 5: 'database is locked'.", 5),
            _ => new IOException("Injected I/O fault."),
        };
        error.Data[InjectedKey] = true;
        return error;
    }

    private async Task<T> Call<T>(Func<Task<T>> inner, bool isWrite, CancellationToken ct)
    {
        if (plan.Latency > TimeSpan.Zero) await Task.Delay(plan.Latency, plan.Time, ct);
        var failAfter = false;
        if (ShouldFailAt(isWrite, out var before))
        {
            if (before) throw Fault();
            failAfter = true;
        }
        var result = await inner();
        if (failAfter) throw Fault();
        return result;
    }

    private bool ShouldFailAt(bool isWrite, out bool before)
    {
        before = !isWrite || plan.Timing == FaultTiming.Before;
        return ShouldFail(transactionCall: false);
    }

    private void InTransaction()
    {
        if (ShouldFail(transactionCall: true)) throw Fault();
    }

    public Task<Secret?> FindByArnAsync(string arn, CancellationToken ct) =>
        Call(() => secrets.FindByArnAsync(arn, ct), false, ct);

    public Task<Secret?> FindByNameAsync(string region, string name, CancellationToken ct) =>
        Call(() => secrets.FindByNameAsync(region, name, ct), false, ct);

    public Task<byte[]?> ReadBlobAsync(long secretId, string versionId, CancellationToken ct) =>
        Call(() => secrets.ReadBlobAsync(secretId, versionId, ct), false, ct);

    public Task<IReadOnlyList<Secret>> ListAsync(string region, CancellationToken ct) =>
        Call(() => secrets.ListAsync(region, ct), false, ct);

    public Task<IReadOnlyList<Secret>> ListDueForPurgeAsync(DateTimeOffset now, CancellationToken ct) =>
        Call(() => secrets.ListDueForPurgeAsync(now, ct), false, ct);

    public Task<IReadOnlyList<Secret>> ListRotatingAsync(CancellationToken ct) =>
        Call(() => secrets.ListRotatingAsync(ct), false, ct);

    public Task<T> WriteAsync<T>(Func<ISecretTransaction, T> work, CancellationToken ct) =>
        Call(() => secrets.WriteAsync(tx => work(new Transaction(tx, this)), ct), true, ct);

    public Task<string?> GetSettingAsync(string name, CancellationToken ct) =>
        Call(() => accounts.GetSettingAsync(name, ct), false, ct);

    public Task<string> GetOrAddSettingAsync(string name, string value, CancellationToken ct) =>
        Call(() => accounts.GetOrAddSettingAsync(name, value, ct), true, ct);

    public Task<AccessKeyRecord?> FindAccessKeyAsync(string accessKeyId, CancellationToken ct) =>
        Call(() => accounts.FindAccessKeyAsync(accessKeyId, ct), false, ct);

    public Task<bool> InsertAccessKeyAsync(AccessKeyRecord key, CancellationToken ct) =>
        Call(() => accounts.InsertAccessKeyAsync(key, ct), true, ct);

    private sealed class Transaction(ISecretTransaction inner, FaultInjectingSecretStore owner) : ISecretTransaction
    {
        public Secret? FindByArn(string arn) { owner.InTransaction(); return inner.FindByArn(arn); }
        public Secret? FindByName(string region, string name) { owner.InTransaction(); return inner.FindByName(region, name); }
        public byte[]? ReadBlob(long secretId, string versionId) { owner.InTransaction(); return inner.ReadBlob(secretId, versionId); }
        public void InsertSecret(Secret secret) { owner.InTransaction(); inner.InsertSecret(secret); }
        public void UpdateSecret(Secret secret) { owner.InTransaction(); inner.UpdateSecret(secret); }
        public void UpsertVersion(long secretId, SecretVersion version, byte[]? blob) { owner.InTransaction(); inner.UpsertVersion(secretId, version, blob); }
        public void DeleteVersion(long secretId, string versionId) { owner.InTransaction(); inner.DeleteVersion(secretId, versionId); }
        public void PurgeSecret(long secretId) { owner.InTransaction(); inner.PurgeSecret(secretId); }
    }
}
