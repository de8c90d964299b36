using System.Buffers;
using System.Text.Json;
using Coffer.Core;
using Coffer.Core.Audit;
using Coffer.Core.Functions;
using Microsoft.AspNetCore.Http;

namespace Coffer.Protocol.Lambda;

/// <summary>What the edge learns about one Lambda call as it goes (for its audit record).</summary>
internal sealed class LambdaCall(string requestId)
{
    public string RequestId { get; } = requestId;
    public LambdaRoute? Route { get; set; }
    public RequestContext? Context { get; set; }
    /// <summary>Request members a record may carry: names, runtime, handler, role, limits, permission fields.
    /// Never ZipFile, Environment (values are sensitive), Payload or Description.</summary>
    public Dictionary<string, string?> Parameters { get; } = new(StringComparer.Ordinal);
    public FunctionConfiguration? Result { get; set; }
    public string? FunctionArn { get; set; }
    public string? FunctionError { get; set; }
    public string? Region { get; set; }
    /// <summary>The trail refused this call already; do not try to record it again.</summary>
    public bool AuditFailed { get; set; }
}

/// <summary>
/// The Lambda edge's part of the audit trail (issue 4's rules): one record per recognised call — served, failed or
/// rejected at authentication — handed to <see cref="AuditTrail"/> before the response is written; a mutating
/// call first checks that a sink is available, and a call whose record no sink takes is answered only with the 500
/// error (fail closed). Records never hold the package, the payload or environment values.
/// </summary>
public sealed partial class LambdaEndpoint
{
    private async Task EnsureAuditAvailableAsync(LambdaCall call)
    {
        if (audit is null || call.Route is not { ReadOnly: false }) return;
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

    private async Task RecordAsync(HttpContext http, LambdaCall call, string? errorCode, string? errorMessage)
    {
        if (audit is null || call.Route is null) return;
        var e = BuildEvent(http, call, errorCode, errorMessage);
        try
        {
            await audit.RecordAsync(e, applied: errorCode is null && !call.Route.ReadOnly).ConfigureAwait(false);
        }
        catch (ServiceException)
        {
            call.AuditFailed = true;
            throw;
        }
    }

    /// <summary>Records a failed call; returns the error to answer (ServiceException 500 when the record was refused).</summary>
    private async Task<(string Code, string Message)> RecordFailureAsync(HttpContext http, LambdaCall call, string code, string message)
    {
        if (call.AuditFailed) return (InternalError, InternalMessage);
        if (call.Route is null || audit is null) return (code, message);
        try
        {
            await RecordAsync(http, call, code, message).ConfigureAwait(false);
            return (code, message);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return (InternalError, InternalMessage);
        }
    }

    private AuditEvent BuildEvent(HttpContext http, LambdaCall call, string? errorCode, string? errorMessage)
    {
        var context = call.Context;
        var accountId = functions.AccountId;
        var authorization = http.Request.Headers.Authorization.ToString();
        var region = context?.Region ?? call.Region ?? ScopePart(authorization, 2) ?? "us-east-1";
        var arn = call.Result?.FunctionArn ?? call.FunctionArn
            ?? (call.Parameters.GetValueOrDefault("functionName") is { Length: > 0 } name
                ? name.StartsWith("arn:", StringComparison.Ordinal) ? name : FunctionService.ArnOf(region, accountId, name)
                : null);
        return new AuditEvent
        {
            EventTime = time.GetUtcNow(),
            EventSource = "lambda.amazonaws.com",
            EventName = call.Route!.Action,
            AwsRegion = region,
            SourceIPAddress = context?.SourceIp ?? http.Connection.RemoteIpAddress?.ToString(),
            UserAgent = context?.UserAgent ?? http.Request.Headers.UserAgent.ToString(),
            UserIdentity = context is not null ? AuditIdentity.Of(context.Caller) : AuditIdentity.Unauthenticated(ScopePart(authorization, 0)),
            RequestParameters = Parameters(call),
            ResponseElements = errorCode is null ? ResponseElements(call) : null,
            Resources = arn is null ? [] : [new AuditResource(arn, accountId, "AWS::Lambda::Function")],
            ErrorCode = errorCode,
            ErrorMessage = errorMessage,
            RequestId = call.RequestId,
            ReadOnly = call.Route.ReadOnly,
            RecipientAccountId = accountId,
        };
    }

    private static byte[]? Parameters(LambdaCall call)
    {
        var present = call.Parameters.Where(p => p.Value is not null).ToList();
        if (present.Count == 0) return null;
        return Json(w =>
        {
            foreach (var (k, v) in present) w.WriteString(k, v);
        });
    }

    private static byte[]? ResponseElements(LambdaCall call)
    {
        if (call.Result is { } c)
            return Json(w =>
            {
                w.WriteString("functionName", c.FunctionName);
                w.WriteString("functionArn", c.FunctionArn);
                w.WriteString("runtime", c.Runtime);
                w.WriteString("codeSha256", c.CodeSha256);
                w.WriteNumber("codeSize", c.CodeSize);
                w.WriteString("revisionId", c.RevisionId);
            });
        if (call.Route?.Action == "Invoke")
            return Json(w =>
            {
                w.WriteString("executedVersion", FunctionService.LatestVersion);
                if (call.FunctionError is { } error) w.WriteString("functionError", error);
            });
        return null;
    }

    private static byte[] Json(Action<Utf8JsonWriter> members)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            members(w);
            w.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>A part of the credential scope an Authorization header claims, before any check (key id 0, region 2).</summary>
    private static string? ScopePart(string authorization, int index)
    {
        var i = authorization.IndexOf("Credential=", StringComparison.Ordinal);
        if (i < 0) return null;
        var end = authorization.IndexOfAny([',', ' '], i);
        var parts = authorization[(i + "Credential=".Length)..(end < 0 ? authorization.Length : end)].Split('/');
        if (parts.Length <= index) return null;
        var part = parts[index];
        return part.Length is > 0 and <= 128 && part.All(c => char.IsAsciiLetterOrDigit(c) || c == '-') ? part : null;
    }
}
