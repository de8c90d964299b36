using System.Collections.Concurrent;
using System.Globalization;
using System.IO.Compression;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Coffer.Core.Audit;
using Coffer.Core.Functions;
using Coffer.Crypto;
using Coffer.Protocol.Lambda;
using Coffer.Protocol.SigV4;
using Coffer.Protocol.Tests.SigV4;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging.Abstractions;

namespace Coffer.Protocol.Tests.Lambda;

/// <summary>
/// Signed calls through the Lambda edge to the service: the JSON shapes, Invoke's status codes and headers with a
/// stub runner (the real runner is tested in its own project), and the audit records, which never hold the
/// package, the payload or environment values.
/// </summary>
public sealed class LambdaSignedCallTests : IAsyncLifetime
{
    private const string Canary = "env-canary-7f3e11";
    private static readonly DateTimeOffset Now = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);
    private readonly ConcurrentQueue<AuditEvent> _events = new();
    private readonly MasterKey _masterKey = MasterKey.Generate();
    private AuditKeys _keys = null!;
    private AuditTrail _trail = null!;
    private FunctionService _functions = null!;
    private LambdaEndpoint _endpoint = null!;
    private readonly StubRunner _runner = new();

    public async Task InitializeAsync()
    {
        var (verifier, clock, _) = await Fixture.VerifierAsync(Now);
        _keys = new AuditKeys(_masterKey);
        _trail = new AuditTrail([new NullSink()], _keys, new AuditOptions(), clock);
        _trail.Recorded += batch => { foreach (var e in batch) _events.Enqueue(e); };
        _functions = new FunctionService(new MemoryFunctionStore(), new EnvelopeCipher(MasterKey.Generate()), "123456789012", "us-east-1", clock);
        _endpoint = new LambdaEndpoint(_functions, verifier, clock, NullLogger<LambdaEndpoint>.Instance, _trail);
    }

    public async Task DisposeAsync()
    {
        await _trail.DisposeAsync();
        _keys.Dispose();
        _masterKey.Dispose();
    }

    private static byte[] Zip()
    {
        using var buffer = new MemoryStream();
        using (var zip = new ZipArchive(buffer, ZipArchiveMode.Create, leaveOpen: true))
        using (var w = new StreamWriter(zip.CreateEntry("app.py").Open()))
            w.Write("def handler(e, c):\n    return e\n");
        return buffer.ToArray();
    }

    /// <summary>Signs the request as an SDK would (SigV4, service lambda) with the fixture's administrator key.</summary>
    private static DefaultHttpContext Signed(string method, string rawTarget, byte[]? body = null, params (string, string)[] headers)
    {
        body ??= [];
        var http = new DefaultHttpContext();
        var request = http.Request;
        request.Method = method;
        var q = rawTarget.IndexOf('?', StringComparison.Ordinal);
        request.Path = Uri.UnescapeDataString(q < 0 ? rawTarget : rawTarget[..q]);
        if (q >= 0) request.QueryString = new QueryString(rawTarget[q..]);
        http.Features.Get<IHttpRequestFeature>()!.RawTarget = rawTarget;
        request.Scheme = "http";
        request.Headers.Host = "127.0.0.1:4566";
        foreach (var (k, v) in headers) request.Headers[k] = v;
        var amzDate = Now.UtcDateTime.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture);
        request.Headers["X-Amz-Date"] = amzDate;
        request.ContentLength = body.Length;
        request.Body = new MemoryStream(body);
        http.Connection.RemoteIpAddress = IPAddress.Loopback;
        http.Response.Body = new MemoryStream();

        const string signedHeaders = "host;x-amz-date";
        var canonical = new Utf8Builder(1024);
        byte[] hash;
        try
        {
            SigV4Verifier.WriteCanonicalRequest(ref canonical, request, body, signedHeaders);
            hash = SHA256.HashData(canonical.Written);
        }
        finally { canonical.Dispose(); }
        var scope = $"{amzDate[..8]}/us-east-1/lambda/aws4_request";
        var toSign = $"AWS4-HMAC-SHA256\n{amzDate}\n{scope}\n{Convert.ToHexStringLower(hash)}";
        var key = Encoding.UTF8.GetBytes("AWS4" + BotocoreVectors.SecretAccessKey);
        foreach (var part in new[] { amzDate[..8], "us-east-1", "lambda", "aws4_request" }) key = HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(part));
        var signature = Convert.ToHexStringLower(HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(toSign)));
        request.Headers.Authorization = $"AWS4-HMAC-SHA256 Credential={BotocoreVectors.AccessKeyId}/{scope}, SignedHeaders={signedHeaders}, Signature={signature}";
        return http;
    }

    private async Task<(int Status, IHeaderDictionary Headers, string Text)> Send(HttpContext http)
    {
        await _endpoint.HandleAsync(http);
        http.Response.Body.Position = 0;
        return (http.Response.StatusCode, http.Response.Headers, await new StreamReader(http.Response.Body).ReadToEndAsync());
    }

    private async Task<JsonElement> CreateAsync(string name)
    {
        var body = JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, object>
        {
            ["FunctionName"] = name, ["Runtime"] = "python3.12", ["Handler"] = "app.handler",
            ["Role"] = "arn:aws:iam::123456789012:role/exec", ["Code"] = new Dictionary<string, string> { ["ZipFile"] = Convert.ToBase64String(Zip()) },
            ["Environment"] = new Dictionary<string, object> { ["Variables"] = new Dictionary<string, string> { ["TOKEN"] = Canary } },
        });
        var (status, _, text) = await Send(Signed("POST", "/2015-03-31/functions", body));
        Assert.True(status == 201, text);
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    [Fact]
    public async Task Create_get_and_list_answer_the_lambda_shapes()
    {
        var created = await CreateAsync("f1");
        Assert.Equal("arn:aws:lambda:us-east-1:123456789012:function:f1", created.GetProperty("FunctionArn").GetString());
        Assert.Equal(Convert.ToBase64String(SHA256.HashData(Zip())), created.GetProperty("CodeSha256").GetString());
        Assert.Equal("2026-03-01T12:00:00.000+0000", created.GetProperty("LastModified").GetString());
        Assert.Equal(Canary, created.GetProperty("Environment").GetProperty("Variables").GetProperty("TOKEN").GetString());

        var (status, _, text) = await Send(Signed("GET", "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Af1"));
        Assert.Equal(200, status);
        var got = JsonDocument.Parse(text).RootElement;
        Assert.Equal("f1", got.GetProperty("Configuration").GetProperty("FunctionName").GetString());
        Assert.StartsWith("http://127.0.0.1:4566/2015-03-31/functions/f1/code?Region=us-east-1&Token=",
            got.GetProperty("Code").GetProperty("Location").GetString(), StringComparison.Ordinal);

        (status, _, text) = await Send(Signed("GET", "/2015-03-31/functions/?MaxItems=10"));
        Assert.Equal(200, status);
        Assert.Equal("f1", JsonDocument.Parse(text).RootElement.GetProperty("Functions")[0].GetProperty("FunctionName").GetString());

        var (_, headers, missing) = await Send(Signed("GET", "/2015-03-31/functions/nope/configuration"));
        Assert.Equal("ResourceNotFoundException", headers["x-amzn-ErrorType"].ToString());
        Assert.Contains("Function not found: arn:aws:lambda:us-east-1:123456789012:function:nope", missing, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Invoke_answers_status_and_headers_as_lambda_does()
    {
        await CreateAsync("inv");
        var payload = """{"Step":"createSecret"}"""u8.ToArray();
        var (status, headers, text) = await Send(Signed("POST", "/2015-03-31/functions/inv/invocations", payload));
        Assert.Equal((500, "ServiceException"), (status, headers["x-amzn-ErrorType"].ToString()));
        Assert.Contains("\"Type\":\"Service\"", text, StringComparison.Ordinal);

        _functions.Runner = _runner;
        (status, headers, text) = await Send(Signed("POST", "/2015-03-31/functions/inv/invocations", payload, ("X-Amz-Log-Type", "Tail")));
        Assert.Equal(200, status);
        Assert.Equal("""{"Step":"createSecret"}""", text);
        Assert.Equal("$LATEST", headers["X-Amz-Executed-Version"].ToString());
        Assert.False(headers.ContainsKey("X-Amz-Function-Error"));
        Assert.Equal("the log", Encoding.UTF8.GetString(Convert.FromBase64String(headers["X-Amz-Log-Result"].ToString())));

        _runner.Error = "Unhandled";
        (status, headers, _) = await Send(Signed("POST", "/2015-03-31/functions/inv/invocations", payload));
        Assert.Equal((200, "Unhandled"), (status, headers["X-Amz-Function-Error"].ToString()));
        Assert.False(headers.ContainsKey("X-Amz-Log-Result"));

        var before = _runner.Count;
        (status, _, _) = await Send(Signed("POST", "/2015-03-31/functions/inv/invocations", payload, ("X-Amz-Invocation-Type", "DryRun")));
        Assert.Equal(204, status);
        Assert.Equal(before, _runner.Count);

        (status, _, _) = await Send(Signed("POST", "/2015-03-31/functions/inv/invocations", payload, ("X-Amz-Invocation-Type", "Event")));
        Assert.Equal(202, status);
        for (var i = 0; i < 200 && _runner.Count == before; i++) await Task.Delay(10);
        Assert.Equal(before + 1, _runner.Count);

        (status, headers, _) = await Send(Signed("POST", "/2015-03-31/functions/inv/invocations", payload, ("X-Amz-Invocation-Type", "Later")));
        Assert.Equal((400, "InvalidParameterValueException"), (status, headers["x-amzn-ErrorType"].ToString()));
    }

    [Fact]
    public async Task Audit_records_name_the_function_and_hold_no_code_payload_or_environment()
    {
        await CreateAsync("aud");
        _functions.Runner = _runner;
        await Send(Signed("POST", "/2015-03-31/functions/aud/invocations", Encoding.UTF8.GetBytes($$"""{"secret":"{{Canary}}"}""")));
        await Send(Signed("PUT", "/2015-03-31/functions/aud/configuration", Encoding.UTF8.GetBytes("{\"Environment\":{\"Variables\":{\"TOKEN\":\"" + Canary + "2\"}}}")));
        await Send(Signed("GET", "/2015-03-31/functions/missing"));
        for (var i = 0; i < 200 && _events.Count < 4; i++) await Task.Delay(10);

        var events = _events.ToList();
        Assert.Equal(["CreateFunction", "Invoke", "UpdateFunctionConfiguration", "GetFunction"], events.Select(e => e.EventName));
        Assert.All(events, e => Assert.Equal("lambda.amazonaws.com", e.EventSource));
        var create = events[0];
        Assert.Equal("arn:aws:lambda:us-east-1:123456789012:function:aud", Assert.Single(create.Resources).Arn);
        Assert.Equal("AWS::Lambda::Function", create.Resources[0].Type);
        var zipBase64 = Convert.ToBase64String(Zip());
        foreach (var e in events)
        {
            var text = Encoding.UTF8.GetString(e.RequestParameters ?? []) + Encoding.UTF8.GetString(e.ResponseElements ?? []) + e.ErrorMessage;
            Assert.DoesNotContain(Canary, text, StringComparison.Ordinal);
            Assert.DoesNotContain(zipBase64[..40], text, StringComparison.Ordinal);
        }
        Assert.Contains("\"runtime\":\"python3.12\"", Encoding.UTF8.GetString(create.RequestParameters!), StringComparison.Ordinal);
        Assert.Equal("ResourceNotFoundException", events[3].ErrorCode);
        Assert.True(events[3].ReadOnly);
    }

    private sealed class StubRunner : IFunctionRunner
    {
        private int _count;
        public int Count => Volatile.Read(ref _count);
        public string? Error { get; set; }

        public Task<FunctionInvocationResult> InvokeAsync(FunctionInvocation invocation, CancellationToken ct)
        {
            Interlocked.Increment(ref _count);
            return Task.FromResult(new FunctionInvocationResult(invocation.Payload.ToArray(), Error, "the log"));
        }
    }

    private sealed class NullSink : IAuditSink
    {
        public string Name => "memory";
        public void Write(IReadOnlyList<AuditRecord> records, AuditCheckpoint? checkpoint, bool durable) { }
        public void Probe() { }
        public AuditChainHead? ReadHead() => null;
        public void Dispose() { }
    }

    /// <summary>Functions in a dictionary, with the store's compare-and-swap rule (the SQLite store has its own tests).</summary>
    private sealed class MemoryFunctionStore : IFunctionStore
    {
        private readonly ConcurrentDictionary<(string, string), FunctionRecord> _rows = new();

        public Task<FunctionRecord?> FindFunctionAsync(string region, string name, bool withCode, CancellationToken ct) =>
            Task.FromResult(_rows.TryGetValue((region, name), out var r) ? withCode ? r : r with { CodeBlob = null } : null);

        public Task<IReadOnlyList<FunctionRecord>> ListFunctionsAsync(string region, string? afterName, int limit, CancellationToken ct) =>
            Task.FromResult<IReadOnlyList<FunctionRecord>>([.. _rows.Values.Where(r => r.Region == region && string.CompareOrdinal(r.Name, afterName ?? "") > 0)
                .OrderBy(r => r.Name, StringComparer.Ordinal).Take(limit).Select(r => r with { CodeBlob = null })]);

        public Task<bool> InsertFunctionAsync(FunctionRecord record, CancellationToken ct) => Task.FromResult(_rows.TryAdd((record.Region, record.Name), record));

        public Task<bool> ReplaceFunctionAsync(FunctionRecord record, string expectedRevisionId, CancellationToken ct)
        {
            lock (_rows)
            {
                if (!_rows.TryGetValue((record.Region, record.Name), out var current) || current.RevisionId != expectedRevisionId) return Task.FromResult(false);
                _rows[(record.Region, record.Name)] = record with { CodeBlob = record.CodeBlob ?? current.CodeBlob };
                return Task.FromResult(true);
            }
        }

        public Task<bool> DeleteFunctionAsync(string region, string name, CancellationToken ct) => Task.FromResult(_rows.TryRemove((region, name), out _));
    }
}
