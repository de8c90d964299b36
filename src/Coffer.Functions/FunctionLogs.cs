using System.Collections.Concurrent;
using System.Text;

namespace Coffer.Functions;

/// <summary>
/// Each function's log: <c>DATA/functions/logs/NAME.log</c>, what its invocations printed (stdout and stderr) between
/// the START, END and REPORT lines Lambda writes. Bounded: when a file passes <see cref="MaxBytes"/> its older half
/// is dropped. Coffer itself writes only those three lines (request id, duration, memory size) — never an event,
/// a result or a secret value. Files are private to the server's user (0600).
/// </summary>
public sealed class FunctionLogs(string directory, long maxBytes = FunctionLogs.DefaultMaxBytes)
{
    public const long DefaultMaxBytes = 1024 * 1024;
    private readonly ConcurrentDictionary<string, SemaphoreSlim> _locks = new(StringComparer.Ordinal);

    public string Directory => directory;
    public long MaxBytes => maxBytes;

    /// <summary>The log file of a function (names are [A-Za-z0-9_-], so they are safe file names).</summary>
    public string PathOf(string functionName) => Path.Combine(directory, SafeName(functionName) + ".log");

    public async Task AppendAsync(string functionName, string text, CancellationToken ct)
    {
        var gate = _locks.GetOrAdd(functionName, _ => new SemaphoreSlim(1, 1));
        await gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            System.IO.Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            var path = PathOf(functionName);
            var bytes = Encoding.UTF8.GetBytes(text);
            await using (var f = new FileStream(path, new FileStreamOptions
            {
                Mode = FileMode.Append, Access = FileAccess.Write, Share = FileShare.Read,
                UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
            }))
            {
                await f.WriteAsync(bytes, ct).ConfigureAwait(false);
            }
            if (new FileInfo(path).Length > maxBytes) Trim(path);
        }
        finally { gate.Release(); }
    }

    /// <summary>Keeps the newer half, from a line start, written to a new file renamed over the old one.</summary>
    private void Trim(string path)
    {
        var all = File.ReadAllBytes(path);
        var start = all.Length - (int)(maxBytes / 2);
        var nl = Array.IndexOf(all, (byte)'\n', Math.Max(0, start));
        start = nl < 0 ? Math.Max(0, start) : nl + 1;
        var tmp = path + ".trim";
        using (var f = new FileStream(tmp, new FileStreamOptions
        {
            Mode = FileMode.Create, Access = FileAccess.Write, UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
        }))
        {
            f.Write(all, start, all.Length - start);
        }
        File.Move(tmp, path, overwrite: true);
    }

    /// <summary>NAME from NAME, NAME:QUALIFIER or arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER] (the log's name).</summary>
    public static string NameOf(string functionNameOrArn)
    {
        var parts = functionNameOrArn.Split(':');
        if (parts.Length >= 7 && parts[0] == "arn" && parts[2] == "lambda" && parts[5] == "function") return parts[6];
        return parts.Length <= 2 ? parts[0] : "";
    }

    /// <summary>The last <paramref name="lines"/> lines of a function's log (empty when it has none).</summary>
    public static IReadOnlyList<string> Tail(string path, int lines)
    {
        if (!File.Exists(path)) return [];
        var all = File.ReadAllLines(path);
        return lines <= 0 || lines >= all.Length ? all : all[^lines..];
    }

    private static string SafeName(string name) =>
        new([.. name.Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' ? c : '_')]);
}
