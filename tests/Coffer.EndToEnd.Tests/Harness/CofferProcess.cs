using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Security.Cryptography;

namespace Coffer.EndToEnd.Tests.Harness;

/// <summary>How to start one node (reliability-matrix §3.1).</summary>
internal sealed class CofferServerOptions
{
    public string AccessKeyId { get; init; } = "AKIA" + RandomNumberGenerator.GetString("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16);
    public string SecretAccessKey { get; init; } =
        RandomNumberGenerator.GetString("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", 40);
    /// <summary>The SigV4 region clients sign with; passed as --region only when <see cref="PassRegion"/> is set.</summary>
    public string Region { get; init; } = "us-east-1";
    public bool PassRegion { get; init; }
    public Dictionary<string, string> Environment { get; } = new(StringComparer.Ordinal);
    public List<string> ExtraArguments { get; } = [];
    /// <summary>Generous: a loaded 2-core machine with several builds running can be slow to start .NET.</summary>
    public TimeSpan ReadyTimeout { get; init; } = TimeSpan.FromSeconds(90);
    /// <summary>Prefix of the temporary directory, to tell runs apart when COFFER_E2E_KEEP=1 keeps them.</summary>
    public string Name { get; init; } = "node";
}

/// <summary>
/// One real <c>coffer server</c> process on a free loopback port with its own data directory. It can be killed
/// with SIGKILL, paused with SIGSTOP/SIGCONT and restarted on the same data directory. Stdout and stderr of every
/// start go to files under <see cref="LogDirectory"/> for the canary scan. Disposing stops it and removes its
/// directories (kept when COFFER_E2E_KEEP=1).
/// </summary>
internal sealed class CofferProcess : IAsyncDisposable
{
    private const int SigCont = 18;
    private const int SigStop = 19;
    private const int SigTerm = 15;

    private readonly CofferServerOptions _options;
    private readonly List<string> _outputFiles = [];
    private readonly List<string> _commandLines = [];
    private Process? _process;
    private int _starts;

    private CofferProcess(CofferServerOptions options)
    {
        _options = options;
        RootDirectory = Path.Combine(Path.GetTempPath(), $"coffer-e2e-{options.Name}-{Guid.NewGuid():N}");
        DataDirectory = Path.Combine(RootDirectory, "data"); // not created: the server must create it
        LogDirectory = Path.Combine(RootDirectory, "logs");
        Directory.CreateDirectory(LogDirectory);
    }

    public string RootDirectory { get; }
    public string DataDirectory { get; }
    public string LogDirectory { get; }
    public int Port { get; private set; }
    public Uri Endpoint => new($"http://127.0.0.1:{Port}/");
    public string AccessKeyId => _options.AccessKeyId;
    public string SecretAccessKey => _options.SecretAccessKey;
    public string Region => _options.Region;
    public int Pid => _process?.Id ?? throw new InvalidOperationException("not started");
    public bool IsRunning => _process is { HasExited: false };

    /// <summary>From process start to the first 200 of /health/ready, for the last start.</summary>
    public TimeSpan LastReadyTime { get; private set; }

    public IReadOnlyList<string> OutputFiles => _outputFiles.ToArray();

    /// <summary>/proc/&lt;pid&gt;/cmdline of every start, read while the process ran.</summary>
    public IReadOnlyList<string> CommandLines => _commandLines.ToArray();

    public static async Task<CofferProcess> StartAsync(CofferServerOptions? options = null, CancellationToken ct = default)
    {
        var node = new CofferProcess(options ?? new CofferServerOptions());
        try
        {
            for (int attempt = 1; ; attempt++)
            {
                node.Port = FreeLoopbackPort();
                var outcome = await node.LaunchAsync(ct);
                if (outcome is null)
                {
                    return node;
                }

                // Another process may have taken the port between our probe and the server's bind.
                if (attempt >= 3 || !outcome.Contains("address already in use", StringComparison.OrdinalIgnoreCase))
                {
                    throw new InvalidOperationException($"coffer server did not become ready:\n{outcome}");
                }
            }
        }
        catch
        {
            await node.DisposeAsync();
            throw;
        }
    }

