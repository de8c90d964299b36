using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using Coffer.Core;
using Coffer.Core.Alerts;
using Coffer.Core.Audit;
using Coffer.Core.Principals;
using Coffer.Core.Secrets;
using Coffer.Crypto;
using Coffer.LoadGen;
using Coffer.Protocol;
using Coffer.Protocol.SigV4;
using Coffer.Server;
using Coffer.Storage.Sqlite;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging.Abstractions;

// coffer-pathbench [--iterations N] [--secrets N] [--value-size B] [--audit 0|1] [--concurrency C]
// Runs signed GetSecretValue and PutSecretValue requests through AwsJsonEndpoint.HandleAsync on a real SQLite
// store in a temporary directory, C at a time (1 by default), and prints CPU µs per request (whole process, so
// the SQLite writer thread counts) and wall µs per request. With --audit 1 every call is recorded as the server
// records it (audit trail in the default mode on the store sink, server metrics and alert rules watching it).
var iterations = Arg("--iterations", 20_000);
var secrets = Arg("--secrets", 1000);
var valueSize = Arg("--value-size", 4096);
var puts = Arg("--puts", 3000);
var audited = Arg("--audit", 0) == 1;
var concurrency = Math.Max(1, Arg("--concurrency", 1));

var uri = new Uri("http://127.0.0.1:8390/");
var signer = new SigV4Signer("AKIDPATHBENCH", "pathbench-secret", "us-east-1", "secretsmanager");
AwsJsonEndpoint endpoint = null!;
var dir = Directory.CreateTempSubdirectory("coffer-pathbench-").FullName;
try
{
    await using var store = SqliteStore.Open(Path.Combine(dir, "coffer.db"));
    var cipher = new EnvelopeCipher(MasterKey.Generate());
    var accessKeys = new AccessKeyService(store, cipher, "123456789012", TimeProvider.System);
    await accessKeys.AddAdministratorKeyAsync("AKIDPATHBENCH", "pathbench-secret", CancellationToken.None);
    var service = new SecretService(store, cipher, "123456789012", TimeProvider.System, new SecretsOptions());
    await using var trail = audited
        ? new AuditTrail([new SqliteAuditSink(Path.Combine(dir, "coffer.db"))], new AuditKeys(MasterKey.Generate()), new AuditOptions(), TimeProvider.System)
        : null;
    var metrics = new ServerMetrics();
    if (trail is not null)
    {
        metrics.Watch(trail);
        new AlertRules(new AlertStream(), new AlertRuleOptions(), TimeProvider.System).Watch(trail);
    }
    var services = new AwsJsonServices { Secrets = service, Audit = trail, Metrics = trail is null ? null : metrics };
    endpoint = new AwsJsonEndpoint(services, new SigV4Verifier(accessKeys, TimeProvider.System), TimeProvider.System,
        NullLogger<AwsJsonEndpoint>.Instance);
    var value = new string('v', valueSize);

    for (var i = 0; i < secrets; i++)
        await Send("CreateSecret", Json(w => { w.WriteString("Name", $"bench/{i}"); w.WriteString("SecretString", value); w.WriteString("ClientRequestToken", Guid.NewGuid().ToString()); }));

    // Pre-signed GetSecretValue requests, one per secret (signing is the client's cost, not the server's).
    var gets = Enumerable.Range(0, secrets).Select(i => Sign("GetSecretValue", Json(w => w.WriteString("SecretId", $"bench/{i}")))).ToArray();
    for (var i = 0; i < Math.Min(iterations, 2000); i++) await Run(gets[i % gets.Length]); // warm-up (JIT tiers, caches)
    Measure("GetSecretValue", iterations, i => Run(gets[i % gets.Length]));
    using var ticks = args.Contains("--alloc-ticks") ? new AllocationTicks() : null;
    if (ticks is not null) ticks.On = true;
    Measure("GetSecretValue (again)", iterations, i => Run(gets[i % gets.Length]));
    if (ticks is not null)
    {
        ticks.On = false;
        foreach (var (type, bytes) in ticks.Bytes.OrderByDescending(kv => kv.Value).Take(25))
            Console.WriteLine($"  {bytes / (double)iterations,8:N0} B/request  {type}");
    }

    var putRequests = Enumerable.Range(0, puts).Select(i => Sign("PutSecretValue", Json(w =>
    {
        w.WriteString("SecretId", $"bench/{i % secrets}");
        w.WriteString("SecretString", value);
        w.WriteString("ClientRequestToken", Guid.NewGuid().ToString());
    }))).ToArray();
    for (var i = 0; i < Math.Min(200, puts); i++) await Run(putRequests[i]);
    Measure("PutSecretValue (1 client, durable)", Math.Max(0, puts - 200), i => Run(putRequests[Math.Min(200, puts) + i]));
}
finally
{
    Directory.Delete(dir, recursive: true);
}

