using Coffer.Core.Secrets;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Coffer.Server;

/// <summary>Purges secrets whose recovery window has ended (spec §2.6), every <c>interval</c>.</summary>
internal sealed partial class PurgeSweeper(SecretService secrets, TimeSpan interval, TimeProvider time, ILogger<PurgeSweeper> log) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(interval, time);
        try
        {
            do
            {
                try
                {
                    var purged = await secrets.PurgeDueSecretsAsync(stoppingToken).ConfigureAwait(false);
                    if (purged > 0) LogPurged(log, purged);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    // Only the type: a message could name a secret or quote a store error.
                    LogFailed(log, e.GetType().FullName ?? "?");
                }
            }
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Purged {Count} secrets whose recovery window ended")]
    private static partial void LogPurged(ILogger log, int count);

    [LoggerMessage(Level = LogLevel.Error, Message = "Purging secrets failed with {ExceptionType}; retrying at the next interval")]
    private static partial void LogFailed(ILogger log, string exceptionType);
}
