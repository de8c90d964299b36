using System.CommandLine;
using System.Text;
using Coffer.Functions;
using Coffer.Server;

namespace Coffer.Cli;

/// <summary>
/// `coffer functions logs NAME [--tail N] [--follow]`: a function's log (what its invocations printed, between
/// Lambda's START / END / REPORT lines), read from the data directory like `coffer rotation status`: no credentials,
/// works while the server runs. The file is private to the server's user, so run it as that user.
/// </summary>
internal static class FunctionsCommand
{
    public static Command Create()
    {
        var name = new Argument<string>("name") { Description = "Function name (or its ARN)." };
        var dataDir = new Option<string>("--data-dir")
        {
            Description = "The server's data directory.",
            DefaultValueFactory = _ => CofferServerOptions.DefaultDataDir,
        };
        var tail = new Option<int>("--tail") { Description = "Print only the last N lines (0: all).", DefaultValueFactory = _ => 0 };
        var follow = new Option<bool>("--follow", "-f") { Description = "Keep printing new lines as invocations write them (Ctrl-C ends)." };
        var logs = new Command("logs", "Print a function's log (stdout and stderr of its invocations).") { name, dataDir, tail, follow };
        logs.SetAction(async (result, ct) =>
        {
            var functionName = FunctionLogs.NameOf(result.GetValue(name)!);
            var path = new FunctionLogs(Path.Combine(result.GetValue(dataDir)!, "functions", "logs")).PathOf(functionName);
            if (!File.Exists(path) && !result.GetValue(follow))
            {
                await Console.Error.WriteLineAsync($"coffer functions logs: no log for {functionName} at {path} (not invoked yet?)").ConfigureAwait(false);
                return 1;
            }
            foreach (var line in FunctionLogs.Tail(path, result.GetValue(tail))) Console.Out.WriteLine(line);
            if (!result.GetValue(follow)) return 0;
            long position = File.Exists(path) ? new FileInfo(path).Length : 0;
            var buffer = new byte[65536];
            var chars = new char[Encoding.UTF8.GetMaxCharCount(buffer.Length)];
            var decoder = Encoding.UTF8.GetDecoder();   // keeps a character split across two reads whole
            try
            {
                while (!ct.IsCancellationRequested)
                {
                    await Task.Delay(500, ct).ConfigureAwait(false);
                    if (!File.Exists(path)) continue;
                    var length = new FileInfo(path).Length;
                    // The log was trimmed (its older half dropped): continue at its new end.
                    if (length < position) position = length;
                    if (length == position) continue;
                    await using var f = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
                    f.Seek(position, SeekOrigin.Begin);
                    int n;
                    while ((n = await f.ReadAsync(buffer, ct).ConfigureAwait(false)) > 0)
                    {
                        Console.Out.Write(chars, 0, decoder.GetChars(buffer, 0, n, chars, 0));
                        position += n;
                    }
                    await Console.Out.FlushAsync(ct).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) { }
            return 0;
        });
        return new Command("functions", "Inspect functions (docs/functions.md).") { logs };
    }
}
