using System.Globalization;
using System.Text;
using System.Xml;
using Coffer.Core;
using Coffer.Core.Audit;
using Coffer.Core.Principals;
using Coffer.Protocol.SigV4;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Coffer.Protocol.Query;

/// <summary>
/// What one Query call came to: who called (null before the signature was verified), which service and action,
/// and the error code when it failed. Never holds parameters, keys, secrets or tokens.
/// </summary>
public sealed record QueryCallRecord(string RequestId, string Service, string Action, string? CallerArn, string? AccessKeyId,
    string? SourceIp, int Status, string? ErrorCode, DateTimeOffset Time);

/// <summary>
/// The AWS Query protocol edge for IAM (Version 2010-05-08) and STS (Version 2011-06-15): form-encoded POST to
/// the base path without X-Amz-Target, routed by the SigV4 credential scope's service, answered in XML (errors
/// as &lt;ErrorResponse&gt;). Guards first, then SigV4 → action table → <see cref="IamService"/> → XML.
/// Every call ends in <see cref="Complete"/>, the one place to audit Query calls (<see cref="Completed"/>).
/// </summary>
public sealed partial class QueryEndpoint(IamService iam, SigV4Verifier verifier, TimeProvider time, ILogger<QueryEndpoint> log, AuditTrail? audit = null,
    IRequestMetrics? metrics = null)
{
    private const string IamNamespace = "https://iam.amazonaws.com/doc/2010-05-08/";
    private const string StsNamespace = "https://sts.amazonaws.com/doc/2011-06-15/";

    /// <summary>Called once per request when it completes (success or error). For audit; must not throw.</summary>
    public Action<QueryCallRecord>? Completed { get; set; }

    /// <summary>
    /// True for requests this endpoint serves: POST with a form-encoded body and no X-Amz-Target (the AWS JSON
    /// protocol always sends X-Amz-Target).
    /// </summary>
    public static bool Accepts(HttpRequest request) =>
        HttpMethods.IsPost(request.Method) && !request.Headers.ContainsKey("x-amz-target")
        && request.ContentType is { } type && type.StartsWith("application/x-www-form-urlencoded", StringComparison.OrdinalIgnoreCase);

    public async Task HandleAsync(HttpContext http)
    {
        var started = time.GetTimestamp();
        var requestId = RequestIds.New();
        using var scope = RequestLogScope.Begin(log, requestId);
        var ct = http.RequestAborted;
        var service = ScopeService(http.Request.Headers.Authorization.ToString()) ?? "iam";
        var action = "-";
        RequestContext? context = null;
        QueryRequest? form = null;
        var recognised = false;
        try
        {
            var body = await ReadBodyAsync(http.Request, ct).ConfigureAwait(false);
            form = QueryRequest.Parse(body);
            action = form.Action ?? "-";
            if (service is not ("iam" or "sts"))
                throw new ServiceException("InvalidAction", $"Coffer serves the Query protocol for iam and sts only, not {service}.");
            var version = service == "iam" ? "2010-05-08" : "2011-06-15";
            if (form.Action is null) throw new ServiceException("MissingAction", "Missing Action");
            if (form.Version is { } v && v != version)
                throw new ServiceException("InvalidAction", $"Could not find operation {form.Action} for version {v}");
            var table = service == "iam" ? IamActions : StsActions;
            if (!table.TryGetValue(form.Action, out var handler))
                throw new ServiceException("InvalidAction", $"Could not find operation {form.Action} for version {version}");
            recognised = true;

            var identity = await verifier.VerifyAsync(http.Request, body, service, ct).ConfigureAwait(false);
            // GetSessionToken's credentials cannot call IAM unless they carry MFA, which Coffer's never do: AWS
            // answers InvalidClientTokenId (STS API reference, GetSessionToken). Role sessions may call IAM.
            if (service == "iam" && identity.Key.Principal is { IsTemporary: true, Kind: PrincipalKind.User })
                throw ProtocolErrors.UnrecognizedClient();
            context = new RequestContext(identity.Key.Principal, identity.Region, requestId,
                http.Connection.RemoteIpAddress?.ToString(), http.Request.Headers.UserAgent.ToString(), http.Request.IsHttps);

            await EnsureAuditAvailableAsync(action).ConfigureAwait(false);
            var output = new StringBuilder(512);
            using (var xml = XmlWriter.Create(output, new XmlWriterSettings { OmitXmlDeclaration = false, Encoding = Encoding.UTF8, Async = false }))
            {
                var ns = service == "iam" ? IamNamespace : StsNamespace;
                xml.WriteStartElement(form.Action + "Response", ns);
                xml.WriteStartElement(form.Action + "Result", ns);
                await handler(this, context, form, xml, ct).ConfigureAwait(false);
                xml.WriteEndElement();
                xml.WriteStartElement("ResponseMetadata", ns);
                xml.WriteElementString("RequestId", ns, requestId);
                xml.WriteEndElement();
                xml.WriteEndElement();
            }
            var xmlText = output.ToString();
            if (audit is not null) await RecordAsync(http, requestId, service, action, context, form, xmlText, null, null).ConfigureAwait(false);
            await WriteAsync(http, 200, xmlText, requestId).ConfigureAwait(false);
            Complete(http, started, requestId, service, action, context, 200, null);
        }
        catch (AuditRefusedException)
        {
            // Not recorded, so not served: only the 500 error, nothing of the call's own outcome.
            await WriteInternalErrorAsync(http, started, service, action, context, requestId).ConfigureAwait(false);
        }
        catch (ServiceException e)
        {
            var (code, status) = Map(service, e.Code);
            if (recognised && audit is not null && !await TryRecordFailureAsync(http, requestId, service, action, context, form, code, e.Message).ConfigureAwait(false))
            {
                await WriteInternalErrorAsync(http, started, service, action, context, requestId).ConfigureAwait(false);
                return;
            }
            await WriteErrorAsync(http, service, code, status, e.Message, requestId).ConfigureAwait(false);
            Complete(http, started, requestId, service, action, context, status, code);
        }
        catch (BadHttpRequestException)
        {
            await WriteErrorAsync(http, service, "InvalidInput", 400, "The request body could not be read.", requestId).ConfigureAwait(false);
            Complete(http, started, requestId, service, action, context, 400, "InvalidInput");
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            if (recognised && audit is not null)
                await TryRecordFailureAsync(http, requestId, service, action, context, form, "ClientClosedRequest", "The client closed the connection.").ConfigureAwait(false);
            Complete(http, started, requestId, service, action, context, 499, "ClientClosedRequest");
        }
        catch (Exception e)
        {
            LogFailed(log, service, action, e.GetType().FullName ?? "?", requestId);
            if (recognised && audit is not null)
                await TryRecordFailureAsync(http, requestId, service, action, context, form, InternalCode(service), "An internal error occurred.").ConfigureAwait(false);
            await WriteInternalErrorAsync(http, started, service, action, context, requestId).ConfigureAwait(false);
        }
    }

    private static string InternalCode(string service) => service == "sts" ? "InternalFailure" : "ServiceFailure";

    private async Task WriteInternalErrorAsync(HttpContext http, long started, string service, string action, RequestContext? context, string requestId)
    {
        var code = InternalCode(service);
        await WriteErrorAsync(http, service, code, 500, "An internal error occurred.", requestId).ConfigureAwait(false);
        Complete(http, started, requestId, service, action, context, 500, code);
    }

    /// <summary>The one place where every Query call completes: log (action, status, code only) and audit hook.</summary>
    private void Complete(HttpContext http, long started, string requestId, string service, string action, RequestContext? context, int status, string? errorCode)
    {
        LogServed(log, service, action, status, errorCode ?? "-", requestId);
        // coffer_requests_total counts the API calls of every service (docs/operations.md): the recognised IAM and
        // STS actions too, with the Query code as outcome. Unknown actions are not API calls, as on the JSON endpoint.
        if (metrics is not null && (service == "iam" ? IamActions : service == "sts" ? StsActions : null)?.ContainsKey(action) == true)
            metrics.RequestServed(service, action, errorCode ?? "success", time.GetElapsedTime(started));
        try
        {
            Completed?.Invoke(new QueryCallRecord(requestId, service, action, context?.Caller.Arn, context?.Caller.AccessKeyId,
                http.Connection.RemoteIpAddress?.ToString(), status, errorCode, time.GetUtcNow()));
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            LogFailed(log, service, action, e.GetType().FullName ?? "?", requestId);
        }
    }

    /// <summary>The service named in the Authorization header's credential scope (…/date/region/SERVICE/aws4_request).</summary>
    private static string? ScopeService(string authorization)
    {
        var i = authorization.IndexOf("Credential=", StringComparison.Ordinal);
        if (i < 0) return null;
        var end = authorization.IndexOfAny([',', ' '], i);
        var parts = authorization[(i + "Credential=".Length)..(end < 0 ? authorization.Length : end)].Split('/');
        return parts.Length == 5 ? parts[3] : null;
    }

    /// <summary>Edge and domain codes → the Query protocol's codes and statuses.</summary>
    private static (string Code, int Status) Map(string service, string code) => code switch
    {
        "AccessDeniedException" or "AccessDenied" => ("AccessDenied", 403),
        "MissingAuthenticationTokenException" => ("MissingAuthenticationToken", 403),
        "UnrecognizedClientException" => ("InvalidClientTokenId", 403),
        "InvalidSignatureException" => ("SignatureDoesNotMatch", 403),
        "IncompleteSignatureException" => ("IncompleteSignature", 400),
        "ExpiredTokenException" => ("ExpiredToken", 400),
        "MalformedPolicyDocumentException" or "MalformedPolicyDocument" => ("MalformedPolicyDocument", 400),
        "ValidationException" => ("ValidationError", 400),
        "NoSuchEntity" => ("NoSuchEntity", 404),
        "EntityAlreadyExists" or "DeleteConflict" or "LimitExceeded" => (code, 409),
        _ => (code, 400),
    };

    private static async Task<byte[]> ReadBodyAsync(HttpRequest request, CancellationToken ct)
    {
        if (request.ContentLength > AwsJsonEndpoint.MaxBodyBytes) throw IamErrors.InvalidInput("The request body is too large.");
        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        while (true)
        {
            var read = await request.Body.ReadAsync(chunk, ct).ConfigureAwait(false);
            if (read == 0) break;
            buffer.Write(chunk, 0, read);
            if (buffer.Length > AwsJsonEndpoint.MaxBodyBytes) throw IamErrors.InvalidInput("The request body is too large.");
        }
        return buffer.ToArray();
    }

    private Task WriteErrorAsync(HttpContext http, string service, string code, int status, string message, string requestId)
    {
        if (http.Response.HasStarted) return Task.CompletedTask;
        var output = new StringBuilder(256);
        using (var xml = XmlWriter.Create(output, new XmlWriterSettings { Encoding = Encoding.UTF8 }))
        {
            var ns = service == "sts" ? StsNamespace : IamNamespace;
            xml.WriteStartElement("ErrorResponse", ns);
            xml.WriteStartElement("Error", ns);
            xml.WriteElementString("Type", ns, status >= 500 ? "Receiver" : "Sender");
            xml.WriteElementString("Code", ns, code);
            xml.WriteElementString("Message", ns, message);
            xml.WriteEndElement();
            xml.WriteElementString("RequestId", ns, requestId);
            xml.WriteEndElement();
        }
        http.Response.Headers.Date = time.GetUtcNow().ToString("r", CultureInfo.InvariantCulture);
        return WriteAsync(http, status, output.ToString(), requestId);
    }

    private static Task WriteAsync(HttpContext http, int status, string xml, string requestId)
    {
        // StringBuilder output declares utf-16; the bytes are UTF-8.
        xml = xml.Replace("encoding=\"utf-16\"", "encoding=\"UTF-8\"", StringComparison.Ordinal);
        var bytes = Encoding.UTF8.GetBytes(xml);
        http.Response.StatusCode = status;
        http.Response.ContentType = "text/xml";
        http.Response.ContentLength = bytes.Length;
        http.Response.Headers["x-amzn-RequestId"] = requestId;
        return http.Response.Body.WriteAsync(bytes).AsTask();
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "{Service}:{Action} answered {Status} {Code} (request {RequestId})")]
    private static partial void LogServed(ILogger log, string service, string action, int status, string code, string requestId);

    [LoggerMessage(Level = LogLevel.Error, Message = "{Service}:{Action} failed with {ExceptionType} (request {RequestId})")]
    private static partial void LogFailed(ILogger log, string service, string action, string exceptionType, string requestId);
}
