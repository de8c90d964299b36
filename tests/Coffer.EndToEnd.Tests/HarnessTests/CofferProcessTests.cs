using Coffer.EndToEnd.Tests.Harness;

namespace Coffer.EndToEnd.Tests.HarnessTests;

/// <summary>The process harness itself: start, SIGSTOP/SIGCONT, SIGKILL, restart on the same data, captured output.</summary>
public sealed class CofferProcessTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Starts_pauses_resumes_kills_and_restarts_a_real_server()
    {
        await using var server = await CofferProcess.StartAsync(new CofferServerOptions { Name = "harness" });
        output.WriteLine($"ready in {server.LastReadyTime.TotalSeconds:F1}s on port {server.Port}");
        Assert.True(Directory.Exists(server.DataDirectory), "the server creates its data directory");
        Assert.Contains(" server ", server.CommandLines[0] + " ", StringComparison.Ordinal);
        Assert.DoesNotContain(server.SecretAccessKey, server.CommandLines[0], StringComparison.Ordinal);

        using (var client = server.CreateClient(timeout: TimeSpan.FromSeconds(2)))
        {
            server.Pause();
            await Assert.ThrowsAnyAsync<TaskCanceledException>(() => client.GetAsync("health/ready"));
            server.Resume();
        }

        using (var client = server.CreateClient())
        {
            Assert.Equal(200, (await client.GetAsync("health/ready")).Status);
            var list = await client.CallAsync("ListSecrets", "{}");
            Assert.True(list.IsSuccess, list.Describe());
        }

        int firstPid = server.Pid;
        await server.KillAsync();
        Assert.False(server.IsRunning);
        await server.RestartAsync();
        Assert.NotEqual(firstPid, server.Pid);
        using (var client = server.CreateClient())
        {
            Assert.Equal(200, (await client.GetAsync("health/ready")).Status);
        }

        Assert.Equal(4, server.OutputFiles.Count);
        Assert.All(server.OutputFiles, f => Assert.True(File.Exists(f), f));
    }
}