void Measure(string label, int n, Func<int, Task> one)
{
    GC.Collect();
    var process = Process.GetCurrentProcess();
    var (allocated0, gen0, gen1, gen2) = (GC.GetTotalAllocatedBytes(), GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2));
    var cpu0 = process.TotalProcessorTime;
    var wall = Stopwatch.StartNew();
    if (concurrency == 1)
        for (var i = 0; i < n; i++) one(i).GetAwaiter().GetResult();
    else
    {
        var next = -1;
        Task.WaitAll([.. Enumerable.Range(0, concurrency).Select(_ => Task.Run(async () =>
        {
            for (var i = Interlocked.Increment(ref next); i < n; i = Interlocked.Increment(ref next)) await one(i);
        }))]);
    }
    wall.Stop();
    process.Refresh();
    var cpu = process.TotalProcessorTime - cpu0;
    var allocated = GC.GetTotalAllocatedBytes() - allocated0;
    Console.WriteLine($"{label,-40} {n,7} requests  CPU {cpu.TotalMicroseconds / n,8:F1} µs/request  wall {wall.Elapsed.TotalMicroseconds / n,8:F1} µs/request" +
        $"  allocated {allocated / Math.Max(1, n),6:N0} B/request  GCs gen0/1/2 {GC.CollectionCount(0) - gen0}/{GC.CollectionCount(1) - gen1}/{GC.CollectionCount(2) - gen2}");
}

async Task Send(string action, byte[] body) => await Run(Sign(action, body));

(string Action, byte[] Body, SignedRequest Signed) Sign(string action, byte[] body)
{
    var signable = new SignableRequest("POST", uri, "/", [],
        [new("content-type", "application/x-amz-json-1.1"), new("x-amz-target", "secretsmanager." + action)], body);
    return (action, body, signer.Sign(signable, SigV4Signer.FormatAmzDate(DateTime.UtcNow)));
}

async Task Run((string Action, byte[] Body, SignedRequest Signed) r)
{
    var http = new DefaultHttpContext();
    var request = http.Request;
    request.Method = "POST";
    request.Path = "/";
    http.Features.Get<IHttpRequestFeature>()!.RawTarget = "/";
    request.Headers.Host = r.Signed.Host;
    request.Headers.ContentType = "application/x-amz-json-1.1";
    request.Headers["X-Amz-Target"] = "secretsmanager." + r.Action;
    request.Headers["X-Amz-Date"] = r.Signed.AmzDate;
    request.Headers.Authorization = r.Signed.Authorization;
    request.ContentLength = r.Body.Length;
    request.Body = new MemoryStream(r.Body, writable: false);
    http.Connection.RemoteIpAddress = IPAddress.Loopback;
    var response = new MemoryStream();
    http.Response.Body = response;
    await endpoint.HandleAsync(http);
    if (http.Response.StatusCode != 200)
        throw new InvalidOperationException($"{r.Action} answered {http.Response.StatusCode}: {Encoding.UTF8.GetString(response.ToArray())}");
}

static byte[] Json(Action<Utf8JsonWriter> members)
{
    using var buffer = new MemoryStream();
    using (var w = new Utf8JsonWriter(buffer))
    {
        w.WriteStartObject();
        members(w);
        w.WriteEndObject();
    }
    return buffer.ToArray();
}

int Arg(string name, int fallback)
{
    var i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1], System.Globalization.CultureInfo.InvariantCulture) : fallback;
}

/// <summary>--alloc-ticks: the runtime's AllocationTick events (one per ~100 KB allocated), counted by type.</summary>
internal sealed class AllocationTicks : System.Diagnostics.Tracing.EventListener
{
    public readonly System.Collections.Concurrent.ConcurrentDictionary<string, long> Bytes = new();
    public volatile bool On;

    protected override void OnEventSourceCreated(System.Diagnostics.Tracing.EventSource source)
    {
        if (source.Name == "Microsoft-Windows-DotNETRuntime")
            EnableEvents(source, System.Diagnostics.Tracing.EventLevel.Verbose, (System.Diagnostics.Tracing.EventKeywords)0x1);
    }

    protected override void OnEventWritten(System.Diagnostics.Tracing.EventWrittenEventArgs e)
    {
        if (!On || e.EventName is null || !e.EventName.StartsWith("GCAllocationTick", StringComparison.Ordinal) || e.Payload is null) return;
        var i = e.PayloadNames!.IndexOf("TypeName");
        var type = i >= 0 ? e.Payload[i] as string ?? "?" : "?";
        Bytes.AddOrUpdate(type, 100_000, (_, v) => v + 100_000);
    }
}
