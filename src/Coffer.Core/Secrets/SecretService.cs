using Coffer.Crypto;

namespace Coffer.Core.Secrets;

/// <summary>
/// The Secrets Manager actions (spec §3). Validates every request before the first write, keeps the label,
/// idempotency, retention and deletion invariants (spec §2.3–§2.6), and opens and seals values with the
/// envelope cipher: the store only ever sees ciphertext.
/// </summary>
public sealed partial class SecretService(
    ISecretStore store,
    EnvelopeCipher cipher,
    string accountId,
    TimeProvider time,
    SecretsOptions options)
{
    private readonly ISecretStore _store = store;
    private readonly EnvelopeCipher _cipher = cipher;
    private readonly TimeProvider _time = time;
    private readonly SecretsOptions _options = options;

    public string AccountId { get; } = accountId;

    public Task<CreateSecretResult> CreateSecretAsync(RequestContext ctx, CreateSecretRequest request, CancellationToken ct) => throw new NotImplementedException();
    public Task<PutSecretValueResult> PutSecretValueAsync(RequestContext ctx, PutSecretValueRequest request, CancellationToken ct) => throw new NotImplementedException();
    public Task<GetSecretValueResult> GetSecretValueAsync(RequestContext ctx, GetSecretValueRequest request, CancellationToken ct) => throw new NotImplementedException();
    public Task<BatchGetSecretValueResult> BatchGetSecretValueAsync(RequestContext ctx, BatchGetSecretValueRequest request, CancellationToken ct) => throw new NotImplementedException();
    public Task<DescribeSecretResult> DescribeSecretAsync(RequestContext ctx, DescribeSecretRequest request, CancellationToken ct) => throw new NotImplementedException();
    public Task<ListSecretsResult> ListSecretsAsync(RequestContext ctx, ListSecretsRequest request, CancellationToken ct) => throw new NotImplementedException();
    public Task<ListSecretVersionIdsResult> ListSecretVersionIdsAsync(RequestContext ctx, ListSecretVersionIdsRequest request, CancellationToken ct) => throw new NotImplementedException();
    public Task<SecretIdentityResult> UpdateSecretAsync(RequestContext ctx, UpdateSecretRequest request, CancellationToken ct) => throw new NotImplementedException();
    public Task<SecretIdentityResult> UpdateSecretVersionStageAsync(RequestContext ctx, UpdateSecretVersionStageRequest request, CancellationToken ct) => throw new NotImplementedException();
    public Task<DeleteSecretResult> DeleteSecretAsync(RequestContext ctx, DeleteSecretRequest request, CancellationToken ct) => throw new NotImplementedException();
    public Task<SecretIdentityResult> RestoreSecretAsync(RequestContext ctx, SecretIdRequest request, CancellationToken ct) => throw new NotImplementedException();
    public GetRandomPasswordResult GetRandomPassword(GetRandomPasswordRequest request) => throw new NotImplementedException();
    public Task TagResourceAsync(RequestContext ctx, TagResourceRequest request, CancellationToken ct) => throw new NotImplementedException();
    public Task UntagResourceAsync(RequestContext ctx, UntagResourceRequest request, CancellationToken ct) => throw new NotImplementedException();
    public Task<SecretIdentityResult> PutResourcePolicyAsync(RequestContext ctx, PutResourcePolicyRequest request, CancellationToken ct) => throw new NotImplementedException();
    public Task<GetResourcePolicyResult> GetResourcePolicyAsync(RequestContext ctx, SecretIdRequest request, CancellationToken ct) => throw new NotImplementedException();
    public Task<SecretIdentityResult> DeleteResourcePolicyAsync(RequestContext ctx, SecretIdRequest request, CancellationToken ct) => throw new NotImplementedException();
    public Task<ValidateResourcePolicyResult> ValidateResourcePolicyAsync(RequestContext ctx, ValidateResourcePolicyRequest request, CancellationToken ct) => throw new NotImplementedException();

    /// <summary>Purges secrets whose recovery window has ended; returns how many were purged. Run by the server's sweeper.</summary>
    public Task<int> PurgeDueSecretsAsync(CancellationToken ct) => throw new NotImplementedException();

    private void Unused() { _ = (_store, _cipher, _time, _options); }
}
