using System.Net;
using System.Net.Sockets;
using Coffer.Core;
using Coffer.Core.Principals;
using Coffer.Core.Rotation;
using Coffer.Core.Secrets;
using Coffer.Crypto;
using Coffer.Storage.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;

namespace Coffer.Rotation.Tests;

/// <summary>A clock that moves only when told (no sleeps in unit tests).</summary>
internal sealed class ManualClock(DateTimeOffset start) : TimeProvider
{
    private DateTimeOffset _now = start;
    public override DateTimeOffset GetUtcNow() => _now;
    public void Advance(TimeSpan by) => _now += by;
    public void Set(DateTimeOffset to) => _now = to;
}

/// <summary>A real SQLite store in a temp dir, the service on it, a function catalog and an engine on a manual clock.</summary>
internal sealed class RotationRig : IAsyncDisposable
{
    public const string Account = "111111111111";
    public static readonly RequestContext Ctx = new(
        new Principal($"arn:aws:iam::{Account}:user/t", Account, "AIDATEST", "t", "AKIATEST", true), "us-east-1", "req-1");

    private readonly string _dir = Directory.CreateTempSubdirectory("coffer-rot-").FullName;
    private readonly MasterKey _key = MasterKey.Generate();

    public RotationRig(DateTimeOffset? start = null, RotationOptions? options = null)
    {
        Clock = new ManualClock(start ?? new DateTimeOffset(2026, 3, 1, 12, 0, 0, TimeSpan.Zero));
        Options = options ?? new RotationOptions { RetryBaseDelay = TimeSpan.FromMinutes(1), MaxAttempts = 3, AllowTestSchedules = true };
        Store = SqliteStore.Open(Path.Combine(_dir, "coffer.db"));
        Catalog = new RotationFunctionCatalog();
        Secrets = NewService();
        Engine = NewEngine(Secrets);
    }

    public ManualClock Clock { get; }
    public RotationOptions Options { get; }
    public SqliteStore Store { get; }
    public RotationFunctionCatalog Catalog { get; }
    public SecretService Secrets { get; private set; }
    public RotationEngine Engine { get; private set; }

    public SecretService NewService() => new(Store, new EnvelopeCipher(_key), Account, Clock, new SecretsOptions())
    {
        RotationFunctions = Catalog,
        AllowTestSchedules = true,
    };

    public RotationEngine NewEngine(SecretService secrets) =>
        new(secrets, Catalog, Options, Clock, NullLogger<RotationEngine>.Instance);

    /// <summary>A "restart": a new service and engine on the same store (what a new process would build).</summary>
    public void Restart()
    {
        Secrets = NewService();
        Engine = NewEngine(Secrets);
    }

    /// <summary>One scheduler pass and every run it started, to the end.</summary>
    public async Task<int> TickAsync()
    {
        var n = await Engine.TickAsync(default);
        await Engine.WhenIdleAsync();
        return n;
    }

    public async Task<string> CreateAsync(string name, string value)
    {
        var r = await Secrets.CreateSecretAsync(Ctx, new CreateSecretRequest { Name = name, SecretString = value, ClientRequestToken = Guid.NewGuid().ToString() }, default);
        return r.ARN;
    }

    public Task<SecretIdentityResult> RotateAsync(string id, string? function = null, RotationRules? rules = null, bool? immediately = null, string? token = null) =>
        Secrets.RotateSecretAsync(Ctx, new RotateSecretRequest
        {
            SecretId = id,
            ClientRequestToken = token ?? Guid.NewGuid().ToString(),
            RotationLambdaARN = function,
            RotationRules = rules,
            RotateImmediately = immediately,
        }, default);

    public Task<DescribeSecretResult> DescribeAsync(string id) =>
        Secrets.DescribeSecretAsync(Ctx, new DescribeSecretRequest { SecretId = id }, default);

    public async Task<string?> ValueAsync(string id, string stage = StagingLabels.Current) =>
        (await Secrets.GetSecretValueAsync(Ctx, new GetSecretValueRequest { SecretId = id, VersionStage = stage }, default)).SecretString;

    public Task<RotationStatusResult> StatusAsync(string id) =>
        Secrets.DescribeRotationAsync(Ctx, new SecretIdRequest { SecretId = id }, default);

    /// <summary>Label invariants (G2): exactly one AWSCURRENT, every label on at most one version.</summary>
    public async Task AssertLabelsAsync(string id)
    {
        var d = await DescribeAsync(id);
        var all = d.VersionIdsToStages!.SelectMany(p => p.Value).ToList();
        Assert.Equal(1, all.Count(l => l == StagingLabels.Current));
        Assert.Equal(all.Count, all.Distinct().Count());
    }

