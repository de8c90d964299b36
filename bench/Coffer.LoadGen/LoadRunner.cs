using System.Diagnostics;
using System.Net;
using System.Text.Json;

namespace Coffer.LoadGen;

/// <summary>
/// Closed loop: C workers, each sending its next request as soon as the previous answer is read, over a pool
/// of at most C keep-alive HTTP/1.1 connections. A request counts when it starts after the warm-up and
/// completes inside the measured window; requests/s is that count over the window's length.
/// </summary>
internal sealed class LoadRunner
{
    private readonly HttpClient _client;
    private readonly int _workers;

    public LoadRunner(HttpClient client, int workers)
    {
        _client = client;
        _workers = workers;
    }

    public static HttpClient CreateClient(int connections) =>
        new(new SocketsHttpHandler
        {
            MaxConnectionsPerServer = connections,
            PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
            UseProxy = false,
            UseCookies = false,
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
        })
        {
            Timeout = TimeSpan.FromSeconds(30),
        };

    /// <summary>Runs the loop; <paramref name="next"/> builds the request for a worker (index given).</summary>
    public async Task<RunResult> RunAsync(
        Func<int, HttpRequestMessage> next, double warmupSeconds, double durationSeconds, IReadOnlyList<int> serverPids)
    {
        long start = Stopwatch.GetTimestamp();
        long measureFrom = start + (long)(warmupSeconds * Stopwatch.Frequency);
        long measureTo = measureFrom + (long)(durationSeconds * Stopwatch.Frequency);

        var stats = new WorkerStats[_workers];
        var tasks = new Task[_workers];
        for (int w = 0; w < _workers; w++)
        {
            var s = stats[w] = new WorkerStats();
            int worker = w;
            tasks[w] = Task.Run(() => WorkerAsync(worker, next, s, measureFrom, measureTo));
        }
        CpuUse cpu = await CpuUse.MeasureAsync(serverPids, measureFrom, measureTo);
        await Task.WhenAll(tasks);
        return RunResult.Merge(stats, durationSeconds) with { Cpu = cpu };
    }

    /// <summary>Sends <paramref name="total"/> requests (not timed), counting outcomes; used by setup.</summary>
    public async Task<RunResult> RunCountAsync(int total, Func<int, HttpRequestMessage> next)
    {
        int issued = -1;
        var stats = new WorkerStats[_workers];
        var tasks = new Task[_workers];
        long start = Stopwatch.GetTimestamp();
        for (int w = 0; w < _workers; w++)
        {
            var s = stats[w] = new WorkerStats();
            tasks[w] = Task.Run(async () =>
            {
                var buffer = new byte[16 * 1024];
                int i;
                while ((i = Interlocked.Increment(ref issued)) < total)
                {
                    long t0 = Stopwatch.GetTimestamp();
                    string? error = await SendAsync(next(i), buffer);
                    s.Record(Stopwatch.GetTimestamp() - t0, error);
                }
            });
        }
        await Task.WhenAll(tasks);
        return RunResult.Merge(stats, Stopwatch.GetElapsedTime(start).TotalSeconds);
    }

    private async Task WorkerAsync(int worker, Func<int, HttpRequestMessage> next, WorkerStats stats, long measureFrom, long measureTo)
    {
        var buffer = new byte[16 * 1024];
        while (true)
        {
            long t0 = Stopwatch.GetTimestamp();
            if (t0 >= measureTo)
            {
                return;
            }
            string? error = await SendAsync(next(worker), buffer);
            long t1 = Stopwatch.GetTimestamp();
            if (t0 >= measureFrom && t1 <= measureTo)
            {
                stats.Record(t1 - t0, error);
            }
        }
    }

    /// <summary>Null on 2xx, else "STATUS __type" (or "exception Type" when no answer came).</summary>
    private async Task<string?> SendAsync(HttpRequestMessage request, byte[] buffer)
    {
        try
        {
            using (request)
            using (var response = await _client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead))
            {
                int status = (int)response.StatusCode;
                if (status is >= 200 and < 300)
                {
                    await using var body = await response.Content.ReadAsStreamAsync();
                    while (await body.ReadAsync(buffer) > 0)
                    {
                    }
                    return null;
                }
                byte[] errorBody = await response.Content.ReadAsByteArrayAsync();
                return $"{status} {ErrorType(errorBody)}";
            }
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or IOException)
        {
            // The cause without its text: the type, the socket error or HTTP error code when there is one.
            string detail = ex switch
            {
                HttpRequestException { InnerException: System.Net.Sockets.SocketException se } => "/" + se.SocketErrorCode,
                HttpRequestException { HttpRequestError: not HttpRequestError.Unknown } hre => "/" + hre.HttpRequestError,
                _ when ex.InnerException is not null => "/" + ex.InnerException.GetType().Name,
                _ => "",
            };
            return "exception " + ex.GetType().Name + detail;
        }
    }

    /// <summary>The AWS error code from <c>__type</c> (the part after '#', if any); never the message.</summary>
    private static string ErrorType(byte[] body)
    {
        try
        {
            using var doc = JsonDocument.Parse(body);
            if (doc.RootElement.ValueKind == JsonValueKind.Object
                && doc.RootElement.TryGetProperty("__type", out var type)
                && type.ValueKind == JsonValueKind.String)
            {
                string code = type.GetString()!;
                int hash = code.LastIndexOf('#');
                return hash >= 0 ? code[(hash + 1)..] : code;
            }
            return "(no __type)";
        }
        catch (JsonException)
        {
            return "(not JSON)";
        }
    }
}