    public SecretsClient CreateClient(ResponseJournal? journal = null, TimeSpan? timeout = null) =>
        new(Endpoint, AccessKeyId, SecretAccessKey, Region, journal, timeout);

    /// <summary>SIGKILL (Process.Kill sends SIGKILL on Linux) and wait until the process is gone.</summary>
    public async Task KillAsync()
    {
        var process = _process ?? throw new InvalidOperationException("not started");
        if (!process.HasExited)
        {
            process.Kill(entireProcessTree: false);
        }

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await process.WaitForExitAsync(timeout.Token);
    }

    public void Pause() => Signal(SigStop);

    public void Resume() => Signal(SigCont);

    /// <summary>SIGTERM, then SIGKILL if the process is still there after <paramref name="grace"/>.</summary>
    public async Task StopAsync(TimeSpan? grace = null)
    {
        var process = _process;
        if (process is null || process.HasExited)
        {
            return;
        }

        SnapshotCommandLine();
        Signal(SigCont); // a paused process cannot handle SIGTERM
        Signal(SigTerm);
        using var timeout = new CancellationTokenSource(grace ?? TimeSpan.FromSeconds(15));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            await KillAsync();
        }
    }

    /// <summary>Kills the process if it runs, then starts it again on the same data directory and port.</summary>
    public async Task<TimeSpan> RestartAsync(CancellationToken ct = default)
    {
        if (IsRunning)
        {
            await KillAsync();
        }

        var outcome = await LaunchAsync(ct);
        if (outcome is not null && outcome.Contains("address already in use", StringComparison.OrdinalIgnoreCase))
        {
            Port = FreeLoopbackPort();
            outcome = await LaunchAsync(ct);
        }

        if (outcome is not null)
        {
            throw new InvalidOperationException($"coffer server did not become ready after restart:\n{outcome}");
        }

        return LastReadyTime;
    }

    /// <summary>Reads /proc/&lt;pid&gt;/cmdline now (arguments joined by spaces) and keeps it for the scan.</summary>
    public string SnapshotCommandLine()
    {
        if (_process is null || _process.HasExited)
        {
            return "";
        }

        try
        {
            string line = File.ReadAllText($"/proc/{_process.Id}/cmdline").Replace('\0', ' ').TrimEnd();
            lock (_commandLines)
            {
                _commandLines.Add(line);
            }

            return line;
        }
        catch (IOException)
        {
            return "";
        }
    }

    /// <summary>The end of the captured output of the last start, for failure messages.</summary>
    public string OutputTail(int maxChars = 4000)
    {
        var text = new System.Text.StringBuilder();
        foreach (string file in _outputFiles.TakeLast(2))
        {
            if (File.Exists(file))
            {
                string content = File.ReadAllText(file);
                text.Append("--- ").Append(Path.GetFileName(file)).Append(" ---\n")
                    .Append(content.Length > maxChars ? content[^maxChars..] : content).Append('\n');
            }
        }

        return text.ToString();
    }

