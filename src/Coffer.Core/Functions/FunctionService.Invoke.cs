using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Coffer.Core.Functions;

/// <summary>
/// Invoke (docs/functions.md "Who may invoke"): lambda:InvokeFunction allowed by the caller's identity policies or
/// by the function's resource policy (AddPermission). RequestResponse waits for the runner; DryRun only checks the
/// permission (204); Event is accepted (202) and runs in the background, its result discarded.
/// </summary>
public sealed partial class FunctionService
{
    public async Task<InvokeResult> InvokeAsync(RequestContext ctx, InvokeRequest request, CancellationToken ct)
    {
        var dryRun = request.InvocationType == InvocationType.DryRun;
        var (record, _) = await ResolveAsync(ctx, request.FunctionName, request.Qualifier, "lambda:InvokeFunction", ct, withCode: !dryRun).ConfigureAwait(false);
        if (request.Payload.Length > FunctionLimits.MaxPayloadBytes)
            throw FunctionErrors.RequestTooLarge($"Request must be smaller than {FunctionLimits.MaxPayloadBytes} bytes for the InvokeFunction operation");
        var payload = request.Payload.Length == 0 ? "{}"u8.ToArray() : request.Payload;
        if (!IsJson(payload.Span))
            throw new ServiceException("InvalidRequestContentException", "Could not parse request body into json: the payload is not a JSON value.");
        if (dryRun) return new InvokeResult(204, [], null, null, LatestVersion, record.Arn);
        if (Runner is not { } runner) throw FunctionErrors.RuntimeUnavailable();

        var function = Open(record);
        var invocation = new FunctionInvocation(function, payload, ctx.RequestId);
        if (request.InvocationType == InvocationType.Event)
        {
            _ = Task.Run(async () =>
            {
                try { await runner.InvokeAsync(invocation, CancellationToken.None).ConfigureAwait(false); }
                catch (Exception e) { BackgroundFailure?.Invoke(record.Name, e); }
            }, CancellationToken.None);
            return new InvokeResult(202, [], null, null, LatestVersion, record.Arn);
        }

        var result = await runner.InvokeAsync(invocation, ct).ConfigureAwait(false);
        var output = result.Payload;
        var error = result.FunctionError;
        if (output.Length > FunctionLimits.MaxPayloadBytes)
        {
            output = Encoding.UTF8.GetBytes(
                $"{{\"errorMessage\":\"Response payload size ({output.Length.ToString(CultureInfo.InvariantCulture)} bytes) exceeded maximum allowed payload size ({FunctionLimits.MaxPayloadBytes.ToString(CultureInfo.InvariantCulture)} bytes).\",\"errorType\":\"Function.ResponseSizeTooLarge\"}}");
            error = "Unhandled";
        }
        string? log = request.LogTail ? Convert.ToBase64String(Tail(Encoding.UTF8.GetBytes(result.LogTail ?? ""))) : null;
        return new InvokeResult(200, output, error, log, LatestVersion, record.Arn);
    }

    /// <summary>The last 4 KB of the log, cut at a UTF-8 character boundary (X-Amz-Log-Result).</summary>
    private static byte[] Tail(byte[] log)
    {
        const int max = 4096;
        if (log.Length <= max) return log;
        var start = log.Length - max;
        while (start < log.Length && (log[start] & 0xC0) == 0x80) start++;
        return log[start..];
    }

    private static bool IsJson(ReadOnlySpan<byte> payload)
    {
        try
        {
            var reader = new Utf8JsonReader(payload, new JsonReaderOptions { MaxDepth = 256 });
            while (reader.Read()) { }
            return reader.BytesConsumed == payload.Length || payload[(int)reader.BytesConsumed..].Trim(" \t\r\n"u8).IsEmpty;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    // ---- code links (GetFunction's Code.Location) ---------------------------------------------------------------

    /// <summary>
    /// A link token for the function's current package, valid for 10 minutes: like AWS's presigned S3 URL, whoever
    /// holds the link may download that package (and only while it is the function's current code).
    /// </summary>
    internal string CodeToken(string region, string name, string sha)
    {
        var expires = time.GetUtcNow().Add(CodeLinkLifetime).ToUnixTimeSeconds();
        return expires.ToString(CultureInfo.InvariantCulture) + "." + Mac(region, name, sha, expires);
    }

    /// <summary>The package the link names, or AccessDeniedException when the token is wrong, expired or stale.</summary>
    public async Task<(string Arn, byte[] Zip)> DownloadCodeAsync(string region, string name, string? token, CancellationToken ct)
    {
        static ServiceException Denied() => ServiceException.AccessDenied("The code link is invalid or has expired; call GetFunction for a new one.");
        if (string.IsNullOrEmpty(token) || token.Split('.') is not [var e, var mac]
            || !long.TryParse(e, NumberStyles.None, CultureInfo.InvariantCulture, out var expires)
            || expires < time.GetUtcNow().ToUnixTimeSeconds())
            throw Denied();
        var record = await store.FindFunctionAsync(region, name, withCode: true, ct).ConfigureAwait(false) ?? throw Denied();
        var doc = Deserialize(record);
        if (!CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(Mac(region, name, doc.CodeSha256, expires)), Encoding.ASCII.GetBytes(mac)))
            throw Denied();
        return (record.Arn, cipher.Open(record.CodeBlob!, CodeAad(record.Arn, doc.CodeSha256)));
    }

    private string Mac(string region, string name, string sha, long expires)
    {
        var data = Encoding.UTF8.GetBytes($"{region}\n{name}\n{sha}\n{expires.ToString(CultureInfo.InvariantCulture)}");
        return Convert.ToHexStringLower(HMACSHA256.HashData(_linkKey, data));
    }
}
