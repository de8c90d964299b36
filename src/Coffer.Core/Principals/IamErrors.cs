namespace Coffer.Core.Principals;

/// <summary>IAM and STS error codes (Query protocol names, as the AWS CLI and SDKs expect them).</summary>
public static class IamErrors
{
    public static ServiceException NoSuchEntity(string message) => new("NoSuchEntity", message);
    public static ServiceException EntityAlreadyExists(string message) => new("EntityAlreadyExists", message);
    public static ServiceException DeleteConflict(string message) => new("DeleteConflict", message);
    public static ServiceException LimitExceeded(string message) => new("LimitExceeded", message);
    public static ServiceException InvalidInput(string message) => new("InvalidInput", message);
    public static ServiceException Validation(string message) => new("ValidationError", message);
    public static ServiceException ExpiredToken() => new("ExpiredTokenException", "The security token included in the request is expired");

    public static ServiceException AccessDenied(string message) => new("AccessDeniedException", message);
}
