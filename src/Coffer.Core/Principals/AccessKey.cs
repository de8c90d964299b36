namespace Coffer.Core.Principals;

/// <summary>
/// An access key as stored: the secret access key only as an envelope blob (sealed under the master key with
/// associated data "access-key:" + id), never in plaintext.
/// </summary>
public sealed record AccessKeyRecord(
    string AccessKeyId,
    byte[] SecretBlob,
    string UserName,
    string PrincipalArn,
    string Status,
    DateTimeOffset CreatedDate);

/// <summary>An access key with its secret opened, held only in memory for SigV4 verification.</summary>
public sealed class AccessKey(string accessKeyId, byte[] secretAccessKey, Principal principal)
{
    public string AccessKeyId { get; } = accessKeyId;
    /// <summary>UTF-8 bytes of the secret access key.</summary>
    public byte[] SecretAccessKey { get; } = secretAccessKey;
    public Principal Principal { get; } = principal;
    public override string ToString() => $"AccessKey({AccessKeyId})";
}
