using System.Globalization;
using System.Text.Json;
using Coffer.Core;
using Coffer.Core.Secrets;
using Coffer.Protocol.SigV4;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Coffer.Protocol;

/// <summary>
/// <c>GET /coffer/changes?after=&lt;seq&gt;&amp;epoch=&lt;epoch&gt;[&amp;wait=&lt;seconds&gt;]</c>: the change feed a
/// <c>coffer agent</c> long-polls so that it learns of new versions and label moves within seconds instead of
/// waiting for its TTL (docs/agent.md). Not an AWS action, so it is outside the X-Amz-Target table, but signed
/// with SigV4 for the service <c>secretsmanager</c> like every other call.
///
/// The answer is <c>{"Epoch","Sequence","Reset","IamChanged","Arns"}</c>: ARNs only, never values or version ids.
/// Without <c>after</c> it answers at once with the current sequence (how a reader starts). With an <c>epoch</c>
/// that is not the server's (the server restarted) it answers <c>Reset: true</c> at once. Otherwise it waits up to
/// <c>wait</c> seconds (default 20, at most 60) for a change. An IAM change since <c>after</c> answers
/// <c>Reset: true, IamChanged: true</c>: every secret must be re-checked. <c>IamChanged</c> only names the cause;
/// a reader that knows nothing of it (an agent older than the field) is still right to act on <c>Reset</c>.
///
/// Reading the feed requires <c>secretsmanager:ListSecrets</c> on <c>*</c> (it reveals which secrets change, not
/// their values); a caller without it hears AccessDeniedException.
/// </summary>
/// <param name="stopping">The host's ApplicationStopping: pending long polls answer at once so that shutdown never
/// waits for them.</param>
public sealed class ChangeFeedEndpoint(SecretChangeFeed feed, SigV4Verifier verifier, TimeProvider time, ILogger<ChangeFeedEndpoint> log,
    CancellationToken stopping = default, SecretService? secrets = null)
{
    public const string Path = "/coffer/changes";
    public static readonly TimeSpan DefaultWait = TimeSpan.FromSeconds(20);
    public static readonly TimeSpan MaxWait = TimeSpan.FromSeconds(60);

    public async Task HandleAsync(HttpContext http)
    {
        var ct = http.RequestAborted;
        try
        {
            var identity = await verifier.VerifyAsync(http.Request, ReadOnlyMemory<byte>.Empty, "secretsmanager", ct).ConfigureAwait(false);
            secrets?.Authorize(new RequestContext(identity.Key.Principal, identity.Region, http.TraceIdentifier,
                http.Connection.RemoteIpAddress?.ToString(), http.Request.Headers.UserAgent.ToString(), http.Request.IsHttps), "secretsmanager:ListSecrets");
            var query = http.Request.Query;
            foreach (var key in query.Keys)
            {
                if (key is not ("after" or "epoch" or "wait"))
                    throw ServiceException.InvalidParameter($"Unknown query parameter {Sanitize(key)}.");
            }
            var wait = DefaultWait;
            if (query.TryGetValue("wait", out var waitText))
            {
                if (!int.TryParse(waitText, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds) || seconds > MaxWait.TotalSeconds)
                    throw ServiceException.InvalidParameter($"wait must be a whole number of seconds from 0 to {MaxWait.TotalSeconds}.");
                wait = TimeSpan.FromSeconds(seconds);
            }

            ChangeBatch batch;
            if (!query.TryGetValue("after", out var afterText))
            {
                batch = new ChangeBatch(feed.Epoch, feed.LastSequence, Reset: false, []);
            }
            else
            {
                if (!long.TryParse(afterText, NumberStyles.None, CultureInfo.InvariantCulture, out var after))
                    throw ServiceException.InvalidParameter("after must be a sequence number.");
                if (query.TryGetValue("epoch", out var epoch) && epoch != feed.Epoch)
                    batch = new ChangeBatch(feed.Epoch, feed.LastSequence, Reset: true, []);
                else
                    batch = await ReadAsync(after, wait, ct).ConfigureAwait(false);
            }
            await WriteBatchAsync(http.Response, batch, ct).ConfigureAwait(false);
        }
        catch (ServiceException e)
        {
            if (!http.Response.HasStarted)
                await AwsErrorResponse.WriteAsync(http.Response, e.Code, e.Message, time.GetUtcNow()).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // The reader went away during the long poll.
        }
        catch (Exception e)
        {
            log.LogError(e, "Change feed request failed");
            if (!http.Response.HasStarted)
                await AwsErrorResponse.WriteAsync(http.Response, ProtocolErrors.InternalServiceError, AwsErrorResponse.InternalErrorMessage, time.GetUtcNow()).ConfigureAwait(false);
        }
    }

    private async Task<ChangeBatch> ReadAsync(long after, TimeSpan wait, CancellationToken ct)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, stopping);
        try
        {
            return await feed.ReadAsync(after, wait, linked.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested && !ct.IsCancellationRequested)
        {
            return new ChangeBatch(feed.Epoch, after, Reset: false, []);
        }
    }

    private static string Sanitize(string name) =>
        name.Length <= 32 && name.All(char.IsAsciiLetterOrDigit) ? name : "(invalid)";

    private static async Task WriteBatchAsync(HttpResponse response, ChangeBatch batch, CancellationToken ct)
    {
        response.ContentType = "application/json";
        using var buffer = new MemoryStream();
        await using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("Epoch", batch.Epoch);
            json.WriteNumber("Sequence", batch.Sequence);
            json.WriteBoolean("Reset", batch.Reset);
            json.WriteBoolean("IamChanged", batch.IamChanged);
            json.WriteStartArray("Arns");
            foreach (var arn in batch.Arns) json.WriteStringValue(arn);
            json.WriteEndArray();
            json.WriteEndObject();
        }
        response.ContentLength = buffer.Length;
        await response.Body.WriteAsync(buffer.GetBuffer().AsMemory(0, (int)buffer.Length), ct).ConfigureAwait(false);
    }
}
