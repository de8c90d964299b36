using System.Buffers;
using Coffer.Core;
using Coffer.Core.Secrets;
using Coffer.Protocol.SigV4;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;

namespace Coffer.Protocol;

/// <summary>
/// The AWS JSON 1.1 edge (spec §1): guards first, then X-Amz-Target → SigV4 → deserialise → SecretService →
/// serialise. It holds no domain rules. Every response carries <c>x-amzn-RequestId</c>; every error is written
/// by <see cref="AwsErrorResponse"/>.
/// </summary>
public sealed partial class AwsJsonEndpoint
{
    /// <summary>
    /// Request bodies are capped at 256 KiB, refused before they are read in full: by Content-Length up front,
    /// or while reading a chunked body. A 65,536-byte value fits even as clients escape it: botocore writes
    /// non-ASCII as \uXXXX (at most 12 bytes per 4-byte character, ~192 KiB), a quote or backslash as two bytes,
    /// base64 of a 64 KiB SecretBinary is ~86 KiB. Only a value made mostly of control characters (6 bytes each
    /// when escaped) could exceed the cap. The answer is 400 ValidationException rather than 413: SDKs turn an
    /// AWS-shaped 400 into a typed, non-retried error, while a bare 413 arrives without <c>__type</c>.
    /// </summary>
    public const int MaxBodyBytes = 256 * 1024;

    private readonly AwsJsonServices _services;
    private readonly SigV4Verifier _verifier;
    private readonly TimeProvider _time;
    private readonly ILogger _log;
    private readonly string _basePath;
    private readonly string _basePathNoSlash;

    /// <param name="basePath">The path clients post to (the path part of their endpoint URL); "/" by default.</param>
    public AwsJsonEndpoint(SecretService secrets, SigV4Verifier verifier, TimeProvider time, ILogger<AwsJsonEndpoint> log, string basePath = "/")
        : this(new AwsJsonServices { Secrets = secrets }, verifier, time, log, basePath)
    {
    }

    /// <param name="basePath">The path clients post to (the path part of their endpoint URL); "/" by default.</param>
    public AwsJsonEndpoint(AwsJsonServices services, SigV4Verifier verifier, TimeProvider time, ILogger<AwsJsonEndpoint> log, string basePath = "/")
    {
        if (!basePath.StartsWith('/')) throw new ArgumentException("The base path must start with '/'.", nameof(basePath));
        _services = services;
        _verifier = verifier;
        _time = time;
        _log = log;
        _basePath = basePath.EndsWith('/') ? basePath : basePath + "/";
        _basePathNoSlash = _basePath.TrimEnd('/');
    }

