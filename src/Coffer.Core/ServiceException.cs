namespace Coffer.Core;

/// <summary>
/// An expected outcome that the caller gets as an AWS-shaped error: <see cref="Code"/> is the AWS error
/// type (<c>__type</c>). Messages never contain a secret value, key or token. Anything that is not a
/// ServiceException becomes <c>InternalServiceError</c> with no detail.
/// </summary>
public sealed class ServiceException(string code, string message) : Exception(message)
{
    public string Code { get; } = code;

    public static ServiceException ResourceNotFound(string message = "Secrets Manager can't find the specified secret.") =>
        new("ResourceNotFoundException", message);
    public static ServiceException InvalidParameter(string message) => new("InvalidParameterException", message);
    public static ServiceException InvalidRequest(string message) => new("InvalidRequestException", message);
    public static ServiceException ResourceExists(string message) => new("ResourceExistsException", message);
    public static ServiceException LimitExceeded(string message) => new("LimitExceededException", message);
    public static ServiceException InvalidNextToken(string message = "The NextToken value is invalid.") =>
        new("InvalidNextTokenException", message);
    public static ServiceException MalformedPolicy(string message) => new("MalformedPolicyDocumentException", message);
    public static ServiceException PublicPolicy(string message) => new("PublicPolicyException", message);
    public static ServiceException DecryptionFailure(string message = "Secrets Manager can't decrypt the protected secret text using the provided KMS key.") =>
        new("DecryptionFailure", message);
    public static ServiceException AccessDenied(string message) => new("AccessDeniedException", message);

    /// <summary>Shape constraint failures, in AWS's "1 validation error detected" form.</summary>
    public static ServiceException Validation(string message) => new("ValidationException", message);

    public const string MarkedForDeletion = "You can't perform this operation on the secret because it was marked for deletion.";
}
