namespace Coffer.Functions.Tests;

public sealed class FunctionLogsTests
{
    [Fact]
    public async Task A_log_over_its_limit_keeps_its_newer_half_from_a_line_start()
    {
        var dir = Directory.CreateTempSubdirectory("coffer-fn-logs-").FullName;
        try
        {
            var logs = new FunctionLogs(dir, maxBytes: 1000);
            for (var i = 0; i < 100; i++) await logs.AppendAsync("fn", $"line {i:D3} of the log\n", default);
            var path = logs.PathOf("fn");
            Assert.InRange(new FileInfo(path).Length, 1, 1000);
            var lines = FunctionLogs.Tail(path, 0);
            Assert.Equal("line 099 of the log", lines[^1]);
            Assert.All(lines, l => Assert.StartsWith("line ", l));
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
            Assert.Equal(["line 098 of the log", "line 099 of the log"], FunctionLogs.Tail(path, 2));
            Assert.Empty(FunctionLogs.Tail(logs.PathOf("other"), 5));
            Assert.EndsWith("weird_name.log", logs.PathOf("weird/name"));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}
