using Microsoft.Extensions.Logging;

namespace Coffer.Protocol;

/// <summary>
/// The log scope every endpoint opens for a call: each entry logged during it carries the <c>x-amzn-RequestId</c>
/// the client got (docs/operations.md).
/// </summary>
internal static class RequestLogScope
{
    private static readonly Func<ILogger, string, IDisposable?> Scope = LoggerMessage.DefineScope<string>("RequestId:{RequestId}");

    public static IDisposable? Begin(ILogger log, string requestId) => Scope(log, requestId);
}