internal sealed class WorkerStats
{
    public List<long> Ticks { get; } = new(1 << 16);
    public Dictionary<string, long> Errors { get; } = new(StringComparer.Ordinal);

    public void Record(long ticks, string? error)
    {
        Ticks.Add(ticks);
        if (error is not null)
        {
            Errors[error] = Errors.GetValueOrDefault(error) + 1;
        }
    }
}

/// <summary>
/// CPU seconds used inside the measured window by the server processes (from /proc/PID/stat, in USER_HZ = 100
/// ticks) and by this load generator. Tells how the two cores were shared, and the server's CPU per request.
/// </summary>
internal sealed record CpuUse(double? ServerSeconds, double ClientSeconds)
{
    public static async Task<CpuUse> MeasureAsync(IReadOnlyList<int> serverPids, long from, long to)
    {
        await DelayUntil(from);
        double? server0 = ReadServerSeconds(serverPids);
        TimeSpan client0 = ClientTime();
        await DelayUntil(to);
        double? server1 = ReadServerSeconds(serverPids);
        TimeSpan client1 = ClientTime();
        return new CpuUse(server1 - server0, (client1 - client0).TotalSeconds);
    }

    private static async Task DelayUntil(long timestamp)
    {
        TimeSpan wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), timestamp);
        if (wait > TimeSpan.Zero)
        {
            await Task.Delay(wait);
        }
    }

    private static TimeSpan ClientTime()
    {
        using var self = Process.GetCurrentProcess();
        return self.TotalProcessorTime;
    }

    private static double? ReadServerSeconds(IReadOnlyList<int> pids)
    {
        if (pids.Count == 0)
        {
            return null;
        }
        long ticks = 0;
        foreach (int pid in pids)
        {
            try
            {
                string stat = File.ReadAllText($"/proc/{pid}/stat");
                // Fields after "pid (comm) ": state is the first, utime the 12th, stime the 13th.
                string[] fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                ticks += long.Parse(fields[11], System.Globalization.CultureInfo.InvariantCulture)
                    + long.Parse(fields[12], System.Globalization.CultureInfo.InvariantCulture);
            }
            catch (IOException)
            {
                // The process is gone; it counts for nothing.
            }
        }
        return ticks / 100.0;
    }
}

internal sealed record LatencyMs(double P50, double P90, double P99, double Max, double Mean);

internal sealed record RunResult(
    long Requests,
    long Ok,
    long Errors,
    double Seconds,
    double RequestsPerSecond,
    LatencyMs LatencyMs,
    SortedDictionary<string, long> ErrorsByType)
{
    public CpuUse? Cpu { get; init; }

    public static RunResult Merge(IReadOnlyList<WorkerStats> workers, double seconds)
    {
        long total = workers.Sum(w => (long)w.Ticks.Count);
        var all = new long[total];
        int at = 0;
        var errors = new SortedDictionary<string, long>(StringComparer.Ordinal);
        foreach (var w in workers)
        {
            w.Ticks.CopyTo(all, at);
            at += w.Ticks.Count;
            foreach (var (key, count) in w.Errors)
            {
                errors[key] = errors.GetValueOrDefault(key) + count;
            }
        }
        Array.Sort(all);
        long errorCount = errors.Values.Sum();
        double toMs = 1000.0 / Stopwatch.Frequency;
        double Percentile(double p) => total == 0 ? 0 : all[Math.Min(total - 1, (long)Math.Ceiling(p * total) - 1)] * toMs;
        var latency = new LatencyMs(
            Round(Percentile(0.50)), Round(Percentile(0.90)), Round(Percentile(0.99)),
            Round(total == 0 ? 0 : all[^1] * toMs),
            Round(total == 0 ? 0 : all.Average() * toMs));
        return new RunResult(total, total - errorCount, errorCount, Math.Round(seconds, 3),
            Math.Round(total / seconds, 1), latency, errors);
    }

    private static double Round(double ms) => Math.Round(ms, 3);
}
