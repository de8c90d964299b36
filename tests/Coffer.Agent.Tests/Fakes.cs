using System.Collections.Concurrent;
using System.Text;

namespace Coffer.Agent.Tests;

/// <summary>A clock the test moves by hand.</summary>
internal sealed class ManualClock : TimeProvider
{
    private DateTimeOffset _now = new(2025, 1, 2, 3, 4, 5, TimeSpan.Zero);
    public override DateTimeOffset GetUtcNow() => _now;
    public void Advance(TimeSpan by) => _now += by;
}

/// <summary>
/// Stands in for the server in cache tests (the server itself is exercised end to end in
/// tests/clients/python/test_agent.py). Values are "&lt;secretId&gt;#&lt;version&gt;"; the version is bumped by
/// <see cref="Rotate"/>. <see cref="Gate"/>, when set, holds every call until released.
/// </summary>
internal sealed class FakeSource : ISecretSource
{
    private readonly ConcurrentDictionary<string, int> _versions = new();
    public int Calls;
    public TaskCompletionSource? Gate;
    public UpstreamException? Failure;

    public void Rotate(string secretId) => _versions.AddOrUpdate(secretId, 2, (_, v) => v + 1);

    public static string Arn(string secretId) => $"arn:aws:secretsmanager:us-east-1:123456789012:secret:{secretId}-AbCdEf";

    public async Task<FetchedSecret> GetSecretValueAsync(CacheKey key, CancellationToken ct)
    {
        Interlocked.Increment(ref Calls);
        var version = _versions.GetOrAdd(key.SecretId, 1); // the value as of the call's start
        if (Gate is { } gate) await gate.Task.ConfigureAwait(false);
        if (Failure is { } failure) throw failure;
        return new FetchedSecret(Arn(key.SecretId), Encoding.UTF8.GetBytes($"{key.SecretId}#{version}"));
    }
}
