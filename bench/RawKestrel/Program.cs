// The "raw Kestrel endpoint" of the issue-2 benchmark: the ceiling a Kestrel app can reach on this machine.
// GET / and POST / answer one fixed JSON body of about 200 bytes with the awsJson1_1 content type; the
// request body is read and dropped.
// Usage: raw-kestrel [--listen HOST:PORT] [--value-bytes N] [--audit-probe]
//   --listen       default 127.0.0.1:8391
//   --value-bytes  make the body's SecretString N bytes long (default: the ~200-byte body), to compare with
//                  Coffer's 4 KiB answers
//   --audit-probe  before answering, hand a 1.5 KB record per request to one writer that writes whole batches
//                  to a temporary file (one pwrite per batch) and releases the waiting requests: the shape of
//                  Coffer's default-mode audit hand-off, with none of its other work (docs/benchmarks.md)
using System.Collections.Concurrent;
using System.Text;

string listen = "127.0.0.1:8391";
int? valueBytes = null;
bool auditProbe = false;
for (int i = 0; i < args.Length; i++)
{
    if (args[i] == "--listen" && i + 1 < args.Length)
    {
        listen = args[++i];
    }
    else if (args[i] == "--value-bytes" && i + 1 < args.Length && int.TryParse(args[i + 1], out int n) && n >= 0)
    {
        valueBytes = n;
        i++;
    }
    else if (args[i] == "--audit-probe")
    {
        auditProbe = true;
    }
    else
    {
        Console.Error.WriteLine($"unknown option {args[i]}; usage: raw-kestrel [--listen HOST:PORT] [--value-bytes N] [--audit-probe]");
        return 2;
    }
}

var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = [] });
// Per-request logging would measure the console, not Kestrel; the Coffer server does not log each request either.
builder.Logging.ClearProviders();
builder.WebHost.UseUrls("http://" + listen);

var app = builder.Build();

string value = valueBytes is int size ? new string('v', size) : "raw-kestrel-baseline";
byte[] body = Encoding.UTF8.GetBytes(
    """{"ARN":"arn:aws:secretsmanager:us-east-1:123456789012:secret:bench/raw-a1B2c3","Name":"bench/raw","SecretString":""" +
    "\"" + value + "\"" + ""","VersionStages":["AWSCURRENT"],"CreatedDate":1735689600.0}""");
AuditProbe? probe = auditProbe ? new AuditProbe() : null;

async Task Answer(HttpContext context)
{
    if (HttpMethods.IsPost(context.Request.Method))
    {
        await context.Request.Body.CopyToAsync(Stream.Null);
    }
    if (probe is not null)
    {
        await probe.RecordAsync();
    }
    context.Response.ContentType = "application/x-amz-json-1.1";
    context.Response.ContentLength = body.Length;
    await context.Response.Body.WriteAsync(body);
}

app.MapGet("/", Answer);
app.MapPost("/", Answer);
Console.WriteLine($"raw-kestrel listening on http://{listen} (body {body.Length} bytes)");
await app.RunAsync();
return 0;

/// <summary>Group commit in miniature: requests queue a completion, one writer loop writes a batch and releases it.</summary>
internal sealed class AuditProbe
{
    private const int RecordBytes = 1536;
    private const int MaxBatch = 512;
    private readonly ConcurrentQueue<TaskCompletionSource> _queue = new();
    private readonly SemaphoreSlim _signal = new(0);
    private readonly Microsoft.Win32.SafeHandles.SafeFileHandle _file = File.OpenHandle(
        Path.Combine(Path.GetTempPath(), $"raw-kestrel-probe-{Environment.ProcessId}.log"),
        FileMode.Create, FileAccess.Write, FileShare.Read, FileOptions.DeleteOnClose);
    private readonly byte[] _records = new byte[RecordBytes * MaxBatch];
    private long _offset;

    public AuditProbe()
    {
        Array.Fill(_records, (byte)'a');
        _ = Task.Run(LoopAsync);
    }

    public Task RecordAsync()
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _queue.Enqueue(done);
        _signal.Release();
        return done.Task;
    }

    // Every request releases the semaphore once and a pass takes a whole batch, so some passes find the queue
    // empty: wasted wake-ups that make the probe, if anything, dearer than the real hand-off.
    private async Task LoopAsync()
    {
        var batch = new List<TaskCompletionSource>(MaxBatch);
        while (true)
        {
            await _signal.WaitAsync();
            while (batch.Count < MaxBatch && _queue.TryDequeue(out var done)) batch.Add(done);
            if (batch.Count == 0) continue;
            RandomAccess.Write(_file, _records.AsSpan(0, RecordBytes * batch.Count), _offset);
            _offset += RecordBytes * batch.Count;
            foreach (var done in batch) done.TrySetResult();
            batch.Clear();
        }
    }
}