    public async Task HandleAsync(HttpContext http)
    {
        var requestId = RequestIds.New();
        http.Response.Headers["x-amzn-RequestId"] = requestId;
        using var scope = RequestLogScope.Begin(_log, requestId);
        var ct = http.RequestAborted;
        Operation? operation = null;
        var call = new AuditedCall(_time.GetTimestamp(), requestId);
        // Declared outside the try: the audit record of a failed call still reads the body in the catch blocks.
        PooledBuffer? body = null;
        try
        {
            if (!IsServedPath(http.Request))
                throw ProtocolErrors.NotFound();
            var target = http.Request.Headers["x-amz-target"];
            if (target.Count != 1 || !AwsJsonOperations.ByTarget.TryGetValue(target[0]!, out operation))
                throw ProtocolErrors.UnknownOperation();

            body = await ReadBodyAsync(http.Request, ct).ConfigureAwait(false);
            call.Body = body.WrittenMemory;
            var identity = await _verifier.VerifyAsync(http.Request, body.WrittenMemory, operation.SigningName, ct).ConfigureAwait(false);
            var context = new RequestContext(identity.Key.Principal, identity.Region, requestId,
                http.Connection.RemoteIpAddress?.ToString(), http.Request.Headers.UserAgent.ToString(), http.Request.IsHttps);
            call.Context = context;
            await BeforeInvokeAsync(operation, call).ConfigureAwait(false);

            using var output = new PooledBuffer();
            await operation.Invoke(_services, context, body.WrittenMemory, output, ct).ConfigureAwait(false);
            await RecordAsync(http, operation, call, output.WrittenMemory, null, null).ConfigureAwait(false);

            http.Response.StatusCode = StatusCodes.Status200OK;
            http.Response.ContentType = AwsErrorResponse.ContentType;
            http.Response.ContentLength = output.Length;
            if (output.Length > 0)
                await http.Response.Body.WriteAsync(output.WrittenMemory, ct).ConfigureAwait(false);
            LogServed(_log, operation.Action, StatusCodes.Status200OK);
            Observe(operation, call, "success");
        }
        catch (ServiceException e)
        {
            // The failure is recorded too; if that fails, the answer is InternalServiceError (fail closed).
            var (code, message) = await RecordFailureAsync(http, operation, call, e.Code, e.Message).ConfigureAwait(false);
            await WriteErrorAsync(http, code, message).ConfigureAwait(false);
            LogRejected(_log, operation?.Action ?? "-", code);
            Observe(operation, call, code);
        }
        catch (BadHttpRequestException e)
        {
            // Kestrel's own limits (body size backstop, minimum data rate, malformed framing).
            if (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
                await WriteErrorAsync(http, "ValidationException", ProtocolErrors.BodyTooLarge(MaxBodyBytes).Message).ConfigureAwait(false);
            else
                await WriteErrorAsync(http, "SerializationException", "The request body could not be read.").ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // The client went away; nobody is left to answer.
        }
        catch (Exception e)
        {
            // Bugs and I/O faults: no detail to the caller, and only the type to the log (a message could quote input).
            LogFailed(_log, operation?.Action ?? "-", e.GetType().FullName ?? "?", requestId);
            await RecordFailureAsync(http, operation, call, ProtocolErrors.InternalServiceError, AwsErrorResponse.InternalErrorMessage).ConfigureAwait(false);
            await WriteErrorAsync(http, ProtocolErrors.InternalServiceError, AwsErrorResponse.InternalErrorMessage).ConfigureAwait(false);
            Observe(operation, call, ProtocolErrors.InternalServiceError);
        }
        finally
        {
            body?.Dispose();
        }
    }

    private Task WriteErrorAsync(HttpContext http, string code, string message)
    {
        if (http.Response.HasStarted) return Task.CompletedTask;
        http.Response.Headers.ContentLength = null;
        return AwsErrorResponse.WriteAsync(http.Response, code, message, _time.GetUtcNow());
    }

    /// <summary>
    /// Only POST to the base path is served. The raw target is compared, not the decoded path, so
    /// "/..%2f" or "//" never reach an operation; with a query string the path part is compared.
    /// </summary>
    private bool IsServedPath(HttpRequest request)
    {
        if (!HttpMethods.IsPost(request.Method)) return false;
        var raw = request.HttpContext.Features.Get<IHttpRequestFeature>()?.RawTarget;
        if (string.IsNullOrEmpty(raw)) raw = (request.PathBase + request.Path).Value ?? "/";
        var span = raw.AsSpan();
        var q = span.IndexOf('?');
        if (q >= 0) span = span[..q];
        return span.SequenceEqual(_basePath) || (_basePathNoSlash.Length > 0 && span.SequenceEqual(_basePathNoSlash));
    }

    private static async ValueTask<PooledBuffer> ReadBodyAsync(HttpRequest request, CancellationToken ct)
    {
        var declared = request.ContentLength;
        if (declared > MaxBodyBytes)
            throw ProtocolErrors.BodyTooLarge(MaxBodyBytes);
        var buffer = new PooledBuffer(declared is > 0 and var n ? (int)n : 1024);
        try
        {
            while (true)
            {
                var memory = buffer.GetMemory(Math.Min(16 * 1024, MaxBodyBytes + 1 - buffer.Length));
                var read = await request.Body.ReadAsync(memory, ct).ConfigureAwait(false);
                if (read == 0) return buffer;
                buffer.Advance(read);
                if (buffer.Length > MaxBodyBytes)
                    throw ProtocolErrors.BodyTooLarge(MaxBodyBytes);
            }
        }
        catch
        {
            buffer.Dispose();
            throw;
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "{Action} answered {Status}")]
    private static partial void LogServed(ILogger log, string action, int status);

    [LoggerMessage(Level = LogLevel.Debug, Message = "{Action} rejected with {Code}")]
    private static partial void LogRejected(ILogger log, string action, string code);

    [LoggerMessage(Level = LogLevel.Error, Message = "{Action} failed with {ExceptionType} (request {RequestId})")]
    private static partial void LogFailed(ILogger log, string action, string exceptionType, string requestId);
}