    public async ValueTask DisposeAsync()
    {
        await Engine.WhenIdleAsync();
        await Store.DisposeAsync();
        _key.Dispose();
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }
}

/// <summary>
/// A Lambda-style function that follows the AWS template on a plain secret (no database): createSecret stores
/// "v-TOKEN", finishSecret moves AWSCURRENT. Steps can be told to fail. Records every invocation.
/// </summary>
internal sealed class ScriptedFunction(Func<SecretService> secrets) : IRotationFunction
{
    public List<RotationEvent> Calls { get; } = [];
    public Dictionary<string, Queue<Exception>> Failures { get; } = [];
    public Func<RotationEvent, CancellationToken, Task>? Before { get; set; }

    public void FailNext(string step, Exception e, int times = 1)
    {
        if (!Failures.TryGetValue(step, out var q)) Failures[step] = q = new Queue<Exception>();
        for (var i = 0; i < times; i++) q.Enqueue(e);
    }

    public async Task InvokeAsync(RotationEvent e, CancellationToken ct)
    {
        lock (Calls) Calls.Add(e);
        if (Before is not null) await Before(e, ct);
        if (Failures.TryGetValue(e.Step, out var q) && q.Count > 0) throw q.Dequeue();
        var svc = secrets();
        var ctx = svc.RotationContext("us-east-1");
        var d = await svc.DescribeSecretAsync(ctx, new DescribeSecretRequest { SecretId = e.SecretId }, ct);
        var labels = d.VersionIdsToStages![e.ClientRequestToken];
        if (labels.Contains(StagingLabels.Current)) return;
        Assert.Contains(StagingLabels.Pending, labels);
        switch (e.Step)
        {
            case RotationSteps.CreateSecret:
                try
                {
                    await svc.GetSecretValueAsync(ctx, new GetSecretValueRequest { SecretId = e.SecretId, VersionId = e.ClientRequestToken, VersionStage = StagingLabels.Pending }, ct);
                }
                catch (ServiceException)
                {
                    await svc.PutSecretValueAsync(ctx, new PutSecretValueRequest
                    {
                        SecretId = e.SecretId, ClientRequestToken = e.ClientRequestToken, SecretString = "v-" + e.ClientRequestToken,
                        VersionStages = [StagingLabels.Pending], RotationToken = e.RotationToken,
                    }, ct);
                }
                break;
            case RotationSteps.FinishSecret:
                var current = d.VersionIdsToStages.First(p => p.Value.Contains(StagingLabels.Current)).Key;
                await svc.UpdateSecretVersionStageAsync(ctx, new UpdateSecretVersionStageRequest
                {
                    SecretId = e.SecretId, VersionStage = StagingLabels.Current, MoveToVersionId = e.ClientRequestToken, RemoveFromVersionId = current,
                }, ct);
                break;
        }
    }
}

/// <summary>
/// A TCP forwarder between a rotator and a real database (reliability matrix §3.4), so one test can make "the
/// database" unreachable without stopping the server other tests use. Modes: pass, refuse (connections closed).
/// </summary>
internal sealed class TcpFaultProxy : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly string _targetHost;
    private readonly int _targetPort;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<TcpClient> _open = [];
    private readonly Task _accept;

    public TcpFaultProxy(string targetHost, int targetPort)
    {
        _targetHost = targetHost;
        _targetPort = targetPort;
        _listener.Start();
        _accept = AcceptAsync();
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>When false, new connections are closed at once and open ones are cut (the database "stopped").</summary>
    public bool Passing
    {
        get => _passing;
        set
        {
            _passing = value;
            if (!value) lock (_open) { foreach (var c in _open) c.Dispose(); _open.Clear(); }
        }
    }
    private volatile bool _passing = true;

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try { client = await _listener.AcceptTcpClientAsync(_stop.Token); }
            catch (Exception) { return; }
            if (!_passing) { client.Dispose(); continue; }
            _ = PipeAsync(client);
        }
    }

    private async Task PipeAsync(TcpClient client)
    {
        using var server = new TcpClient();
        try
        {
            await server.ConnectAsync(_targetHost, _targetPort, _stop.Token);
            lock (_open) { _open.Add(client); _open.Add(server); }
            var a = client.GetStream().CopyToAsync(server.GetStream(), _stop.Token);
            var b = server.GetStream().CopyToAsync(client.GetStream(), _stop.Token);
            await Task.WhenAny(a, b);
        }
        catch (Exception) { }
        finally { client.Dispose(); }
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Stop();
        Passing = false;
        try { await _accept; } catch (Exception) { }
    }
}
