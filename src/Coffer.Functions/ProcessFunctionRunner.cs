using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Coffer.Core;
using Coffer.Core.Functions;
using Coffer.Core.Principals;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Coffer.Functions;

/// <summary>
/// Runs each invocation as a fresh child process (docs/functions.md, "Runtimes" and "Trust model"):
/// <list type="bullet">
/// <item>code unpacked once per version (<see cref="CodeCache"/>), a new working directory per invocation (also HOME),
/// removed afterwards;</item>
/// <item>an environment built from nothing: the function's variables, the Lambda variables, the role's temporary
/// credentials and this server's URL — never a variable of the server process;</item>
/// <item>its own session (<c>setsid</c>), so the whole process tree is killed at the timeout or when it ends;</item>
/// <item>RLIMIT_AS of MemorySize plus headroom (python, provided) or V8's old-space limit (node);</item>
/// <item>as root: the unprivileged <see cref="FunctionRunnerOptions.RunAsUser"/>, no supplementary groups, no_new_privs.</item>
/// </list>
/// The result comes back on a channel of its own (a result file for python and node, stdout for provided), so
/// everything else the function prints is its log.
/// </summary>
public sealed partial class ProcessFunctionRunner : IFunctionRunner, IDisposable
{
    private const string Setsid = "/usr/bin/setsid";
    private const string Prlimit = "/usr/bin/prlimit";
    private const string Setpriv = "/usr/bin/setpriv";
    private const int TailBytes = 4096;

    private readonly FunctionRunnerOptions _options;
    private readonly RoleCredentials _credentials;
    private readonly CodeCache _code;
    private readonly RunAs? _runAs;
    private readonly string _runRoot;
    private readonly bool _ownsRunRoot;
    private readonly string _runtimeDir;
    private readonly string _invocations;
    private readonly ILogger _log;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<int, byte> _running = new();
    private int _inFlight;

