using System.Globalization;
using System.Text.Json;
using Coffer.Core;
using Coffer.Core.Audit;
using Coffer.Core.Functions;
using Coffer.Protocol.SigV4;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;

namespace Coffer.Protocol.Lambda;

/// <summary>
/// The AWS Lambda API edge (REST-JSON, SigV4 service <c>lambda</c>, paths under /2015-03-31/functions; see
/// docs/functions.md): guards first, then method + path → route → SigV4 → parse → <see cref="FunctionService"/> →
/// JSON. Errors leave as AWS's REST-JSON errors: the type in <c>x-amzn-ErrorType</c>, the body
/// <c>{"Type":"User","Message":…}</c>. Every recognised call is audited (eventSource lambda.amazonaws.com) without
/// code, payloads or environment values. Nothing from a body is ever logged.
/// </summary>
public sealed partial class LambdaEndpoint(FunctionService functions, SigV4Verifier verifier, TimeProvider time, ILogger<LambdaEndpoint> log,
    AuditTrail? audit = null, IRequestMetrics? metrics = null, string basePath = "/")
{
    private const string SigningName = "lambda";
    private readonly string _prefix = (basePath == "/" ? "" : basePath.TrimEnd('/')) + LambdaRoute.Prefix;

    /// <summary>True for requests whose path lies under /2015-03-31/functions (after the base path).</summary>
    public bool Accepts(HttpRequest request)
    {
        var path = RawPath(request);
        return path.StartsWith(_prefix, StringComparison.Ordinal) && (path.Length == _prefix.Length || path[_prefix.Length] == '/');
    }

    public async Task HandleAsync(HttpContext http)
    {
        var requestId = RequestIds.New();
        http.Response.Headers["x-amzn-RequestId"] = requestId;
        using var scope = RequestLogScope.Begin(log, requestId);
        var ct = http.RequestAborted;
        var started = time.GetTimestamp();
        var call = new LambdaCall(requestId);
        try
        {
            var path = RawPath(http.Request);
            call.Route = LambdaRoute.Match(http.Request.Method, path.AsSpan(_prefix.Length))
                ?? throw new ServiceException("UnknownOperationException", $"Coffer's Lambda API does not serve {http.Request.Method} on this path.");
            var route = call.Route;
            var body = await ReadBodyAsync(http, route, ct).ConfigureAwait(false);

            if (route.Action == LambdaRoute.DownloadCode)
            {
                await DownloadCodeAsync(http, route, call, ct).ConfigureAwait(false);
                Observe(call, "success", started);
                return;
            }

            var identity = await verifier.VerifyAsync(http.Request, body, SigningName, ct).ConfigureAwait(false);
            call.Context = new RequestContext(identity.Key.Principal, identity.Region, requestId,
                http.Connection.RemoteIpAddress?.ToString(), http.Request.Headers.UserAgent.ToString(), http.Request.IsHttps);
            await EnsureAuditAvailableAsync(call).ConfigureAwait(false);

            var response = await DispatchAsync(http, route, call, body, ct).ConfigureAwait(false);
            await RecordAsync(http, call, null, null).ConfigureAwait(false);
            await WriteAsync(http, response, ct).ConfigureAwait(false);
            LogServed(log, route.Action, response.Status);
            Observe(call, "success", started);
        }
        catch (ServiceException e)
        {
            var (code, message) = await RecordFailureAsync(http, call, e.Code, e.Message).ConfigureAwait(false);
            await WriteErrorAsync(http, code, message).ConfigureAwait(false);
            LogRejected(log, call.Route?.Action ?? "-", code);
            Observe(call, code, started);
        }
        catch (BadHttpRequestException e)
        {
            // Kestrel's own limits (body size backstop, minimum data rate, malformed framing).
            if (e.StatusCode == StatusCodes.Status413PayloadTooLarge && call.Route is { } route)
                await WriteErrorAsync(http, BodyTooLarge(route).Code, BodyTooLarge(route).Message).ConfigureAwait(false);
            else
                await WriteErrorAsync(http, "InvalidRequestContentException", "The request body could not be read.").ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // The client went away; nobody is left to answer.
        }
        catch (Exception e)
        {
            // Bugs and I/O faults: no detail to the caller, only the type to the log.
            LogFailed(log, call.Route?.Action ?? "-", e.GetType().FullName ?? "?", requestId);
            var (code, message) = await RecordFailureAsync(http, call, InternalError, InternalMessage).ConfigureAwait(false);
            await WriteErrorAsync(http, code, message).ConfigureAwait(false);
            Observe(call, InternalError, started);
        }
    }

    private const string InternalError = "ServiceException";
    private const string InternalMessage = "An internal error occurred.";

    /// <summary>A response ready to write: status, JSON (or the raw payload for Invoke) and extra headers.</summary>
    private sealed record LambdaResponse(int Status, byte[] Body, string ContentType = "application/json", IReadOnlyList<(string, string)>? Headers = null);

    private async Task<LambdaResponse> DispatchAsync(HttpContext http, LambdaRoute route, LambdaCall call, ReadOnlyMemory<byte> body, CancellationToken ct)
    {
        var ctx = call.Context!;
        var query = http.Request.Query;
        string? Q(string name) => query.TryGetValue(name, out var v) && v.Count > 0 ? v[0] : null;
        var qualifier = Q("Qualifier");
        call.Parameters["functionName"] = route.FunctionName;
        call.Parameters["qualifier"] = qualifier;
        switch (route.Action)
        {
            case "CreateFunction":
            {
                using var doc = LambdaJson.Parse(body);
                var o = doc.RootElement;
                var (zip, elsewhere) = LambdaJson.Object(o, "Code") is { } code ? LambdaJson.Code(code) : (null, false);
                var request = new CreateFunctionRequest
                {
                    FunctionName = LambdaJson.String(o, "FunctionName"),
                    Runtime = LambdaJson.String(o, "Runtime"),
                    Role = LambdaJson.String(o, "Role"),
                    Handler = LambdaJson.String(o, "Handler"),
                    Description = LambdaJson.String(o, "Description"),
                    Timeout = LambdaJson.Int(o, "Timeout"),
                    MemorySize = LambdaJson.Int(o, "MemorySize"),
                    Environment = LambdaJson.Environment(o),
                    ZipFile = zip,
                    CodeFromElsewhere = elsewhere,
                    PackageType = LambdaJson.String(o, "PackageType"),
                    Architectures = LambdaJson.Strings(o, "Architectures"),
                };
                LambdaJson.Bool(o, "Publish");
                call.Parameters["functionName"] = request.FunctionName;
                call.Parameters["runtime"] = request.Runtime;
                call.Parameters["handler"] = request.Handler;
                call.Parameters["role"] = request.Role;
                call.Parameters["timeout"] = request.Timeout?.ToString(CultureInfo.InvariantCulture);
                call.Parameters["memorySize"] = request.MemorySize?.ToString(CultureInfo.InvariantCulture);
                var config = await functions.CreateFunctionAsync(ctx, request, ct).ConfigureAwait(false);
                call.Result = config;
                return new LambdaResponse(StatusCodes.Status201Created, LambdaJson.Write(w => LambdaJson.WriteConfiguration(w, config)));
            }
            case "GetFunction":
            {
                var result = await functions.GetFunctionAsync(ctx, new FunctionRef(route.FunctionName, qualifier), ct).ConfigureAwait(false);
                call.Result = result.Configuration;
                var location = CodeLocation(http, ctx.Region, result.Configuration.FunctionName, result.CodeToken);
                return new LambdaResponse(200, LambdaJson.Write(w =>
                {
                    w.WriteStartObject();
                    w.WritePropertyName("Configuration");
                    LambdaJson.WriteConfiguration(w, result.Configuration);
                    w.WriteStartObject("Code");
                    w.WriteString("RepositoryType", "S3");
                    w.WriteString("Location", location);
                    w.WriteEndObject();
                    w.WriteEndObject();
                }));
            }
            case "GetFunctionConfiguration":
            {
                var config = await functions.GetFunctionConfigurationAsync(ctx, new FunctionRef(route.FunctionName, qualifier), ct).ConfigureAwait(false);
                call.Result = config;
                return new LambdaResponse(200, LambdaJson.Write(w => LambdaJson.WriteConfiguration(w, config)));
            }
            case "ListFunctions":
            {
                var marker = Q("Marker");
                int? max = null;
                if (Q("MaxItems") is { } m)
                    max = int.TryParse(m, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) ? n
                        : throw new ServiceException("InvalidParameterValueException", "MaxItems must be an integer.");
                call.Parameters["marker"] = marker;
                call.Parameters["maxItems"] = max?.ToString(CultureInfo.InvariantCulture);
                var result = await functions.ListFunctionsAsync(ctx, new ListFunctionsRequest(marker, max), ct).ConfigureAwait(false);
                return new LambdaResponse(200, LambdaJson.Write(w =>
                {
                    w.WriteStartObject();
                    if (result.NextMarker is not null) w.WriteString("NextMarker", result.NextMarker);
                    w.WriteStartArray("Functions");
                    foreach (var f in result.Functions) LambdaJson.WriteConfiguration(w, f);
                    w.WriteEndArray();
                    w.WriteEndObject();
                }));
            }
            case "UpdateFunctionCode":
            {
                using var doc = LambdaJson.Parse(body);
                var o = doc.RootElement;
                var (zip, elsewhere) = LambdaJson.Code(o);
                var request = new UpdateFunctionCodeRequest
                {
                    FunctionName = route.FunctionName,
                    ZipFile = zip,
                    CodeFromElsewhere = elsewhere,
                    RevisionId = LambdaJson.String(o, "RevisionId"),
                    DryRun = LambdaJson.Bool(o, "DryRun") ?? false,
                    Architectures = LambdaJson.Strings(o, "Architectures"),
                };
                LambdaJson.Bool(o, "Publish");
                call.Parameters["revisionId"] = request.RevisionId;
                var config = await functions.UpdateFunctionCodeAsync(ctx, request, ct).ConfigureAwait(false);
                call.Result = config;
                return new LambdaResponse(200, LambdaJson.Write(w => LambdaJson.WriteConfiguration(w, config)));
            }
            case "UpdateFunctionConfiguration":
            {
                using var doc = LambdaJson.Parse(body);
                var o = doc.RootElement;
                var request = new UpdateFunctionConfigurationRequest
                {
                    FunctionName = route.FunctionName,
                    Runtime = LambdaJson.String(o, "Runtime"),
                    Role = LambdaJson.String(o, "Role"),
                    Handler = LambdaJson.String(o, "Handler"),
                    Description = LambdaJson.String(o, "Description"),
                    Timeout = LambdaJson.Int(o, "Timeout"),
                    MemorySize = LambdaJson.Int(o, "MemorySize"),
                    Environment = LambdaJson.Environment(o),
                    RevisionId = LambdaJson.String(o, "RevisionId"),
                };
                call.Parameters["runtime"] = request.Runtime;
                call.Parameters["handler"] = request.Handler;
                call.Parameters["role"] = request.Role;
                call.Parameters["timeout"] = request.Timeout?.ToString(CultureInfo.InvariantCulture);
                call.Parameters["memorySize"] = request.MemorySize?.ToString(CultureInfo.InvariantCulture);
                call.Parameters["revisionId"] = request.RevisionId;
                var config = await functions.UpdateFunctionConfigurationAsync(ctx, request, ct).ConfigureAwait(false);
                call.Result = config;
                return new LambdaResponse(200, LambdaJson.Write(w => LambdaJson.WriteConfiguration(w, config)));
            }
            case "DeleteFunction":
                await functions.DeleteFunctionAsync(ctx, new FunctionRef(route.FunctionName, qualifier), ct).ConfigureAwait(false);
                return new LambdaResponse(StatusCodes.Status204NoContent, []);
            case "Invoke":
                return await InvokeAsync(http, route, call, body, qualifier, ct).ConfigureAwait(false);
            case "AddPermission":
            {
                using var doc = LambdaJson.Parse(body);
                var o = doc.RootElement;
                var request = new AddPermissionRequest
                {
                    FunctionName = route.FunctionName,
                    Qualifier = qualifier,
                    StatementId = LambdaJson.String(o, "StatementId"),
                    Action = LambdaJson.String(o, "Action"),
                    Principal = LambdaJson.String(o, "Principal"),
                    SourceArn = LambdaJson.String(o, "SourceArn"),
                    SourceAccount = LambdaJson.String(o, "SourceAccount"),
                    RevisionId = LambdaJson.String(o, "RevisionId"),
                };
                call.Parameters["statementId"] = request.StatementId;
                call.Parameters["action"] = request.Action;
                call.Parameters["principal"] = request.Principal;
                call.Parameters["sourceArn"] = request.SourceArn;
                call.Parameters["sourceAccount"] = request.SourceAccount;
                var result = await functions.AddPermissionAsync(ctx, request, ct).ConfigureAwait(false);
                return new LambdaResponse(StatusCodes.Status201Created, LambdaJson.Write(w =>
                {
                    w.WriteStartObject();
                    w.WriteString("Statement", result.Statement);
                    w.WriteEndObject();
                }));
            }
            case "RemovePermission":
                call.Parameters["statementId"] = route.StatementId;
                await functions.RemovePermissionAsync(ctx, new RemovePermissionRequest(route.FunctionName, route.StatementId, qualifier, Q("RevisionId")), ct).ConfigureAwait(false);
                return new LambdaResponse(StatusCodes.Status204NoContent, []);
            case "GetPolicy":
            {
                var result = await functions.GetPolicyAsync(ctx, new FunctionRef(route.FunctionName, qualifier), ct).ConfigureAwait(false);
                return new LambdaResponse(200, LambdaJson.Write(w =>
                {
                    w.WriteStartObject();
                    w.WriteString("Policy", result.Policy);
                    w.WriteString("RevisionId", result.RevisionId);
                    w.WriteEndObject();
                }));
            }
            default:
                throw new ServiceException("UnknownOperationException", "Coffer's Lambda API does not serve this operation.");
        }
    }

    private async Task<LambdaResponse> InvokeAsync(HttpContext http, LambdaRoute route, LambdaCall call, ReadOnlyMemory<byte> body, string? qualifier, CancellationToken ct)
    {
        var typeHeader = http.Request.Headers["X-Amz-Invocation-Type"].ToString();
        var type = typeHeader switch
        {
            "" or "RequestResponse" => InvocationType.RequestResponse,
            "Event" => InvocationType.Event,
            "DryRun" => InvocationType.DryRun,
            _ => throw new ServiceException("InvalidParameterValueException",
                "1 validation error detected: Value at 'invocationType' failed to satisfy constraint: Member must satisfy enum value set: [Event, RequestResponse, DryRun]"),
        };
        var logType = http.Request.Headers["X-Amz-Log-Type"].ToString();
        if (logType is not ("" or "None" or "Tail"))
            throw new ServiceException("InvalidParameterValueException",
                "1 validation error detected: Value at 'logType' failed to satisfy constraint: Member must satisfy enum value set: [None, Tail]");
        call.Parameters["invocationType"] = type.ToString();
        call.Parameters["logType"] = logType.Length == 0 ? null : logType;
        // The payload is copied: the runner may outlive this request (Event) and the body buffer with it.
        var result = await functions.InvokeAsync(call.Context!, new InvokeRequest(route.FunctionName, qualifier, type, logType == "Tail", body.ToArray()), ct).ConfigureAwait(false);
        call.FunctionArn = result.FunctionArn;
        call.FunctionError = result.FunctionError;
        var headers = new List<(string, string)> { ("X-Amz-Executed-Version", result.ExecutedVersion) };
        if (result.FunctionError is { } error) headers.Add(("X-Amz-Function-Error", error));
        if (result.LogResult is { } logResult) headers.Add(("X-Amz-Log-Result", logResult));
        return new LambdaResponse(result.StatusCode, result.Payload, "application/json", headers);
    }

    /// <summary>GetFunction's Code.Location: a link to this server that returns the package for 10 minutes.</summary>
    private string CodeLocation(HttpContext http, string region, string name, string token) =>
        $"{http.Request.Scheme}://{http.Request.Host}{_prefix}/{Uri.EscapeDataString(name)}/code?Region={Uri.EscapeDataString(region)}&Token={Uri.EscapeDataString(token)}";

    private async Task DownloadCodeAsync(HttpContext http, LambdaRoute route, LambdaCall call, CancellationToken ct)
    {
        var query = http.Request.Query;
        var region = query["Region"].ToString();
        var (arn, zip) = await functions.DownloadCodeAsync(region, route.FunctionName!, query["Token"].ToString(), ct).ConfigureAwait(false);
        call.FunctionArn = arn;
        call.Region = region;
        await RecordAsync(http, call, null, null).ConfigureAwait(false);
        http.Response.StatusCode = 200;
        http.Response.ContentType = "application/zip";
        http.Response.ContentLength = zip.Length;
        await http.Response.Body.WriteAsync(zip, ct).ConfigureAwait(false);
    }

    private static async Task WriteAsync(HttpContext http, LambdaResponse response, CancellationToken ct)
    {
        http.Response.StatusCode = response.Status;
        if (response.Headers is not null)
            foreach (var (name, value) in response.Headers) http.Response.Headers[name] = value;
        if (response.Status == StatusCodes.Status204NoContent || (response.Body.Length == 0 && response.Status == StatusCodes.Status202Accepted))
        {
            http.Response.ContentLength = 0;
            return;
        }
        http.Response.ContentType = response.ContentType;
        http.Response.ContentLength = response.Body.Length;
        await http.Response.Body.WriteAsync(response.Body, ct).ConfigureAwait(false);
    }

    /// <summary>HTTP status per Lambda error type (the Lambda API model's codes).</summary>
    internal static int StatusFor(string code) => code switch
    {
        "ResourceNotFoundException" or "UnknownOperationException" => 404,
        "ResourceConflictException" => 409,
        "PreconditionFailedException" => 412,
        "RequestTooLargeException" or "RequestEntityTooLargeException" => 413,
        "TooManyRequestsException" => 429,
        "AccessDeniedException" or "MissingAuthenticationTokenException" or "UnrecognizedClientException"
            or "InvalidSignatureException" or "ExpiredTokenException" => 403,
        "ServiceException" or "InternalServiceError" => 500,
        "ServiceUnavailable" => 503,
        _ => 400,
    };

    /// <summary>AWS's REST-JSON error: x-amzn-ErrorType names the type, the body carries Type and message.</summary>
    private Task WriteErrorAsync(HttpContext http, string code, string message)
    {
        if (http.Response.HasStarted) return Task.CompletedTask;
        var status = StatusFor(code);
        var body = LambdaJson.Write(w =>
        {
            w.WriteStartObject();
            w.WriteString("Type", status >= 500 ? "Service" : "User");
            w.WriteString("Message", message);
            w.WriteEndObject();
        });
        http.Response.StatusCode = status;
        http.Response.Headers["x-amzn-ErrorType"] = code;
        http.Response.Headers.Date = time.GetUtcNow().ToString("r", CultureInfo.InvariantCulture);
        http.Response.ContentType = "application/json";
        http.Response.ContentLength = body.Length;
        return http.Response.Body.WriteAsync(body).AsTask();
    }

    private static ServiceException BodyTooLarge(LambdaRoute route) => route.Action == "Invoke"
        ? new ServiceException("RequestTooLargeException", $"Request must be smaller than {route.MaxBody} bytes for the InvokeFunction operation")
        : new ServiceException("RequestEntityTooLargeException", $"Request must be smaller than {route.MaxBody} bytes for the {route.Action} operation");

    /// <summary>Reads the body up to the route's limit; raises Kestrel's backstop for the routes that carry code.</summary>
    private static async Task<byte[]> ReadBodyAsync(HttpContext http, LambdaRoute route, CancellationToken ct)
    {
        var request = http.Request;
        if (request.ContentLength > route.MaxBody) throw BodyTooLarge(route);
        if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit && (limit.MaxRequestBodySize ?? 0) < route.MaxBody)
            limit.MaxRequestBodySize = route.MaxBody;
        using var buffer = new MemoryStream(request.ContentLength is > 0 and var n ? (int)n : 1024);
        var chunk = new byte[64 * 1024];
        while (true)
        {
            var read = await request.Body.ReadAsync(chunk, ct).ConfigureAwait(false);
            if (read == 0) break;
            buffer.Write(chunk, 0, read);
            if (buffer.Length > route.MaxBody) throw BodyTooLarge(route);
        }
        return buffer.ToArray();
    }

    /// <summary>The path as the client sent it (never decoded first: "%2F" in a name must not become a separator).</summary>
    private static string RawPath(HttpRequest request)
    {
        var raw = request.HttpContext.Features.Get<IHttpRequestFeature>()?.RawTarget;
        if (string.IsNullOrEmpty(raw)) raw = (request.PathBase + request.Path).ToUriComponent();
        var q = raw.IndexOf('?', StringComparison.Ordinal);
        return q < 0 ? raw : raw[..q];
    }

    private void Observe(LambdaCall call, string outcome, long started)
    {
        if (call.Route is null || metrics is null) return;
        metrics.RequestServed(SigningName, call.Route.Action, outcome, time.GetElapsedTime(started));
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "lambda:{Action} answered {Status}")]
    private static partial void LogServed(ILogger log, string action, int status);

    [LoggerMessage(Level = LogLevel.Debug, Message = "lambda:{Action} rejected with {Code}")]
    private static partial void LogRejected(ILogger log, string action, string code);

    [LoggerMessage(Level = LogLevel.Error, Message = "lambda:{Action} failed with {ExceptionType} (request {RequestId})")]
    private static partial void LogFailed(ILogger log, string action, string exceptionType, string requestId);
}
