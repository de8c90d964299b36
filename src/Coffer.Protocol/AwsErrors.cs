using System.Buffers;
using System.Text.Encodings.Web;
using System.Text.Json;
using Coffer.Core;
using Microsoft.AspNetCore.Http;

namespace Coffer.Protocol;

/// <summary>
/// Errors raised by the protocol edge itself (framing, JSON, SigV4). AWS does not document these codes for
/// Secrets Manager (spec §1.3 "unconfirmed", §9 item 3); Coffer uses the codes AWS's JSON services commonly
/// answer, listed with their reasons in docs/protocol.md. They are ordinary <see cref="ServiceException"/>s so
/// that one mapper (<see cref="AwsErrorResponse"/>) writes every error.
/// </summary>
internal static class ProtocolErrors
{
    public const string InternalServiceError = "InternalServiceError";

    public static ServiceException UnknownOperation() =>
        new("UnknownOperationException", "The X-Amz-Target header does not name an operation of this service.");

    public static ServiceException NotFound() =>
        new("UnknownOperationException", "Coffer serves the AWS JSON protocol only as POST to its base path.");

    /// <summary>The message never echoes a value from the body (it may hold a secret).</summary>
    public static ServiceException Serialization(string? path = null) =>
        new("SerializationException", path is null
            ? "The request body is not a valid JSON object for this operation."
            : $"The request body is not a valid JSON object for this operation (at {path}).");

    public static ServiceException BodyTooLarge(int limit) =>
        new("ValidationException", $"1 validation error detected: The request body must be at most {limit} bytes.");

    public static ServiceException NotSupportedYet(string action) =>
        new("InvalidRequestException", $"Coffer does not support {action} yet.");

    // SigV4 (spec §1.4). Codes and texts follow what AWS JSON services answer; see docs/protocol.md.
    public static ServiceException MissingAuthenticationToken() =>
        new("MissingAuthenticationTokenException", "Missing Authentication Token");

    public static ServiceException IncompleteSignature(string message) => new("IncompleteSignatureException", message);

    public static ServiceException UnrecognizedClient() =>
        new("UnrecognizedClientException", "The security token included in the request is invalid.");

    public static ServiceException SignatureMismatch() =>
        new("InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.");

    public static ServiceException InvalidSignature(string message) => new("InvalidSignatureException", message);
}

/// <summary>The one error mapper: every error leaves as <c>{"__type": Code, "Message": message}</c> (spec §1.3).</summary>
internal static class AwsErrorResponse
{
    public const string ContentType = "application/x-amz-json-1.1";
    public const string InternalErrorMessage = "An internal error occurred.";

    /// <summary>
    /// HTTP status per error code. Secrets Manager's modelled errors are all 400 except InternalServiceError
    /// (500); of AWS's common errors, a few are 403/500/503 (spec §1.3 "Common Errors").
    /// </summary>
    public static int StatusFor(string code) => code switch
    {
        ProtocolErrors.InternalServiceError or "InternalFailure" => StatusCodes.Status500InternalServerError,
        "ServiceUnavailable" => StatusCodes.Status503ServiceUnavailable,
        "MissingAuthenticationTokenException" or "InvalidClientTokenId" or "OptInRequired" => StatusCodes.Status403Forbidden,
        _ => StatusCodes.Status400BadRequest,
    };

    public static byte[] Body(string code, string message)
    {
        var buffer = new ArrayBufferWriter<byte>(64 + message.Length);
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            writer.WriteStartObject();
            writer.WriteString("__type", code);
            writer.WriteString("Message", message);
            writer.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>
    /// Writes the error. Every error carries a <c>Date</c> header: SDKs correct their clock skew from it
    /// after a "Signature expired" answer.
    /// </summary>
    public static Task WriteAsync(HttpResponse response, string code, string message, DateTimeOffset now)
    {
        var body = Body(code, message);
        response.StatusCode = StatusFor(code);
        response.ContentType = ContentType;
        response.ContentLength = body.Length;
        response.Headers.Date = now.ToString("r", System.Globalization.CultureInfo.InvariantCulture);
        return response.Body.WriteAsync(body).AsTask();
    }
}
