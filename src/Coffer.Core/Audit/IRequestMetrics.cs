namespace Coffer.Core.Audit;

/// <summary>
/// What the protocol edges report per request, for /metrics. Implementations must be cheap and thread-safe.
/// <paramref name="outcome"/> is "success" or the AWS error code; never anything taken from the request.
/// </summary>
public interface IRequestMetrics
{
    void RequestServed(string service, string action, string outcome, TimeSpan elapsed);
}
