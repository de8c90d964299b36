namespace Coffer.Core.Functions;

/// <summary>
/// The Lambda API's error types (the <c>x-amzn-ErrorType</c> the SDKs read) and AWS's messages. Messages name
/// functions, runtimes and roles, never code, payloads or environment values.
/// </summary>
public static class FunctionErrors
{
    public static ServiceException NotFound(string arn) => new("ResourceNotFoundException", $"Function not found: {arn}");
    public static ServiceException ResourceNotFound(string message) => new("ResourceNotFoundException", message);
    public static ServiceException Conflict(string message) => new("ResourceConflictException", message);
    public static ServiceException InvalidParameter(string message) => new("InvalidParameterValueException", message);
    public static ServiceException PreconditionFailed() => new("PreconditionFailedException",
        "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id");
    public static ServiceException PolicyTooLarge(int size) => new("PolicyLengthExceededException",
        $"The final policy size ({size}) is bigger than the limit ({FunctionLimits.MaxPolicyBytes}).");
    public static ServiceException RequestTooLarge(string message) => new("RequestTooLargeException", message);

    /// <summary>AWS's "1 validation error detected" form for shape constraints.</summary>
    public static ServiceException Validation(string value, string member, string constraint) =>
        new("ValidationException", $"1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: {constraint}");

    /// <summary>The server has no function runner (the runtime part is not wired in): Invoke cannot run anything.</summary>
    public static ServiceException RuntimeUnavailable() =>
        new("ServiceException", "The function runtime is not available in this Coffer server; functions can be deployed but not invoked.");

    public const string RoleCannotBeAssumed = "The role defined for the function cannot be assumed by Lambda.";
}

/// <summary>AWS Lambda's quotas that Coffer keeps (docs/functions.md "Limits").</summary>
public static class FunctionLimits
{
    /// <summary>Direct upload of a deployment package: 50 MB zipped (AWS's limit for a zip in the request).</summary>
    public const int MaxZipBytes = 50 * 1024 * 1024;
    /// <summary>The request body that carries it, base64-encoded in JSON (AWS's exact figure for CreateFunction).</summary>
    public const int MaxCodeRequestBytes = 69_905_067;
    /// <summary>Unzipped size of the package: 250 MB.</summary>
    public const long MaxUnzippedBytes = 262_144_000;
    /// <summary>Synchronous invocation payload, request and response: 6 MB.</summary>
    public const int MaxPayloadBytes = 6 * 1024 * 1024;
    /// <summary>Environment variables: 4 KB in total (keys and values).</summary>
    public const int MaxEnvironmentBytes = 4 * 1024;
    public const int MaxPolicyBytes = 20 * 1024;
    public const int MinTimeout = 1, MaxTimeout = 900, DefaultTimeout = 3;
    public const int MinMemorySize = 128, MaxMemorySize = 10240, DefaultMemorySize = 128;
    public const int MaxListItems = 50;
}