    /// <summary>Starts the process and waits for readiness. Returns null when ready, else why it failed.</summary>
    private async Task<string?> LaunchAsync(CancellationToken ct)
    {
        _starts++;
        string stdout = Path.Combine(LogDirectory, $"stdout.{_starts}.log");
        string stderr = Path.Combine(LogDirectory, $"stderr.{_starts}.log");
        _outputFiles.Add(stdout);
        _outputFiles.Add(stderr);

        var (fileName, prefix) = CofferBinary.Locate();
        // sh execs the server in place (same pid), so SIGKILL/SIGSTOP reach the server itself and its output
        // goes straight to files without pipes that a killed reader could block.
        var psi = new ProcessStartInfo("/bin/sh") { UseShellExecute = false };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add("out=$1; err=$2; shift 2; exec \"$@\" </dev/null >>\"$out\" 2>>\"$err\"");
        psi.ArgumentList.Add("coffer-e2e");
        psi.ArgumentList.Add(stdout);
        psi.ArgumentList.Add(stderr);
        psi.ArgumentList.Add(fileName);
        foreach (string a in prefix)
        {
            psi.ArgumentList.Add(a);
        }

        psi.ArgumentList.Add("server");
        psi.ArgumentList.Add("--listen");
        psi.ArgumentList.Add($"127.0.0.1:{Port}");
        psi.ArgumentList.Add("--data-dir");
        psi.ArgumentList.Add(DataDirectory);
        if (_options.PassRegion)
        {
            psi.ArgumentList.Add("--region");
            psi.ArgumentList.Add(_options.Region);
        }

        foreach (string a in _options.ExtraArguments)
        {
            psi.ArgumentList.Add(a);
        }

        foreach (string key in psi.Environment.Keys.ToArray())
        {
            if (key.StartsWith("COFFER_", StringComparison.Ordinal) || key.StartsWith("AWS_", StringComparison.Ordinal)
                || key is "ASPNETCORE_URLS" or "DOTNET_URLS" or "ASPNETCORE_HTTP_PORTS" or "ASPNETCORE_HTTPS_PORTS")
            {
                psi.Environment.Remove(key);
            }
        }

        psi.Environment["COFFER_BOOTSTRAP_ACCESS_KEY_ID"] = _options.AccessKeyId;
        psi.Environment["COFFER_BOOTSTRAP_SECRET_ACCESS_KEY"] = _options.SecretAccessKey;
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        psi.Environment["DOTNET_NOLOGO"] = "1";
        foreach (var (key, value) in _options.Environment)
        {
            psi.Environment[key] = value;
        }

        var started = Stopwatch.StartNew();
        _process?.Dispose();
        _process = Process.Start(psi) ?? throw new InvalidOperationException("Process.Start returned null");

        using var probe = new HttpClient(new SocketsHttpHandler { UseProxy = false, ConnectTimeout = TimeSpan.FromSeconds(5) })
        {
            Timeout = TimeSpan.FromSeconds(10),
        };
        var readyUri = new Uri(Endpoint, "health/ready");
        while (started.Elapsed < _options.ReadyTimeout)
        {
            ct.ThrowIfCancellationRequested();
            if (_process.HasExited)
            {
                return $"exited with code {_process.ExitCode} after {started.Elapsed.TotalSeconds:F1}s\n{OutputTail()}";
            }

            try
            {
                using var response = await probe.GetAsync(readyUri, ct);
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    LastReadyTime = started.Elapsed;
                    SnapshotCommandLine();
                    return null;
                }
            }
            catch (HttpRequestException)
            {
                // not listening yet
            }
            catch (TaskCanceledException) when (!ct.IsCancellationRequested)
            {
                // probe timed out on a loaded machine; try again
            }

            await Task.Delay(100, ct);
        }

        string why = $"not ready after {_options.ReadyTimeout.TotalSeconds:F0}s\n{OutputTail()}";
        await KillAsync();
        return why;
    }

    private void Signal(int signal)
    {
        var process = _process ?? throw new InvalidOperationException("not started");
        if (!process.HasExited && SysKill(process.Id, signal) != 0)
        {
            throw new InvalidOperationException($"kill({process.Id}, {signal}) failed: errno {Marshal.GetLastPInvokeError()}");
        }
    }

    private static int FreeLoopbackPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int SysKill(int pid, int signal);

    public async ValueTask DisposeAsync()
    {
        try
        {
            await StopAsync(TimeSpan.FromSeconds(10));
        }
        finally
        {
            _process?.Dispose();
            if (Environment.GetEnvironmentVariable("COFFER_E2E_KEEP") != "1")
            {
                try
                {
                    Directory.Delete(RootDirectory, recursive: true);
                }
                catch (IOException)
                {
                }
                catch (UnauthorizedAccessException)
                {
                }
            }
        }
    }
}
