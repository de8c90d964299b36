using System.Text.Json;
using System.Text.RegularExpressions;
using Coffer.Core;
using Coffer.Core.Functions;
using Coffer.Core.Rotation;

namespace Coffer.Functions;

/// <summary>
/// Rotation through stored functions: RotationLambdaARN names a function of <see cref="IFunctionDirectory"/>, and
/// each step invokes it with <c>{"Step", "SecretId", "ClientRequestToken", "RotationToken"}</c>, exactly the event
/// Secrets Manager sends to a Lambda. This is the catalog's fallback after the built-in rotators
/// (<c>RotationFunctionCatalog.Fallback</c>). Secrets Manager invoking the function is the service principal
/// <c>secretsmanager.amazonaws.com</c>; Coffer does not check the function's resource policy for it (docs/functions.md).
/// </summary>
public sealed partial class FunctionRotations(IFunctionDirectory directory, IFunctionRunner runner)
{
    /// <summary>
    /// The rotation function for a RotationLambdaARN, or null when the directory has no such function. The catalog's
    /// lookup is synchronous (SecretService checks it inside its write transaction), so this asks the directory only
    /// whether the function exists (<see cref="IFunctionDirectory.ExistsAsync"/>: the store's configuration row, read
    /// on a reader connection, no package loaded); the package is loaded at each step, outside any transaction.
    /// </summary>
    public IRotationFunction? Find(string rotationLambdaArn)
    {
        var lookup = directory.ExistsAsync(rotationLambdaArn, CancellationToken.None);
        var found = lookup.IsCompleted ? lookup.GetAwaiter().GetResult()
            : lookup.WaitAsync(TimeSpan.FromSeconds(10)).GetAwaiter().GetResult();
        return found ? new FunctionRotation(rotationLambdaArn, directory, runner) : null;
    }

    private sealed class FunctionRotation(string arn, IFunctionDirectory directory, IFunctionRunner runner) : IRotationFunction
    {
        public async Task InvokeAsync(RotationEvent rotationEvent, CancellationToken ct)
        {
            // Looked up again at each step: an UpdateFunctionCode between attempts takes effect.
            var function = await directory.FindAsync(arn, ct).ConfigureAwait(false)
                ?? throw new RotationStepException(RotationFailureKind.Permanent, "rotation function not found");
            var payload = JsonSerializer.SerializeToUtf8Bytes(new RotationEventPayload(rotationEvent.Step, rotationEvent.SecretId,
                rotationEvent.ClientRequestToken, rotationEvent.RotationToken), RotationJsonContext.Default.RotationEventPayload);
            FunctionInvocationResult result;
            try
            {
                result = await runner.InvokeAsync(new FunctionInvocation(function, payload, Guid.NewGuid().ToString()), ct).ConfigureAwait(false);
            }
            catch (ServiceException e) when (e.Code == "TooManyRequestsException")
            {
                throw new RotationStepException(RotationFailureKind.Transient, $"function {function.Configuration.FunctionName} was throttled: too many invocations at once", e);
            }
            if (result.FunctionError is null) return;
            throw new RotationStepException(RotationFailureKind.Transient, Reason(function.Configuration.FunctionName, result.Payload));
        }
    }

    /// <summary>
    /// A reason safe to record: the function's errorType and, for an AWS error the function got from Coffer
    /// (botocore's "An error occurred (CODE) when calling the OP operation"), that code and operation. The free-text
    /// errorMessage is never copied: it may hold anything the function put there, a password included.
    /// </summary>
    internal static string Reason(string functionName, byte[] payload)
    {
        string? type = null, message = null;
        try
        {
            using var doc = JsonDocument.Parse(payload);
            if (doc.RootElement.ValueKind == JsonValueKind.Object)
            {
                if (doc.RootElement.TryGetProperty("errorType", out var t) && t.ValueKind == JsonValueKind.String) type = t.GetString();
                if (doc.RootElement.TryGetProperty("errorMessage", out var m) && m.ValueKind == JsonValueKind.String) message = m.GetString();
            }
        }
        catch (JsonException) { }
        type = type is not null && Identifier().IsMatch(type) ? type : "Unhandled";
        var reason = $"function {functionName} failed: {type}";
        if (message is not null && AwsError().Match(message) is { Success: true } aws)
            reason += $" ({aws.Groups[1].Value} from {aws.Groups[2].Value})";
        else if (type == "Sandbox.Timedout")
            reason += " (timed out)";
        return reason + $"; see coffer functions logs {functionName}";
    }

    [GeneratedRegex(@"^[A-Za-z][A-Za-z0-9_.]{0,99}$", RegexOptions.CultureInvariant)]
    private static partial Regex Identifier();

    [GeneratedRegex(@"^An error occurred \(([A-Za-z][A-Za-z0-9]{0,99})\) when calling the ([A-Za-z][A-Za-z0-9]{0,99}) operation", RegexOptions.CultureInvariant)]
    private static partial Regex AwsError();
}

internal sealed record RotationEventPayload(string Step, string SecretId, string ClientRequestToken, string RotationToken);

[System.Text.Json.Serialization.JsonSerializable(typeof(RotationEventPayload))]
internal sealed partial class RotationJsonContext : System.Text.Json.Serialization.JsonSerializerContext;
