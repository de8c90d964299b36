using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text;
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
    SecretsOptions options,
    SecretChangeFeed? changes = null)
{
    private const byte StringValue = 0;
    private const byte BinaryValue = 1;
    private const string DefaultKmsKeyName = "DefaultEncryptionKey";

    private readonly ConcurrentDictionary<(long, string, long), byte> _touched = new();

    /// <summary>
    /// Every member of this class (in every partial file) reaches the store through this read-through cache, so
    /// each write path invalidates what it touched (<see cref="CachingSecretStore"/>). The field deliberately has
    /// the primary-constructor parameter's name: it shadows the parameter everywhere in the class.
    /// </summary>
    private readonly ISecretStore store = store is CachingSecretStore ? store : new CachingSecretStore(store);

    public string AccountId { get; } = accountId;

    /// <summary>Committed changes, for caches that must not serve a replaced value for long.</summary>
    public SecretChangeFeed Changes { get; } = changes ?? new SecretChangeFeed();

    /// <summary>
    /// Runs a write and, once it is durable, publishes the secret it touched to <see cref="Changes"/>. An
    /// idempotent replay publishes too; a spurious change only costs a cache one refetch.
    /// </summary>
    private async Task<T> WriteAsync<T>(Func<ISecretTransaction, T> work, Func<T, string> arnOf, CancellationToken ct)
    {
        var result = await store.WriteAsync(work, ct).ConfigureAwait(false);
        Changes.Publish(arnOf(result));
        return result;
    }

    // ---- reading -------------------------------------------------------------------------------------------

    public async Task<GetSecretValueResult> GetSecretValueAsync(RequestContext ctx, GetSecretValueRequest request, CancellationToken ct)
    {
        var secretId = Validation.SecretId(request.SecretId);
        Validation.OptionalVersionId(request.VersionId, "versionId");
        Validation.Stage(request.VersionStage, "versionStage");
        var secret = await ResolveAuthorizedAsync(ctx, secretId, "secretsmanager:GetSecretValue", Keys(
            ("secretsmanager:VersionId", request.VersionId),
            ("secretsmanager:VersionStage", request.VersionStage ?? (request.VersionId is null ? StagingLabels.Current : null))), ct).ConfigureAwait(false);
        return await ReadValueAsync(secret, request.VersionId, request.VersionStage, ct).ConfigureAwait(false);
    }

    private async Task<GetSecretValueResult> ReadValueAsync(Secret secret, string? versionId, string? stage, CancellationToken ct)
    {
        if (secret.IsScheduledForDeletion) throw ServiceException.InvalidRequest(ServiceException.MarkedForDeletion);
        SecretVersion? version;
        if (versionId is not null)
        {
            version = secret.FindVersion(versionId);
            if (version is null || !version.HasValue)
                throw ServiceException.ResourceNotFound($"Secrets Manager can't find the specified secret value for VersionId: {versionId}");
            if (stage is not null && !version.Stages.Contains(stage))
                throw ServiceException.InvalidRequest("You provided a VersionStage that is not associated to the provided VersionId.");
        }
        else
        {
            stage ??= StagingLabels.Current;
            version = secret.FindByStage(stage);
            if (version is null || !version.HasValue)
                throw ServiceException.ResourceNotFound($"Secrets Manager can't find the specified secret value for staging label: {stage}");
        }
        var blob = await store.ReadBlobAsync(secret.Id, version.VersionId, ct).ConfigureAwait(false)
            ?? throw ServiceException.ResourceNotFound($"Secrets Manager can't find the specified secret value for VersionId: {version.VersionId}");
        var result = Open(secret, version, blob);
        await TouchAsync(secret, version).ConfigureAwait(false);
        return result;
    }

    /// <summary>
    /// Opened values, keyed by the very blob array they were opened from. The read-through cache hands out the
    /// same array while its entry is live, so a hit here is exactly as fresh as the sealed blob; when the blob
    /// entry is invalidated or evicted, the array (and with it the opened value) becomes garbage. Plaintext thus
    /// lives no longer than its ciphertext is cached, and a read never decrypts a value it has decrypted before.
    /// (The master key and opened access keys are resident in this process anyway; what this saves is an
    /// unwrap, a key schedule, a 4 KiB decrypt and a UTF-8 decode per read.)
    /// </summary>
    private readonly ConditionalWeakTable<byte[], OpenedValue> _opened = new();

    private sealed record OpenedValue(string Arn, string VersionId, string? SecretString, byte[]? SecretBinary);

    private GetSecretValueResult Open(Secret secret, SecretVersion version, byte[] blob)
    {
        if (!_opened.TryGetValue(blob, out var opened) || opened.Arn != secret.Arn || opened.VersionId != version.VersionId)
        {
            opened = OpenValue(secret, version, blob);
            _opened.AddOrUpdate(blob, opened);
        }
        return new GetSecretValueResult
        {
            ARN = secret.Arn,
            Name = secret.Name,
            VersionId = version.VersionId,
            SecretString = opened.SecretString,
            SecretBinary = opened.SecretBinary is { } binary ? [.. binary] : null,
            VersionStages = [.. version.Stages],
            CreatedDate = version.CreatedDate,
        };
    }

    private OpenedValue OpenValue(Secret secret, SecretVersion version, byte[] blob)
    {
        byte[] plain;
        try { plain = cipher.Open(blob, Aad(secret.Arn, version.VersionId)); }
        catch (EnvelopeException) { throw ServiceException.DecryptionFailure(); }
        try
        {
            if (plain.Length == 0) throw ServiceException.DecryptionFailure();
            return new OpenedValue(secret.Arn, version.VersionId,
                plain[0] == StringValue ? Encoding.UTF8.GetString(plain, 1, plain.Length - 1) : null,
                plain[0] == BinaryValue ? plain[1..] : null);
        }
        finally { CryptographicOperations.ZeroMemory(plain); }
    }

    /// <summary>
    /// LastAccessedDate has day resolution, so this costs at most one write per version per day, and the read
    /// waits for it so that a DescribeSecret right after shows the date (as AWS does). A failure to record the
    /// date never fails the read.
    /// </summary>
    private async Task TouchAsync(Secret secret, SecretVersion version)
    {
        var today = Today();
        if (version.LastAccessedDate == today && secret.LastAccessedDate == today) return;
        if (!_touched.TryAdd((secret.Id, version.VersionId, today.ToUnixTimeSeconds()), 0)) return;
        if (_touched.Count > 100_000) _touched.Clear();
        var id = secret.Id;
        var versionId = version.VersionId;
        try
        {
            await store.WriteAsync(tx =>
        {
            var s = tx.FindByArn(secret.Arn);
            if (s is null || s.Id != id) return 0;
            var v = s.FindVersion(versionId);
            if (v is not null && v.LastAccessedDate != today)
            {
                v.LastAccessedDate = today;
                tx.UpsertVersion(s.Id, v, null);
            }
            if (s.LastAccessedDate != today)
            {
                s.LastAccessedDate = today;
                tx.UpdateSecret(s);
            }
            return 0;
            }, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            _touched.TryRemove((secret.Id, version.VersionId, today.ToUnixTimeSeconds()), out _);
        }
    }

    public async Task<BatchGetSecretValueResult> BatchGetSecretValueAsync(RequestContext ctx, BatchGetSecretValueRequest request, CancellationToken ct)
    {
        var hasIds = request.SecretIdList is not null;
        var hasFilters = request.Filters is not null;
        if (hasIds == hasFilters)
            throw ServiceException.InvalidParameter("Either SecretIdList or Filters must be provided, but not both.");
        if (request.MaxResults is not null && !hasFilters)
            throw ServiceException.InvalidParameter("MaxResults can be used only together with Filters.");
        Authorize(ctx, "secretsmanager:BatchGetSecretValue");
        if (hasFilters) Authorize(ctx, "secretsmanager:ListSecrets");
        var values = new List<GetSecretValueResult>();
        var errors = new List<ApiError>();
        string? next = null;
        if (hasIds)
        {
            var ids = request.SecretIdList!;
            if (ids.Count is < 1 or > 20)
                throw Validation.Constraint(null, "secretIdList", ids.Count < 1
                    ? "Member must have length greater than or equal to 1" : "Member must have length less than or equal to 20");
            foreach (var id in ids) Validation.SecretId(id);
            foreach (var id in ids)
            {
                try
                {
                    var secret = await ResolveAuthorizedAsync(ctx, id, "secretsmanager:GetSecretValue", Keys(("secretsmanager:VersionStage", StagingLabels.Current)), ct).ConfigureAwait(false);
                    values.Add(await ReadValueAsync(secret, null, null, ct).ConfigureAwait(false));
                }
                catch (ServiceException e) { errors.Add(new ApiError(id, e.Code, e.Message)); }
            }
        }
        else
        {
            SecretFilters.Validate(request.Filters);
            var max = request.MaxResults ?? 20;
            if (max is < 1 or > 20)
                throw Validation.Constraint(max.ToString(System.Globalization.CultureInfo.InvariantCulture), "maxResults",
                    max < 1 ? "Member must have value greater than or equal to 1" : "Member must have value less than or equal to 20");
            var offset = PageToken.Read(request.NextToken, "batch");
            var all = (await store.ListAsync(ctx.Region, ct).ConfigureAwait(false))
                .Where(s => !s.IsScheduledForDeletion && SecretFilters.Matches(s, request.Filters)).ToList();
            foreach (var secret in all.Skip(offset).Take(max))
            {
                try
                {
                    Authorize(ctx, "secretsmanager:GetSecretValue", secret, null, Keys(("secretsmanager:VersionStage", StagingLabels.Current)));
                    values.Add(await ReadValueAsync(secret, null, null, ct).ConfigureAwait(false));
                }
                catch (ServiceException e) { errors.Add(new ApiError(secret.Name, e.Code, e.Message)); }
            }
            if (offset + max < all.Count) next = PageToken.Create("batch", offset + max);
        }
        return new BatchGetSecretValueResult { SecretValues = values, Errors = errors, NextToken = next };
    }

    public async Task<DescribeSecretResult> DescribeSecretAsync(RequestContext ctx, DescribeSecretRequest request, CancellationToken ct)
    {
        var secret = await ResolveAuthorizedAsync(ctx, Validation.SecretId(request.SecretId), "secretsmanager:DescribeSecret", null, ct).ConfigureAwait(false);
        return Describe(secret, forList: false);
    }

    private static DescribeSecretResult Describe(Secret s, bool forList)
    {
        Dictionary<string, List<string>>? stages = null;
        foreach (var v in s.Versions)
        {
            if (v.Stages.Count == 0) continue;
            stages ??= new Dictionary<string, List<string>>(StringComparer.Ordinal);
            stages[v.VersionId] = [.. v.Stages];
        }
        return new DescribeSecretResult
        {
            ARN = s.Arn,
            Name = s.Name,
            Type = s.Type,
            Description = s.Description,
            KmsKeyId = s.KmsKeyId,
            RotationEnabled = s.RotationEnabled,
            RotationLambdaARN = s.RotationLambdaArn,
            RotationRules = s.RotationRules,
            LastRotatedDate = s.LastRotatedDate,
            LastChangedDate = s.LastChangedDate,
            LastAccessedDate = s.LastAccessedDate,
            DeletedDate = s.DeletedDate,
            NextRotationDate = s.NextRotationDate,
            Tags = s.Tags is null ? null : [.. s.Tags],
            VersionIdsToStages = forList ? null : stages,
            SecretVersionsToStages = forList ? stages : null,
            OwningService = s.OwningService,
            CreatedDate = s.CreatedDate,
            // AWS shows PrimaryRegion only for secrets that have replicas (recorded responses); Coffer has none yet.
            PrimaryRegion = null,
        };
    }

    public async Task<ListSecretsResult> ListSecretsAsync(RequestContext ctx, ListSecretsRequest request, CancellationToken ct)
    {
        SecretFilters.Validate(request.Filters);
        Authorize(ctx, "secretsmanager:ListSecrets");
        var max = request.MaxResults ?? 100;
        if (max is < 1 or > 100)
            throw Validation.Constraint(max.ToString(System.Globalization.CultureInfo.InvariantCulture), "maxResults",
                max < 1 ? "Member must have value greater than or equal to 1" : "Member must have value less than or equal to 100");
        if (request.SortOrder is not (null or "asc" or "desc"))
            throw Validation.Constraint(request.SortOrder, "sortOrder", "Member must satisfy enum value set: [asc, desc]");
        if (request.SortBy is not (null or "created-date" or "last-accessed-date" or "last-changed-date" or "name"))
            throw Validation.Constraint(request.SortBy, "sortBy", "Member must satisfy enum value set: [created-date, last-accessed-date, last-changed-date, name]");
        var offset = PageToken.Read(request.NextToken, "list");

        var secrets = (await store.ListAsync(ctx.Region, ct).ConfigureAwait(false))
            .Where(s => (request.IncludePlannedDeletion == true || !s.IsScheduledForDeletion) && SecretFilters.Matches(s, request.Filters));
        IOrderedEnumerable<Secret> ordered = request.SortBy switch
        {
            "name" => secrets.OrderBy(s => s.Name, StringComparer.Ordinal),
            "last-accessed-date" => secrets.OrderBy(s => s.LastAccessedDate ?? DateTimeOffset.MinValue),
            "last-changed-date" => secrets.OrderBy(s => s.LastChangedDate),
            _ => secrets.OrderBy(s => s.CreatedDate),
        };
        ordered = ordered.ThenBy(s => s.Id);
        var list = (request.SortOrder == "desc" ? ordered.Reverse() : ordered).ToList();
        var page = list.Skip(offset).Take(max).Select(s => Describe(s, forList: true)).ToList();
        return new ListSecretsResult
        {
            SecretList = page,
            NextToken = offset + max < list.Count ? PageToken.Create("list", offset + max) : null,
        };
    }

    public async Task<ListSecretVersionIdsResult> ListSecretVersionIdsAsync(RequestContext ctx, ListSecretVersionIdsRequest request, CancellationToken ct)
    {
        var secretId = Validation.SecretId(request.SecretId);
        var max = request.MaxResults ?? 100;
        if (max is < 1 or > 100)
            throw Validation.Constraint(max.ToString(System.Globalization.CultureInfo.InvariantCulture), "maxResults",
                max < 1 ? "Member must have value greater than or equal to 1" : "Member must have value less than or equal to 100");
        var secret = await ResolveAuthorizedAsync(ctx, secretId, "secretsmanager:ListSecretVersionIds", null, ct).ConfigureAwait(false);
        var scope = "versions/" + secret.Id;
        var offset = PageToken.Read(request.NextToken, scope);
        var versions = secret.Versions.Where(v => request.IncludeDeprecated == true || v.Stages.Count > 0).ToList();
        var kms = new List<string> { secret.KmsKeyId ?? DefaultKmsKeyName };
        return new ListSecretVersionIdsResult
        {
            ARN = secret.Arn,
            Name = secret.Name,
            Versions = versions.Skip(offset).Take(max).Select(v => new SecretVersionsListEntry(
                v.VersionId, v.Stages.Count == 0 ? null : [.. v.Stages], v.LastAccessedDate, v.CreatedDate, [.. kms])).ToList(),
            NextToken = offset + max < versions.Count ? PageToken.Create(scope, offset + max) : null,
        };
    }

    // ---- resolution ------------------------------------------------------------------------------------------

    /// <summary>
    /// SecretId resolution (spec §1.6): an ARN must name this account and the request's region, and matches
    /// exactly, or else as a partial ARN (the resource part is the whole name). A resource part that ends in
    /// "-" and six alphanumerics is taken as a full ARN only: AWS answers ResourceNotFoundException for the
    /// partial ARN of a name like "db-a1b2c3" (recorded), so it never falls back to a name match.
    /// A name matches within the region.
    /// An ARN of another account or region never resolves to a local secret of the same name.
    /// </summary>
    private async Task<Secret?> ResolveAsync(string region, string secretId, CancellationToken ct)
    {
        if (!secretId.StartsWith("arn:", StringComparison.Ordinal))
            return await store.FindByNameAsync(region, secretId, ct).ConfigureAwait(false);
        if (!SecretArn.TryParse(secretId, out var arnRegion, out var account, out var resource) || arnRegion != region || account != AccountId)
            return null;
        var exact = await store.FindByArnAsync(secretId, ct).ConfigureAwait(false);
        if (exact is not null || SecretArn.HasSuffix(resource)) return exact;
        return await store.FindByNameAsync(region, resource, ct).ConfigureAwait(false);
    }

    private Secret? Resolve(ISecretTransaction tx, string region, string secretId)
    {
        if (!secretId.StartsWith("arn:", StringComparison.Ordinal))
            return tx.FindByName(region, secretId);
        if (!SecretArn.TryParse(secretId, out var arnRegion, out var account, out var resource) || arnRegion != region || account != AccountId)
            return null;
        var exact = tx.FindByArn(secretId);
        if (exact is not null || SecretArn.HasSuffix(resource)) return exact;
        return tx.FindByName(region, resource);
    }

    private Secret ResolveForWrite(ISecretTransaction tx, string region, string secretId)
    {
        var secret = Resolve(tx, region, secretId) ?? throw ServiceException.ResourceNotFound();
        if (secret.IsScheduledForDeletion) throw ServiceException.InvalidRequest(ServiceException.MarkedForDeletion);
        return secret;
    }

    // ---- values ------------------------------------------------------------------------------------------

    private static byte[] Aad(string arn, string versionId) => Encoding.UTF8.GetBytes(arn + "\n" + versionId);

    private byte[] Seal(Secret secret, string versionId, (byte[] Bytes, bool IsBinary) value)
    {
        var plain = new byte[value.Bytes.Length + 1];
        try
        {
            plain[0] = value.IsBinary ? BinaryValue : StringValue;
            value.Bytes.CopyTo(plain, 1);
            return cipher.Seal(plain, Aad(secret.Arn, versionId));
        }
        finally { CryptographicOperations.ZeroMemory(plain); }
    }

    /// <summary>Constant-time comparison of a stored version's value with a new one (idempotent replays, spec §2.5).</summary>
    private bool SameValue(ISecretTransaction tx, Secret secret, SecretVersion version, (byte[] Bytes, bool IsBinary) value)
    {
        var blob = tx.ReadBlob(secret.Id, version.VersionId);
        if (blob is null) return false;
        byte[] plain;
        try { plain = cipher.Open(blob, Aad(secret.Arn, version.VersionId)); }
        catch (EnvelopeException) { throw ServiceException.DecryptionFailure(); }
        try
        {
            return plain.Length == value.Bytes.Length + 1
                && plain[0] == (value.IsBinary ? BinaryValue : StringValue)
                && CryptographicOperations.FixedTimeEquals(plain.AsSpan(1), value.Bytes);
        }
        finally { CryptographicOperations.ZeroMemory(plain); }
    }

    private static ServiceException TokenInUse(string token, Secret secret) =>
        ServiceException.ResourceExists($"You can't use ClientRequestToken {token} because that value is already in use for a version of secret {secret.Arn}.");

    /// <summary>
    /// Adds a new version carrying <paramref name="stages"/> (each label moved off any other version), then
    /// applies retention and the version ceiling. The caller has checked the token is unused.
    /// </summary>
    private SecretVersion AddVersion(ISecretTransaction tx, Secret secret, string versionId, (byte[] Bytes, bool IsBinary) value,
        IReadOnlyList<string> stages, DateTimeOffset now)
    {
        var version = new SecretVersion { VersionId = versionId, CreatedDate = now, HasValue = true, KeyId = cipher.CurrentKeyId };
        var first = secret.Versions.Count == 0;
        secret.Versions.Add(version);
        var changed = new HashSet<SecretVersion>(ReferenceEqualityComparer.Instance) { version };
        foreach (var stage in stages) changed.UnionWith(StagingLabels.Move(secret, stage, version));
        if (first && !version.Stages.Contains(StagingLabels.Current))
            changed.UnionWith(StagingLabels.Move(secret, StagingLabels.Current, version));
        // A new current version written outside a rotation abandons any pending one: AWSPENDING is stripped
        // (recorded: the old AWSCURRENT+AWSPENDING version is left with only AWSPREVIOUS).
        if (version.Stages.Contains(StagingLabels.Current) && !version.Stages.Contains(StagingLabels.Pending)
            && secret.FindByStage(StagingLabels.Pending) is { } pending)
        {
            pending.Stages.Remove(StagingLabels.Pending);
            changed.Add(pending);
            AbandonRotation(secret);
        }
        CheckStageQuota(secret);

        foreach (var doomed in Retention.SelectForDeletion(secret, now, options))
        {
            secret.Versions.Remove(doomed);
            changed.Remove(doomed);
            tx.DeleteVersion(secret.Id, doomed.VersionId);
        }
        if (secret.Versions.Count > options.MaxVersionsPerSecret)
            throw ServiceException.LimitExceeded(
                $"You have exceeded the maximum number of versions ({options.MaxVersionsPerSecret}) for this secret; versions younger than 24 hours are kept.");

        tx.UpsertVersion(secret.Id, version, Seal(secret, versionId, value));
        changed.Remove(version);
        foreach (var v in changed) tx.UpsertVersion(secret.Id, v, null);
        secret.LastChangedDate = now;
        tx.UpdateSecret(secret);
        return version;
    }

    private void CheckStageQuota(Secret secret)
    {
        if (StagingLabels.Count(secret) > options.MaxStagesPerSecret)
            throw ServiceException.LimitExceeded($"A secret can have at most {options.MaxStagesPerSecret} staging labels attached across its versions.");
    }

    private DateTimeOffset Now()
    {
        var now = time.GetUtcNow();
        return DateTimeOffset.FromUnixTimeMilliseconds(now.ToUnixTimeMilliseconds());
    }

    private DateTimeOffset Today()
    {
        var now = time.GetUtcNow();
        return new DateTimeOffset(now.Year, now.Month, now.Day, 0, 0, 0, TimeSpan.Zero);
    }

    private static string? NormalizeKmsKeyId(string? kmsKeyId) =>
        string.IsNullOrEmpty(kmsKeyId) || kmsKeyId is "alias/aws/secretsmanager" ? null : kmsKeyId;
}
