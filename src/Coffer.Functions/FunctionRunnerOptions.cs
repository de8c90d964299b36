namespace Coffer.Functions;

/// <summary>How <see cref="ProcessFunctionRunner"/> runs functions (docs/functions.md, "Runtimes" and "Trust model").</summary>
public sealed class FunctionRunnerOptions
{
    /// <summary>The server's data directory: logs go to <c>functions/logs</c>, code to <c>functions/code</c> (see <see cref="RunAsUser"/>).</summary>
    public required string DataDir { get; init; }

    /// <summary>AWS_REGION and AWS_DEFAULT_REGION of a function whose ARN names no region.</summary>
    public string Region { get; init; } = "us-east-1";

    /// <summary>
    /// This server's own URL (with its base path), given to functions as AWS_ENDPOINT_URL, SECRETS_MANAGER_ENDPOINT and
    /// AWS_ENDPOINT_URL_SECRETS_MANAGER. Known only once the server listens, hence settable.
    /// </summary>
    public string? EndpointUrl { get; set; }

    /// <summary>Debian's interpreter, not a pyenv or venv one: it sees /usr/lib/python3/dist-packages.</summary>
    public string PythonPath { get; init; } = "/usr/bin/python3";

    public string NodePath { get; init; } = File.Exists("/usr/bin/node") ? "/usr/bin/node" : "/usr/local/bin/node";

    /// <summary>
    /// When the server's effective uid is 0, function processes run as this user (its primary group) with no
    /// supplementary groups and no_new_privs; code and work directories then live in a private temporary directory
    /// reachable only by root and that group, because the data directory is root's alone (0700). Null: run
    /// functions as the server's own user even as root (not recommended).
    /// </summary>
    public string? RunAsUser { get; init; } = "nobody";

    /// <summary>
    /// Where code and work directories go when functions run as <see cref="RunAsUser"/>: one directory per runner,
    /// named by the server's pid. Its parent must be root's and writable by root only (else a temporary directory is used).
    /// </summary>
    public string RunRootParent { get; init; } = "/run/coffer-functions";

    /// <summary>Address space given beyond MemorySize (shared libraries, thread stacks and allocator arenas count against RLIMIT_AS).</summary>
    public long AddressSpaceHeadroomMb { get; init; } = 512;

    /// <summary>Bytes kept per function log before its older half is dropped.</summary>
    public long MaxLogBytes { get; init; } = FunctionLogs.DefaultMaxBytes;

    /// <summary>Bytes of a response (payload) accepted; AWS's synchronous limit is 6 MB.</summary>
    public int MaxResponseBytes { get; init; } = 6 * 1024 * 1024;

    /// <summary>Bytes of output kept per invocation for the log; the rest is dropped with a marker line.</summary>
    public int MaxLogBytesPerInvocation { get; init; } = 256 * 1024;

    /// <summary>
    /// Invocations running at once, over all functions; one more is refused with TooManyRequestsException
    /// ("Rate Exceeded.", HTTP 429) as Lambda refuses calls over its concurrency quota, instead of starting
    /// processes without bound. Rotation treats the refusal as a transient failure and retries.
    /// </summary>
    public int MaxConcurrentInvocations { get; init; } = 32;

    public TimeProvider Time { get; init; } = TimeProvider.System;

    public const string SafePath = "/usr/local/bin:/usr/bin:/bin";
}
