namespace Coffer.Core.Principals;

/// <summary>An authenticated caller. <see cref="Arn"/> is IAM-shaped (arn:aws:iam::ACCOUNT:user/NAME).</summary>
public sealed record Principal(string Arn, string AccountId, string UserId, string UserName, string? AccessKeyId, bool IsAdministrator);
