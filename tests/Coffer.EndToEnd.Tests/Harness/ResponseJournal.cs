using System.Collections.Concurrent;

namespace Coffer.EndToEnd.Tests.Harness;

/// <summary>
/// Every response the harness received, for the canary scan (reliability-matrix §3.7). Success bodies of
/// GetSecretValue and BatchGetSecretValue legitimately carry values and are marked so the scanner skips
/// their bodies (never their headers).
/// </summary>
internal sealed class ResponseJournal
{
    private readonly ConcurrentQueue<ApiResponse> _responses = new();

    public void Record(ApiResponse response) => _responses.Enqueue(response);

    public IReadOnlyCollection<ApiResponse> Responses => _responses.ToArray();

    public static bool BodyMayHoldValue(ApiResponse r) =>
        r.IsSuccess && r.Action is "GetSecretValue" or "BatchGetSecretValue";
}