    public ProcessFunctionRunner(FunctionRunnerOptions options, IamService iam, ILogger<ProcessFunctionRunner>? log = null)
    {
        _options = options;
        _log = log ?? NullLogger<ProcessFunctionRunner>.Instance;
        _credentials = new RoleCredentials(iam, options.Time);
        Logs = new FunctionLogs(Path.Combine(options.DataDir, "functions", "logs"), options.MaxLogBytes);
        const UnixFileMode owner = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
        if (Native.GetEuid() == 0 && options.RunAsUser is { } user)
        {
            _runAs = RunAs.Lookup(user) ?? throw new InvalidOperationException($"The user {user} that functions run as does not exist.");
            if (!File.Exists(Setpriv)) throw new InvalidOperationException($"{Setpriv} (util-linux) is needed to run functions as {user}.");
            // The data directory is root's alone; the function's group may traverse this one and nothing else may.
            _runRoot = PrivateRunRoot(options.RunRootParent);
            _ownsRunRoot = true;
            Native.Chown(_runRoot, 0, _runAs.Gid);
            File.SetUnixFileMode(_runRoot, owner | UnixFileMode.GroupExecute);
        }
        else
        {
            _runRoot = Path.Combine(options.DataDir, "functions");
            Directory.CreateDirectory(_runRoot, owner);
        }
        _runtimeDir = Shared(Path.Combine(_runRoot, "runtime"));
        // Traversable but not listable by the function's group: an invocation reaches only its own directory by name.
        _invocations = Shared(Path.Combine(_runRoot, "invocations"));
        File.SetUnixFileMode(_invocations, owner | UnixFileMode.GroupExecute);
        _code = new CodeCache(Shared(Path.Combine(_runRoot, "code")), _runAs);
        foreach (var name in new[] { "bootstrap.py", "bootstrap.js" })
        {
            using var resource = typeof(ProcessFunctionRunner).Assembly.GetManifestResourceStream("Coffer.Functions." + name)!;
            var path = Path.Combine(_runtimeDir, name);
            using (var file = new FileStream(path, FileMode.Create, FileAccess.Write)) resource.CopyTo(file);
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead);
            if (_runAs is not null) Native.Chown(path, 0, _runAs.Gid);
        }
    }

    /// <summary>Where each function's log is kept (read by <c>coffer functions logs</c>).</summary>
    public FunctionLogs Logs { get; }

    /// <summary>
    /// As root: <c>PARENT/&lt;server pid&gt;-&lt;random&gt;</c> under a root-owned parent that only root can write (so nobody can plant
    /// it), after removing the directories of server processes that no longer run (a SIGKILLed server cannot clean
    /// up). Without such a parent: a fresh directory in the temporary directory.
    /// </summary>
    private static string PrivateRunRoot(string parent)
    {
        try
        {
            var grandparent = Path.GetDirectoryName(Path.GetFullPath(parent));
            if (grandparent is not null && Directory.Exists(grandparent)
                && (File.GetUnixFileMode(grandparent) & (UnixFileMode.GroupWrite | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute)) == UnixFileMode.OtherExecute)
            {
                Directory.CreateDirectory(parent, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
                    | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute);
                foreach (var stale in Directory.EnumerateDirectories(parent))
                    if (int.TryParse(Path.GetFileName(stale).Split('-')[0], out var pid) && pid != Environment.ProcessId && !Directory.Exists($"/proc/{pid}"))
                        Directory.Delete(stale, recursive: true);
                var mine = Path.Combine(parent, $"{Environment.ProcessId}-{Guid.NewGuid():N}");
                Directory.CreateDirectory(mine, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
                return mine;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        return Directory.CreateTempSubdirectory("coffer-functions-").FullName;
    }

    /// <summary>The account function processes run as; null when they run as the server's own user.</summary>
    public string? RunsAs => _runAs?.User;

    internal string CodeRoot => _code.Root;

    /// <summary>A directory the function's group may read and traverse (root:group 0750 when dropping privileges).</summary>
    private string Shared(string path)
    {
        Directory.CreateDirectory(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
            | UnixFileMode.GroupRead | UnixFileMode.GroupExecute);
        if (_runAs is not null) Native.Chown(path, 0, _runAs.Gid);
        return path;
    }

    public async Task<FunctionInvocationResult> InvokeAsync(FunctionInvocation invocation, CancellationToken ct)
    {
        if (Interlocked.Increment(ref _inFlight) > _options.MaxConcurrentInvocations)
        {
            Interlocked.Decrement(ref _inFlight);
            throw new ServiceException("TooManyRequestsException", "Rate Exceeded.");
        }
        try
        {
            return await InvokeOnceAsync(invocation, ct).ConfigureAwait(false);
        }
        finally
        {
            Interlocked.Decrement(ref _inFlight);
        }
    }

    private async Task<FunctionInvocationResult> InvokeOnceAsync(FunctionInvocation invocation, CancellationToken ct)
    {
        var config = invocation.Function.Configuration;
        var runtime = RuntimeOf(config.Runtime)
            ?? throw new ServiceException("InvalidRuntimeException", $"The runtime parameter of {config.Runtime} is not supported by Coffer.");
        var timeout = TimeSpan.FromSeconds(Math.Clamp(config.Timeout, 1, 900));
        var code = await _code.GetAsync(invocation.Function.ZipFile, ct).ConfigureAwait(false);
        var credentials = _credentials.For(config.Role, config.FunctionName, timeout);

        var dir = Path.Combine(_invocations, Guid.NewGuid().ToString("N"));
        var work = Path.Combine(dir, "work");
        Directory.CreateDirectory(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        Directory.CreateDirectory(work, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var eventFile = Path.Combine(dir, "event.json");
        var resultFile = Path.Combine(dir, "result.json");
        await File.WriteAllBytesAsync(eventFile, invocation.Payload.ToArray(), ct).ConfigureAwait(false);
        if (_runAs is not null)
            foreach (var p in new[] { dir, work, eventFile }) Native.Chown(p, _runAs.Uid, _runAs.Gid);
        try
        {
            var started = _options.Time.GetUtcNow();
            var psi = StartInfo(runtime, config, code, work, eventFile, resultFile, invocation.RequestId, started + timeout, credentials);
            var run = await RunProcessAsync(psi, runtime == Runtime.Provided ? invocation.Payload : (ReadOnlyMemory<byte>?)null, timeout, ct).ConfigureAwait(false);
            var elapsed = _options.Time.GetUtcNow() - started;
            var (payload, error) = Outcome(runtime, run, resultFile, invocation.RequestId, timeout);
            var log = LogText(invocation.RequestId, config, run, elapsed);
            await Logs.AppendAsync(config.FunctionName, log, CancellationToken.None).ConfigureAwait(false);
            if (error is not null) LogFunctionError(_log, config.FunctionName, invocation.RequestId, run.TimedOut ? "timed out" : "Unhandled");
            return new FunctionInvocationResult(payload, error, Tail(log));
        }
        finally
        {
            try { Directory.Delete(dir, recursive: true); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { LogCleanupFailed(_log, dir); }
        }
    }

    private enum Runtime { Python, Node, Provided }

    private static Runtime? RuntimeOf(string runtime) =>
        runtime.StartsWith("python3", StringComparison.Ordinal) ? Runtime.Python
        : runtime.StartsWith("nodejs", StringComparison.Ordinal) ? Runtime.Node
        : runtime is "provided" or "provided.al2" or "provided.al2023" ? Runtime.Provided
        : null;

    private ProcessStartInfo StartInfo(Runtime runtime, FunctionConfiguration config, string code, string work, string eventFile,
        string resultFile, string requestId, DateTimeOffset deadline, TemporaryCredentials credentials)
    {
        var psi = new ProcessStartInfo
        {
            WorkingDirectory = work,
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        var argv = new List<string>();
        if (File.Exists(Setsid)) argv.Add(Setsid);   // a session of its own: one kill reaches the whole tree
        var addressSpace = (config.MemorySize + _options.AddressSpaceHeadroomMb) * 1024L * 1024L;
        if (runtime != Runtime.Node && File.Exists(Prlimit)) argv.AddRange([Prlimit, $"--as={addressSpace}:{addressSpace}"]);
        if (_runAs is not null)
            argv.AddRange([Setpriv, $"--reuid={_runAs.Uid}", $"--regid={_runAs.Gid}", "--clear-groups", "--no-new-privs", "--"]);
        var deadlineMs = deadline.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture);
        switch (runtime)
        {
            case Runtime.Python:
                argv.AddRange([_options.PythonPath, "-u", Path.Combine(_runtimeDir, "bootstrap.py"), eventFile, resultFile, requestId, deadlineMs, config.FunctionArn]);
                break;
            case Runtime.Node:
                argv.AddRange([_options.NodePath, $"--max-old-space-size={Math.Max(16, config.MemorySize * 7 / 8)}",
                    Path.Combine(_runtimeDir, "bootstrap.js"), eventFile, resultFile, requestId, deadlineMs, config.FunctionArn]);
                break;
            default:
                argv.Add(Path.Combine(code, "bootstrap"));
                break;
        }
        psi.FileName = argv[0];
        foreach (var a in argv.Skip(1)) psi.ArgumentList.Add(a);

        // Nothing from the server's environment: only what a Lambda function is given.
        var env = psi.Environment;
        env.Clear();
        foreach (var (k, v) in config.Environment) env[k] = v;
        var now = _options.Time.GetUtcNow();
        // A function runs in its own region (that of its ARN), as on Lambda; the server's region otherwise.
        var arnParts = config.FunctionArn.Split(':');
        var region = arnParts.Length > 3 && arnParts[3].Length > 0 ? arnParts[3] : _options.Region;
        env["AWS_REGION"] = region;
        env["AWS_DEFAULT_REGION"] = region;
        env["AWS_LAMBDA_FUNCTION_NAME"] = config.FunctionName;
        env["AWS_LAMBDA_FUNCTION_VERSION"] = "$LATEST";
        env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] = config.MemorySize.ToString(CultureInfo.InvariantCulture);
        env["AWS_LAMBDA_LOG_GROUP_NAME"] = "/aws/lambda/" + config.FunctionName;
        env["AWS_LAMBDA_LOG_STREAM_NAME"] = $"{now:yyyy/MM/dd}/[$LATEST]{requestId.Replace("-", "", StringComparison.Ordinal)}";
        env["LAMBDA_TASK_ROOT"] = code;
        env["LAMBDA_RUNTIME_DIR"] = _runtimeDir;
        env["_HANDLER"] = config.Handler;
        env["AWS_EXECUTION_ENV"] = "AWS_Lambda_" + config.Runtime;
        env["TZ"] = ":UTC";
        env["LANG"] = "C.UTF-8";
        env["PATH"] = FunctionRunnerOptions.SafePath;
        env["HOME"] = work;
        env["AWS_ACCESS_KEY_ID"] = credentials.AccessKeyId;
        env["AWS_SECRET_ACCESS_KEY"] = credentials.SecretAccessKey;
        env["AWS_SESSION_TOKEN"] = credentials.SessionToken;
        if (_options.EndpointUrl is { } url)
        {
            env["AWS_ENDPOINT_URL"] = url;
            env["AWS_ENDPOINT_URL_SECRETS_MANAGER"] = url;
            env["SECRETS_MANAGER_ENDPOINT"] = url;
        }
        return psi;
    }

    private sealed record ProcessRun(int ExitCode, bool TimedOut, byte[] Stdout, string Output, bool StdoutTooLarge);

    private async Task<ProcessRun> RunProcessAsync(ProcessStartInfo psi, ReadOnlyMemory<byte>? stdin, TimeSpan timeout, CancellationToken ct)
    {
        using var process = new Process { StartInfo = psi };
        process.Start();
        var pid = process.Id;
        _running[pid] = 0;
        try
        {
            return await WaitAsync(process, pid, stdin, timeout, ct).ConfigureAwait(false);
        }
        finally { _running.TryRemove(pid, out _); }
    }

    private async Task<ProcessRun> WaitAsync(Process process, int pid, ReadOnlyMemory<byte>? stdin, TimeSpan timeout, CancellationToken ct)
    {
        var output = new BoundedText(_options.MaxLogBytesPerInvocation);
        var stdoutIsResult = stdin is not null;
        var stdout = new MemoryStream();
        var stdoutTooLarge = false;
        var readers = new List<Task>
        {
            stdoutIsResult
                ? Task.Run(async () => stdoutTooLarge = !await CopyBoundedAsync(process.StandardOutput.BaseStream, stdout, _options.MaxResponseBytes).ConfigureAwait(false), CancellationToken.None)
                : PumpAsync(process.StandardOutput, output),
            PumpAsync(process.StandardError, output),
        };
        try
        {
            if (stdin is { } input) await process.StandardInput.BaseStream.WriteAsync(input, CancellationToken.None).ConfigureAwait(false);
            process.StandardInput.Close();
        }
        catch (IOException) { /* the function exited without reading its event */ }

        var timedOut = false;
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        deadline.CancelAfter(timeout);
        try { await process.WaitForExitAsync(deadline.Token).ConfigureAwait(false); }
        catch (OperationCanceledException) { timedOut = !ct.IsCancellationRequested; }
        // Whatever is left of the session goes: children after a normal exit, the whole tree after a timeout.
        Native.KillGroup(pid);
        if (!process.HasExited)
        {
            try { process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            await process.WaitForExitAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10), CancellationToken.None).ConfigureAwait(false);
        }
        // A grandchild that left the session may hold the pipes open; its output is not waited for.
        try { await Task.WhenAll(readers).WaitAsync(TimeSpan.FromSeconds(2), CancellationToken.None).ConfigureAwait(false); }
        catch (TimeoutException) { output.Append("[coffer] output after the function's exit was not collected\n"); }
        ct.ThrowIfCancellationRequested();
        return new ProcessRun(process.ExitCode, timedOut, stdout.ToArray(), output.ToString(), stdoutTooLarge);
    }

    private static async Task PumpAsync(StreamReader reader, BoundedText into)
    {
        var buffer = new char[4096];
        int n;
        while ((n = await reader.ReadAsync(buffer).ConfigureAwait(false)) > 0) into.Append(buffer.AsSpan(0, n));
    }

    /// <summary>False when the stream had more than <paramref name="max"/> bytes (the rest is read and dropped).</summary>
    private static async Task<bool> CopyBoundedAsync(Stream from, MemoryStream to, int max)
    {
        var buffer = new byte[16384];
        var ok = true;
        int n;
        while ((n = await from.ReadAsync(buffer).ConfigureAwait(false)) > 0)
        {
            if (to.Length + n > max) ok = false;
            if (ok) to.Write(buffer, 0, n);
        }
        return ok;
    }

    private (byte[] Payload, string? Error) Outcome(Runtime runtime, ProcessRun run, string resultFile, string requestId, TimeSpan timeout)
    {
        if (run.TimedOut)
            return (ErrorPayload("Sandbox.Timedout", TimedOutMessage(requestId, timeout)), "Unhandled");
        if (runtime == Runtime.Provided)
        {
            if (run.ExitCode != 0) return (ErrorPayload("Runtime.ExitError", ExitMessage(requestId, run.ExitCode)), "Unhandled");
            if (run.StdoutTooLarge) return (TooLarge(), "Unhandled");
            return (run.Stdout.Length == 0 ? "null"u8.ToArray() : run.Stdout, null);
        }
        var errorFile = resultFile + ".error";
        if (File.Exists(errorFile)) return (ReadBounded(errorFile) ?? TooLarge(), "Unhandled");
        if (File.Exists(resultFile)) return ReadBounded(resultFile) is { } ok ? (ok, null) : (TooLarge(), "Unhandled");
        return (ErrorPayload("Runtime.ExitError", run.ExitCode == 0
            ? $"RequestId: {requestId} Error: Runtime exited without providing a reason"
            : ExitMessage(requestId, run.ExitCode)), "Unhandled");
    }

    private byte[]? ReadBounded(string path) => new FileInfo(path).Length > _options.MaxResponseBytes ? null : File.ReadAllBytes(path);

    private byte[] TooLarge() => ErrorPayload("Function.ResponseSizeTooLarge",
        $"Response payload size exceeded maximum allowed payload size ({_options.MaxResponseBytes} bytes).");

    private string TimedOutMessage(string requestId, TimeSpan timeout) =>
        $"{_options.Time.GetUtcNow():yyyy-MM-ddTHH:mm:ss.fffZ} {requestId} Task timed out after {timeout.TotalSeconds.ToString("0.00", CultureInfo.InvariantCulture)} seconds";

    /// <summary>Exit codes above 128 are a signal (the shell convention the process layer reports).</summary>
    private static string ExitMessage(string requestId, int exitCode) =>
        $"RequestId: {requestId} Error: Runtime exited with error: " + (exitCode > 128 && exitCode < 160
            ? "signal: " + ((exitCode - 128) switch { 9 => "killed", 11 => "segmentation fault", 6 => "aborted", 15 => "terminated", var s => s.ToString(CultureInfo.InvariantCulture) })
            : "exit status " + exitCode.ToString(CultureInfo.InvariantCulture));

    private static byte[] ErrorPayload(string type, string message) =>
        JsonSerializer.SerializeToUtf8Bytes(new FunctionErrorPayload(message, type), FunctionJsonContext.Default.FunctionErrorPayload);

    private string LogText(string requestId, FunctionConfiguration config, ProcessRun run, TimeSpan elapsed)
    {
        var b = new StringBuilder();
        b.Append("START RequestId: ").Append(requestId).Append(" Version: $LATEST\n");
        b.Append(run.Output);
        if (run.Output.Length > 0 && run.Output[^1] != '\n') b.Append('\n');
        if (run.TimedOut) b.Append(TimedOutMessage(requestId, TimeSpan.FromSeconds(config.Timeout))).Append('\n');
        b.Append("END RequestId: ").Append(requestId).Append('\n');
        var ms = elapsed.TotalMilliseconds;
        b.Append(CultureInfo.InvariantCulture, $"REPORT RequestId: {requestId}\tDuration: {ms:0.00} ms\tBilled Duration: {Math.Ceiling(ms):0} ms\tMemory Size: {config.MemorySize} MB\n");
        return b.ToString();
    }

    /// <summary>The last 4 KB of the invocation's log, cut at a character boundary (LogType=Tail).</summary>
    private static string Tail(string log)
    {
        var bytes = Encoding.UTF8.GetBytes(log);
        if (bytes.Length <= TailBytes) return log;
        var start = bytes.Length - TailBytes;
        while (start < bytes.Length && (bytes[start] & 0xC0) == 0x80) start++;
        return Encoding.UTF8.GetString(bytes, start, bytes.Length - start);
    }

    /// <summary>Kills the invocations still running (their sessions would outlive the server) and removes the run directory.</summary>
    public void Dispose()
    {
        foreach (var pid in _running.Keys) Native.KillGroup(pid);
        if (!_ownsRunRoot) return;
        try { Directory.Delete(_runRoot, recursive: true); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { LogCleanupFailed(_log, _runRoot); }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Function {FunctionName} invocation {RequestId} failed: {Outcome}")]
    private static partial void LogFunctionError(ILogger log, string functionName, string requestId, string outcome);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not remove the function directory {Directory}")]
    private static partial void LogCleanupFailed(ILogger log, string directory);
}

/// <summary>Output kept up to a limit; past it, one marker line says how much was dropped.</summary>
internal sealed class BoundedText(int maxChars)
{
    private readonly StringBuilder _text = new();
    private long _dropped;

    public void Append(ReadOnlySpan<char> chars)
    {
        lock (_text)
        {
            var room = Math.Max(0, maxChars - _text.Length);
            _text.Append(chars[..Math.Min(room, chars.Length)]);
            _dropped += Math.Max(0, chars.Length - room);
        }
    }

    public void Append(string s) => Append(s.AsSpan());

    public override string ToString()
    {
        lock (_text)
            return _dropped == 0 ? _text.ToString() : _text + $"\n[coffer] {_dropped} characters of output dropped (limit {maxChars})\n";
    }
}

internal sealed record FunctionErrorPayload(
    [property: System.Text.Json.Serialization.JsonPropertyName("errorMessage")] string ErrorMessage,
    [property: System.Text.Json.Serialization.JsonPropertyName("errorType")] string ErrorType);

[System.Text.Json.Serialization.JsonSerializable(typeof(FunctionErrorPayload))]
internal sealed partial class FunctionJsonContext : System.Text.Json.Serialization.JsonSerializerContext;
