using System.Collections.Concurrent;
using System.Net;
using System.Text;
using Coffer.Core.Principals;
using Coffer.Core.Secrets;
using Coffer.Crypto;
using Coffer.Protocol.SigV4;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Coffer.Protocol.Tests;

/// <summary>One signed request as botocore produced it (see SigV4/make_vectors.py).</summary>
internal sealed record SigV4Vector(string Name, string Url, string Target, string AmzDate, string Authorization, string Body, string CanonicalRequest)
{
    public DateTimeOffset SignedAt => DateTimeOffset.ParseExact(AmzDate, "yyyyMMdd'T'HHmmss'Z'", null,
        System.Globalization.DateTimeStyles.AssumeUniversal | System.Globalization.DateTimeStyles.AdjustToUniversal);

    /// <summary>The request as Kestrel would present it.</summary>
    public DefaultHttpContext ToHttpContext()
    {
        var uri = new Uri(Url);
        var http = new DefaultHttpContext();
        var body = Encoding.UTF8.GetBytes(Body);
        var request = http.Request;
        request.Method = "POST";
        request.Path = uri.AbsolutePath;
        request.QueryString = new QueryString(uri.Query);
        http.Features.Get<IHttpRequestFeature>()!.RawTarget = uri.PathAndQuery;
        request.Headers.Host = uri.Authority;
        request.Headers.ContentType = "application/x-amz-json-1.1";
        request.Headers["X-Amz-Target"] = Target;
        request.Headers["X-Amz-Date"] = AmzDate;
        request.Headers.Authorization = Authorization;
        request.Headers.UserAgent = SigV4.BotocoreVectors.UserAgent;
        request.ContentLength = body.Length;
        request.Body = new MemoryStream(body);
        http.Connection.RemoteIpAddress = IPAddress.Loopback;
        http.Response.Body = new MemoryStream();
        return http;
    }
}

/// <summary>A clock the test sets.</summary>
internal sealed class ManualClock(DateTimeOffset now) : TimeProvider
{
    public DateTimeOffset Now { get; set; } = now;
    public override DateTimeOffset GetUtcNow() => Now;
}

/// <summary>Account settings and keys in memory: the verifier's tests need no database.</summary>
internal sealed class MemoryAccountStore : IAccountStore
{
    private readonly ConcurrentDictionary<string, string> _settings = new();
    private readonly ConcurrentDictionary<string, AccessKeyRecord> _keys = new();

    public Task<string?> GetSettingAsync(string name, CancellationToken ct) =>
        Task.FromResult(_settings.TryGetValue(name, out var v) ? v : null);

    public Task<string> GetOrAddSettingAsync(string name, string value, CancellationToken ct) =>
        Task.FromResult(_settings.GetOrAdd(name, value));

    public Task<AccessKeyRecord?> FindAccessKeyAsync(string accessKeyId, CancellationToken ct) =>
        Task.FromResult(_keys.TryGetValue(accessKeyId, out var k) ? k : null);

    public Task<bool> InsertAccessKeyAsync(AccessKeyRecord key, CancellationToken ct) =>
        Task.FromResult(_keys.TryAdd(key.AccessKeyId, key));
}

/// <summary>A store that fails every call: the edge's tests reach the service only for GetRandomPassword and the 500 path.</summary>
internal sealed class BrokenSecretStore : ISecretStore
{
    private static InvalidOperationException Broken() => new("store is broken: value=CANARY-store-message");
    public Task<Secret?> FindByArnAsync(string arn, CancellationToken ct) => throw Broken();
    public Task<Secret?> FindByNameAsync(string region, string name, CancellationToken ct) => throw Broken();
    public Task<byte[]?> ReadBlobAsync(long secretId, string versionId, CancellationToken ct) => throw Broken();
    public Task<IReadOnlyList<Secret>> ListAsync(string region, CancellationToken ct) => throw Broken();
    public Task<IReadOnlyList<Secret>> ListDueForPurgeAsync(DateTimeOffset now, CancellationToken ct) => throw Broken();
    public Task<IReadOnlyList<Secret>> ListRotatingAsync(CancellationToken ct) => throw Broken();
    public Task<T> WriteAsync<T>(Func<ISecretTransaction, T> work, CancellationToken ct) => throw Broken();
}

internal static class Fixture
{
    public static async Task<(SigV4Verifier Verifier, ManualClock Clock, AccessKeyService Keys)> VerifierAsync(DateTimeOffset now)
    {
        var clock = new ManualClock(now);
        var keys = new AccessKeyService(new MemoryAccountStore(), new EnvelopeCipher(MasterKey.Generate()), "123456789012", clock);
        await keys.AddAdministratorKeyAsync(SigV4.BotocoreVectors.AccessKeyId, SigV4.BotocoreVectors.SecretAccessKey, default);
        return (new SigV4Verifier(keys, clock), clock, keys);
    }
}
