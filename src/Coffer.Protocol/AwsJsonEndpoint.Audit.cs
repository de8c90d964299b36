using Coffer.Core;
using Coffer.Core.Audit;
using Coffer.Core.Secrets;
using Microsoft.AspNetCore.Http;

namespace Coffer.Protocol;

/// <summary>
/// The edge's part of the audit trail (issue 4): one record per recognised call — served, failed, or rejected at
/// authentication — handed to <see cref="AuditTrail"/> before the response is written. A call whose record no
/// sink takes is answered InternalServiceError with nothing else (fail closed); a mutating call first checks that
/// a sink is available, so that no write is applied that cannot be recorded.
/// </summary>
public sealed partial class AwsJsonEndpoint
{
    /// <summary>What the edge learns about a call as it goes.</summary>
    private sealed class AuditedCall(long started, string requestId)
    {
        public long Started { get; } = started;
        public string RequestId { get; } = requestId;
        public ReadOnlyMemory<byte> Body { get; set; }
        public RequestContext? Context { get; set; }
        /// <summary>The trail refused this call already; do not try to record it again.</summary>
        public bool AuditFailed { get; set; }
    }

    private async Task BeforeInvokeAsync(Operation operation, AuditedCall call)
    {
        if (_services.Audit is not { } audit || operation.ReadOnly) return;
        try
        {
            await audit.EnsureAvailableAsync().ConfigureAwait(false);
        }
        catch (ServiceException)
        {
            call.AuditFailed = true;
            throw;
        }
    }

    private async Task RecordAsync(HttpContext http, Operation operation, AuditedCall call, ReadOnlyMemory<byte> output, string? errorCode, string? errorMessage)
    {
        if (_services.Audit is not { } audit) return;
        var e = BuildEvent(http, operation, call, output.Span, errorCode, errorMessage, audit);
        try
        {
            await audit.RecordAsync(e, applied: errorCode is null && !operation.ReadOnly).ConfigureAwait(false);
        }
        catch (ServiceException)
        {
            call.AuditFailed = true;
            throw;
        }
    }

    /// <summary>Records a failed call; returns the error to answer (InternalServiceError when the record was refused).</summary>
    private async Task<(string Code, string Message)> RecordFailureAsync(HttpContext http, Operation? operation, AuditedCall call, string code, string message)
    {
        if (operation is null || call.AuditFailed || _services.Audit is null) return (code, message);
        try
        {
            await RecordAsync(http, operation, call, ReadOnlyMemory<byte>.Empty, code, message).ConfigureAwait(false);
            return (code, message);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // Not recorded, so not served: whatever the call's own error was, the answer is InternalServiceError.
            return (ProtocolErrors.InternalServiceError, AwsErrorResponse.InternalErrorMessage);
        }
    }

    private AuditEvent BuildEvent(HttpContext http, Operation operation, AuditedCall call, ReadOnlySpan<byte> output, string? errorCode, string? errorMessage, AuditTrail audit)
    {
        var fields = AuditFields.For(operation.Action);
        var request = AuditFields.ReadRequest(fields, call.Body.Span, audit.Hash);
        var response = errorCode is null ? AuditFields.ReadResponse(fields, output) : default;
        var context = call.Context;
        var accountId = _services.Secrets.AccountId;
        string region;
        AuditIdentity identity;
        if (context is not null)
        {
            region = context.Region;
            identity = AuditIdentity.Of(context.Caller);
        }
        else
        {
            var (keyId, scopeRegion) = ClaimedCredential(http.Request);
            region = scopeRegion ?? "us-east-1";
            identity = AuditIdentity.Unauthenticated(keyId);
        }

        var versionId = response.VersionId ?? request.VersionId;
        var stage = request.VersionStage ?? (operation.Action == "GetSecretValue" && request.VersionId is null && errorCode is null ? StagingLabels.Current : null);
        IReadOnlyList<AuditResource> resources;
        if (response.Arns is { Count: > 0 } arns)
            resources = arns.Count == 1
                ? [new AuditResource(arns[0], accountId, VersionId: versionId, StagingLabel: stage)]
                : [.. arns.Select(a => new AuditResource(a, accountId))];
        else if (request.SecretId is { Length: > 0 } secretId)
            resources = [new AuditResource(secretId, accountId, VersionId: versionId, StagingLabel: stage)];
        else
            resources = [];

        return new AuditEvent
        {
            EventTime = _time.GetUtcNow(),
            EventSource = operation.EventSource,
            EventName = operation.Action,
            AwsRegion = region,
            SourceIPAddress = context?.SourceIp ?? http.Connection.RemoteIpAddress?.ToString(),
            UserAgent = context?.UserAgent ?? http.Request.Headers.UserAgent.ToString(),
            UserIdentity = identity,
            RequestParameters = request.Parameters,
            ResponseElements = response.Elements,
            Hmacs = request.Hmacs,
            Resources = resources,
            ErrorCode = errorCode,
            ErrorMessage = errorMessage,
            RequestId = call.RequestId,
            ReadOnly = operation.ReadOnly,
            RecipientAccountId = accountId,
        };
    }

    /// <summary>The access key id and region a request claims in its Authorization header, before any check.</summary>
    private static (string? KeyId, string? Region) ClaimedCredential(HttpRequest request)
    {
        var header = request.Headers.Authorization.ToString();
        var at = header.IndexOf("Credential=", StringComparison.Ordinal);
        if (at < 0) return (null, null);
        var rest = header.AsSpan(at + "Credential=".Length);
        var end = rest.IndexOfAny(',', ' ');
        if (end >= 0) rest = rest[..end];
        var parts = rest.ToString().Split('/');
        var keyId = parts[0].Length is > 0 and <= 128 && parts[0].All(char.IsAsciiLetterOrDigit) ? parts[0] : null;
        var region = parts.Length >= 3 && parts[2].Length is > 0 and <= 32 && parts[2].All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '-') ? parts[2] : null;
        return (keyId, region);
    }

    private void Observe(Operation? operation, AuditedCall call, string outcome)
    {
        if (operation is null || _services.Metrics is not { } metrics) return;
        metrics.RequestServed(operation.SigningName, operation.Action, outcome, _time.GetElapsedTime(call.Started));
    }
}
