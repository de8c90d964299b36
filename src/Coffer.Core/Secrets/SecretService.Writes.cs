using Coffer.Core.Policies;

namespace Coffer.Core.Secrets;

public sealed partial class SecretService
{
    public Task<CreateSecretResult> CreateSecretAsync(RequestContext ctx, CreateSecretRequest request, CancellationToken ct)
    {
        var name = Validation.Name(request.Name);
        var value = Validation.Value(request.SecretString, request.SecretBinary, required: false);
        var token = value is null ? request.ClientRequestToken : Validation.Token(request.ClientRequestToken);
        if (token is not null) Validation.Length(token, "clientRequestToken", 32, 64);
        Validation.Length(request.Description, "description", 0, 2048);
        Validation.Length(request.KmsKeyId, "kmsKeyId", 0, 2048);
        Validation.Length(request.Type, "type", 0, 256);
        Validation.Tags(request.Tags, options.MaxTagsPerSecret);
        if (request.AddReplicaRegions is { Count: > 0 })
            throw ServiceException.InvalidRequest("Coffer does not support replica regions yet.");
        var createKeys = TagKeys(Keys(("secretsmanager:Name", name), ("secretsmanager:Description", request.Description),
            ("secretsmanager:KmsKeyId", request.KmsKeyId), ("secretsmanager:Type", request.Type)), request.Tags, requestTags: true);
        Authorize(ctx, "secretsmanager:CreateSecret", null, name, createKeys);
        if (request.Tags is { Count: > 0 }) Authorize(ctx, "secretsmanager:TagResource", null, name, createKeys);

        return WriteAsync(tx =>
        {
            var existing = tx.FindByName(ctx.Region, name);
            if (existing is not null)
            {
                if (existing.IsScheduledForDeletion)
                    throw ServiceException.InvalidRequest("You can't create this secret because a secret with this name is already scheduled for deletion.");
                var replay = token is null ? null : existing.FindVersion(token);
                if (replay is null || value is null)
                    throw ServiceException.ResourceExists($"The operation failed because the secret {name} already exists.");
                if (!SameValue(tx, existing, replay, value.Value)) throw TokenInUse(token!, existing);
                return new CreateSecretResult { ARN = existing.Arn, Name = existing.Name, VersionId = replay.VersionId };
            }
            var now = Now();
            var secret = new Secret
            {
                Region = ctx.Region,
                Name = name,
                Arn = SecretArn.Create(ctx.Region, AccountId, name),
                Description = string.IsNullOrEmpty(request.Description) ? null : request.Description,
                KmsKeyId = NormalizeKmsKeyId(request.KmsKeyId),
                Type = string.IsNullOrEmpty(request.Type) ? null : request.Type,
                Tags = request.Tags is { Count: > 0 } ? Deduplicate(request.Tags) : null,
                CreatedDate = now,
                LastChangedDate = now,
                PrimaryRegion = ctx.Region,
            };
            tx.InsertSecret(secret);
            if (value is not null) AddVersion(tx, secret, token!, value.Value, [StagingLabels.Current], now);
            return new CreateSecretResult { ARN = secret.Arn, Name = secret.Name, VersionId = value is null ? null : token };
        }, r => r.ARN, ct);
    }

    public Task<PutSecretValueResult> PutSecretValueAsync(RequestContext ctx, PutSecretValueRequest request, CancellationToken ct)
    {
        var secretId = Validation.SecretId(request.SecretId);
        var token = Validation.Token(request.ClientRequestToken);
        var value = Validation.Value(request.SecretString, request.SecretBinary, required: true)!.Value;
        var stages = request.VersionStages;
        if (stages is not null)
        {
            if (stages.Count is < 1 or > 20)
                throw Validation.Constraint(null, "versionStages", stages.Count < 1
                    ? "Member must have length greater than or equal to 1" : "Member must have length less than or equal to 20");
            for (var i = 0; i < stages.Count; i++)
            {
                if (stages[i] is null) throw Validation.Constraint(null, $"versionStages.{i + 1}.member", "Member must not be null");
                Validation.Stage(stages[i], $"versionStages.{i + 1}.member");
            }
            stages = stages.Distinct(StringComparer.Ordinal).ToList();
        }
        if (request.RotationToken is { } rt && (rt.Length is < 36 or > 256 || rt.Any(c => !(char.IsAsciiLetterOrDigit(c) || c == '-'))))
            throw Validation.SensitiveConstraint("rotationToken", "Member must satisfy regular expression pattern: ^[a-zA-Z0-9\\-]+$");

        return WriteAsync(tx =>
        {
            var secret = ResolveForWrite(tx, ctx, secretId, "secretsmanager:PutSecretValue");
            CheckRotationToken(secret, request.RotationToken);
            var existing = secret.FindVersion(token);
            if (existing is not null)
            {
                if (existing.HasValue)
                {
                    if (!SameValue(tx, secret, existing, value)) throw TokenInUse(token, secret);
                    return PutResult(secret, existing);
                }
                // The value-less AWSPENDING placeholder of a rotation: the rotation function fills it (spec §2.5).
                var now = Now();
                existing.HasValue = true;
                existing.KeyId = cipher.CurrentKeyId;
                var changed = new HashSet<SecretVersion>(ReferenceEqualityComparer.Instance);
                foreach (var stage in stages ?? []) changed.UnionWith(StagingLabels.Move(secret, stage, existing));
                CheckStageQuota(secret);
                tx.UpsertVersion(secret.Id, existing, Seal(secret, token, value));
                changed.Remove(existing);
                foreach (var v in changed) tx.UpsertVersion(secret.Id, v, null);
                secret.LastChangedDate = now;
                tx.UpdateSecret(secret);
                return PutResult(secret, existing);
            }
            var version = AddVersion(tx, secret, token, value, stages ?? [StagingLabels.Current], Now());
            return PutResult(secret, version);
        }, r => r.ARN, ct);
    }

    private static PutSecretValueResult PutResult(Secret secret, SecretVersion version) =>
        new() { ARN = secret.Arn, Name = secret.Name, VersionId = version.VersionId, VersionStages = [.. version.Stages] };

    public Task<SecretIdentityResult> UpdateSecretAsync(RequestContext ctx, UpdateSecretRequest request, CancellationToken ct)
    {
        var secretId = Validation.SecretId(request.SecretId);
        var value = Validation.Value(request.SecretString, request.SecretBinary, required: false);
        var token = value is null ? null : Validation.Token(request.ClientRequestToken);
        Validation.Length(request.Description, "description", 0, 2048);
        Validation.Length(request.KmsKeyId, "kmsKeyId", 0, 2048);
        Validation.Length(request.Type, "type", 0, 256);

        return WriteAsync(tx =>
        {
            var secret = ResolveForWrite(tx, ctx, secretId, "secretsmanager:UpdateSecret", Keys(("secretsmanager:Description", request.Description),
                ("secretsmanager:KmsKeyId", request.KmsKeyId), ("secretsmanager:Type", request.Type)));
            if (secret.OwningService is not null)
                throw ServiceException.InvalidRequest($"You can't modify this secret because it's managed by {secret.OwningService}.");
            if (token is not null && secret.FindVersion(token) is { } replay)
            {
                if (!replay.HasValue || !SameValue(tx, secret, replay, value!.Value)) throw TokenInUse(token, secret);
                return new SecretIdentityResult { ARN = secret.Arn, Name = secret.Name, VersionId = token };
            }
            var now = Now();
            if (request.Description is not null) secret.Description = request.Description.Length == 0 ? null : request.Description;
            if (request.KmsKeyId is not null) secret.KmsKeyId = NormalizeKmsKeyId(request.KmsKeyId);
            if (request.Type is not null) secret.Type = request.Type.Length == 0 ? null : request.Type;
            secret.LastChangedDate = now;
            if (value is not null) AddVersion(tx, secret, token!, value.Value, [StagingLabels.Current], now);
            else tx.UpdateSecret(secret);
            return new SecretIdentityResult { ARN = secret.Arn, Name = secret.Name, VersionId = token };
        }, r => r.ARN, ct);
    }

    public Task<SecretIdentityResult> UpdateSecretVersionStageAsync(RequestContext ctx, UpdateSecretVersionStageRequest request, CancellationToken ct)
    {
        var secretId = Validation.SecretId(request.SecretId);
        var stage = request.VersionStage;
        if (string.IsNullOrEmpty(stage)) throw ServiceException.InvalidParameter("You must provide a VersionStage.");
        Validation.Stage(stage, "versionStage");
        Validation.OptionalVersionId(request.RemoveFromVersionId, "removeFromVersionId");
        Validation.OptionalVersionId(request.MoveToVersionId, "moveToVersionId");
        if (request.RemoveFromVersionId is null && request.MoveToVersionId is null)
            throw ServiceException.InvalidParameter("You must specify RemoveFromVersionId, MoveToVersionId, or both.");

        return WriteAsync(tx =>
        {
            var secret = ResolveForWrite(tx, ctx, secretId, "secretsmanager:UpdateSecretVersionStage", Keys(("secretsmanager:VersionStage", stage)));
            var holder = secret.FindByStage(stage);
            var changed = new HashSet<SecretVersion>(ReferenceEqualityComparer.Instance);
            if (request.MoveToVersionId is { } moveTo)
            {
                var target = secret.FindVersion(moveTo) ?? throw ServiceException.InvalidParameter($"Not a valid version: {moveTo}");
                if (holder is not null && !ReferenceEquals(holder, target))
                {
                    if (request.RemoveFromVersionId is null)
                        throw ServiceException.InvalidParameter(
                            $"The parameter RemoveFromVersionId can't be empty. Staging label {stage} is currently attached to version {holder.VersionId}, so you must explicitly reference that version in RemoveFromVersionId.");
                    if (request.RemoveFromVersionId != holder.VersionId)
                        throw ServiceException.InvalidParameter(
                            $"The staging label {stage} is currently attached to version {holder.VersionId}, not to version {request.RemoveFromVersionId}.");
                }
                else if (holder is null && request.RemoveFromVersionId is { } from && from != moveTo)
                {
                    if (secret.FindVersion(from) is null) throw ServiceException.InvalidParameter($"Not a valid version: {from}");
                    throw ServiceException.InvalidParameter($"The staging label {stage} is not attached to version {from}.");
                }
                if (stage == StagingLabels.Current && !target.HasValue)
                    throw ServiceException.InvalidParameter($"You can't attach {StagingLabels.Current} to version {moveTo} because it has no secret value.");
                changed.UnionWith(StagingLabels.Move(secret, stage, target));
                CheckStageQuota(secret);
            }
            else
            {
                var from = request.RemoveFromVersionId!;
                var version = secret.FindVersion(from) ?? throw ServiceException.InvalidParameter($"Not a valid version: {from}");
                if (!version.Stages.Contains(stage))
                    throw ServiceException.InvalidParameter($"The staging label {stage} is not attached to version {from}.");
                if (stage == StagingLabels.Current)
                    throw ServiceException.InvalidParameter(
                        $"You can't remove the staging label {StagingLabels.Current} without moving it to another version with MoveToVersionId.");
                version.Stages.Remove(stage);
                changed.Add(version);
            }
            if (changed.Count > 0)
            {
                foreach (var v in changed) tx.UpsertVersion(secret.Id, v, null);
                secret.LastChangedDate = Now();
                tx.UpdateSecret(secret);
            }
            return new SecretIdentityResult { ARN = secret.Arn, Name = secret.Name };
        }, r => r.ARN, ct);
    }

    public Task<DeleteSecretResult> DeleteSecretAsync(RequestContext ctx, DeleteSecretRequest request, CancellationToken ct)
    {
        var secretId = Validation.SecretId(request.SecretId);
        var force = request.ForceDeleteWithoutRecovery == true;
        if (force && request.RecoveryWindowInDays is not null)
            throw ServiceException.InvalidParameter("You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.");
        var days = request.RecoveryWindowInDays ?? 30;
        if (days is < 7 or > 30)
            throw ServiceException.InvalidParameter("The RecoveryWindowInDays value must be between 7 and 30 days (inclusive).");
        if (force && options.PurgeProtection)
            throw ServiceException.InvalidRequest("Purge protection is on: secrets can only be deleted with a recovery window.");

        return WriteAsync(tx =>
        {
            var now = Now();
            var secret = Resolve(tx, ctx.Region, secretId);
            Authorize(ctx, "secretsmanager:DeleteSecret", secret, secretId, Keys(
                ("secretsmanager:RecoveryWindowInDays", request.RecoveryWindowInDays?.ToString(System.Globalization.CultureInfo.InvariantCulture)),
                ("secretsmanager:ForceDeleteWithoutRecovery", request.ForceDeleteWithoutRecovery is { } f ? (f ? "true" : "false") : null)));
            if (force)
            {
                if (secret is null)
                {
                    // Force-deleting a secret that does not exist succeeds (model doc); echo what was asked for.
                    var arn = secretId.StartsWith("arn:", StringComparison.Ordinal)
                        ? secretId : $"arn:{SecretArn.Partition}:secretsmanager:{ctx.Region}:{AccountId}:secret:{secretId}";
                    var name = SecretArn.TryParse(arn, out _, out _, out var resource) ? resource : secretId;
                    return new DeleteSecretResult { ARN = arn, Name = name, DeletionDate = now };
                }
                tx.PurgeSecret(secret.Id);
                return new DeleteSecretResult { ARN = secret.Arn, Name = secret.Name, DeletionDate = now };
            }
            if (secret is null) throw ServiceException.ResourceNotFound();
            if (secret.IsScheduledForDeletion) throw ServiceException.InvalidRequest(ServiceException.MarkedForDeletion);
            secret.DeletedDate = now;
            secret.DeletionDate = now.AddDays(days);
            secret.LastChangedDate = now;
            tx.UpdateSecret(secret);
            return new DeleteSecretResult { ARN = secret.Arn, Name = secret.Name, DeletionDate = secret.DeletionDate.Value };
        }, r => r.ARN, ct);
    }

    public Task<SecretIdentityResult> RestoreSecretAsync(RequestContext ctx, SecretIdRequest request, CancellationToken ct)
    {
        var secretId = Validation.SecretId(request.SecretId);
        return WriteAsync(tx =>
        {
            var found = Resolve(tx, ctx.Region, secretId);
            Authorize(ctx, "secretsmanager:RestoreSecret", found, secretId);
            var secret = found ?? throw ServiceException.ResourceNotFound();
            if (secret.IsScheduledForDeletion)
            {
                secret.DeletedDate = null;
                secret.DeletionDate = null;
                secret.LastChangedDate = Now();
                tx.UpdateSecret(secret);
            }
            return new SecretIdentityResult { ARN = secret.Arn, Name = secret.Name };
        }, r => r.ARN, ct);
    }

    public async Task<int> PurgeDueSecretsAsync(CancellationToken ct)
    {
        var due = await store.ListDueForPurgeAsync(time.GetUtcNow(), ct).ConfigureAwait(false);
        var purged = 0;
        foreach (var candidate in due)
        {
            purged += await store.WriteAsync(tx =>
            {
                var s = tx.FindByArn(candidate.Arn);
                if (s is null || s.DeletionDate is not { } when || when > time.GetUtcNow()) return 0;
                tx.PurgeSecret(s.Id);
                return 1;
            }, ct).ConfigureAwait(false);
            Changes.Publish(candidate.Arn);
        }
        return purged;
    }

    public GetRandomPasswordResult GetRandomPassword(GetRandomPasswordRequest request) =>
        new() { RandomPassword = PasswordGenerator.Generate(request) };

    // ---- tags and resource policies -------------------------------------------------------------------------
    // These go through WriteAsync, so the change feed names the secret: a caching agent re-reads it within seconds,
    // and drops it when its credentials may no longer read it (a Deny in the resource policy, a tag an ABAC
    // condition depends on).

    public Task TagResourceAsync(RequestContext ctx, TagResourceRequest request, CancellationToken ct)
    {
        var secretId = Validation.SecretId(request.SecretId);
        if (request.Tags is null) throw ServiceException.InvalidParameter("You must provide Tags.");
        Validation.Tags(request.Tags, options.MaxTagsPerSecret);
        return WriteAsync(tx =>
        {
            var secret = ResolveForWrite(tx, ctx, secretId, "secretsmanager:TagResource", TagKeys(null, request.Tags, requestTags: true));
            var tags = secret.Tags ?? [];
            foreach (var tag in request.Tags)
            {
                var i = tags.FindIndex(t => t.Key == tag.Key);
                if (i >= 0) tags[i] = tag; else tags.Add(tag);
            }
            if (tags.Count > options.MaxTagsPerSecret)
                throw ServiceException.InvalidParameter($"A secret can have at most {options.MaxTagsPerSecret} tags.");
            secret.Tags = tags;
            secret.LastChangedDate = Now();
            tx.UpdateSecret(secret);
            return secret.Arn;
        }, arn => arn, ct);
    }

    public Task UntagResourceAsync(RequestContext ctx, UntagResourceRequest request, CancellationToken ct)
    {
        var secretId = Validation.SecretId(request.SecretId);
        if (request.TagKeys is null) throw ServiceException.InvalidParameter("You must provide TagKeys.");
        for (var i = 0; i < request.TagKeys.Count; i++) Validation.Length(request.TagKeys[i], $"tagKeys.{i + 1}.member", 1, 128);
        return WriteAsync(tx =>
        {
            var secret = ResolveForWrite(tx, ctx, secretId, "secretsmanager:UntagResource",
                TagKeys(null, request.TagKeys.Select(k => new Tag(k, "")), requestTags: false));
            if (secret.Tags is not null)
            {
                secret.Tags.RemoveAll(t => request.TagKeys.Contains(t.Key));
                secret.LastChangedDate = Now();
                tx.UpdateSecret(secret);
            }
            return secret.Arn;
        }, arn => arn, ct);
    }

    public Task<SecretIdentityResult> PutResourcePolicyAsync(RequestContext ctx, PutResourcePolicyRequest request, CancellationToken ct)
    {
        var secretId = Validation.SecretId(request.SecretId);
        var policy = CheckPolicyText(request.ResourcePolicy);
        var document = Policy.Parse(policy, PolicyKind.Resource, "resource policy");
        if (request.BlockPublicPolicy == true && document.GrantsPublicAccess())
            throw ServiceException.PublicPolicy("This resource policy contains a policy that grants public access.");
        return WriteAsync(tx =>
        {
            var secret = ResolveForWrite(tx, ctx, secretId, "secretsmanager:PutResourcePolicy",
                Keys(("secretsmanager:BlockPublicPolicy", request.BlockPublicPolicy == true ? "true" : "false")));
            secret.ResourcePolicy = policy;
            secret.LastChangedDate = Now();
            tx.UpdateSecret(secret);
            return new SecretIdentityResult { ARN = secret.Arn, Name = secret.Name };
        }, r => r.ARN, ct);
    }

    public async Task<GetResourcePolicyResult> GetResourcePolicyAsync(RequestContext ctx, SecretIdRequest request, CancellationToken ct)
    {
        var secret = await ResolveAuthorizedAsync(ctx, Validation.SecretId(request.SecretId), "secretsmanager:GetResourcePolicy", null, ct).ConfigureAwait(false);
        return new GetResourcePolicyResult { ARN = secret.Arn, Name = secret.Name, ResourcePolicy = secret.ResourcePolicy };
    }

    public Task<SecretIdentityResult> DeleteResourcePolicyAsync(RequestContext ctx, SecretIdRequest request, CancellationToken ct)
    {
        var secretId = Validation.SecretId(request.SecretId);
        return WriteAsync(tx =>
        {
            var secret = ResolveForWrite(tx, ctx, secretId, "secretsmanager:DeleteResourcePolicy");
            if (secret.ResourcePolicy is not null)
            {
                secret.ResourcePolicy = null;
                secret.LastChangedDate = Now();
                tx.UpdateSecret(secret);
            }
            return new SecretIdentityResult { ARN = secret.Arn, Name = secret.Name };
        }, r => r.ARN, ct);
    }

    /// <summary>
    /// Syntax problems are MalformedPolicyDocumentException (as PutResourcePolicy answers); a policy that parses
    /// but grants public access fails the check named PUBLIC_ACCESS_CHECK.
    /// </summary>
    public async Task<ValidateResourcePolicyResult> ValidateResourcePolicyAsync(RequestContext ctx, ValidateResourcePolicyRequest request, CancellationToken ct)
    {
        var policy = CheckPolicyText(request.ResourcePolicy);
        Secret? secret = null;
        if (request.SecretId is not null)
        {
            Validation.SecretId(request.SecretId);
            secret = await ResolveAuthorizedAsync(ctx, request.SecretId, "secretsmanager:ValidateResourcePolicy", null, ct).ConfigureAwait(false);
            // Spec §8: validating a secret's policy needs PutResourcePolicy on it as well.
            Authorize(ctx, "secretsmanager:PutResourcePolicy", secret, request.SecretId);
        }
        else Authorize(ctx, "secretsmanager:ValidateResourcePolicy");
        var document = Policy.Parse(policy, PolicyKind.Resource, "resource policy");
        var errors = new List<ValidationErrorsEntry>();
        if (document.GrantsPublicAccess())
            errors.Add(new ValidationErrorsEntry("PUBLIC_ACCESS_CHECK",
                "The policy grants access to every principal (\"*\") without a condition that narrows it."));
        errors.AddRange(Findings(ctx, document, secret));
        return new ValidateResourcePolicyResult { PolicyValidationPassed = errors.Count == 0, ValidationErrors = errors };
    }

    /// <summary>
    /// Findings beyond public access: principals that name no user or role of this account, and (with a
    /// SecretId) statements whose Resource can never match the secret.
    /// </summary>
    private IEnumerable<ValidationErrorsEntry> Findings(RequestContext ctx, Policy document, Secret? secret)
    {
        foreach (var s in document.Statements)
        {
            if (secret is not null && !s.MatchesResource(secret.Arn, new ConditionValues()) && !s.NotResource)
                yield return new ValidationErrorsEntry("RESOURCE_CHECK",
                    $"{s} has a Resource that does not match this secret ({secret.Arn}); it has no effect in this secret's policy.");
        }
        if (Access is null) yield break;
        foreach (var arn in PrincipalArns(document))
        {
            var name = arn[(arn.LastIndexOf('/') + 1)..];
            var known = arn.Contains(":user/", StringComparison.Ordinal) ? Access.Directory.FindUser(name)?.Arn == arn || name == Principals.AccessKeyService.AdministratorName
                : arn.Contains(":role/", StringComparison.Ordinal) ? Access.Directory.FindRole(name)?.Arn == arn
                : true;
            if (!known && arn.Contains($"::{AccountId}:", StringComparison.Ordinal))
                yield return new ValidationErrorsEntry("PRINCIPAL_CHECK", $"The principal {arn} does not exist in account {AccountId}.");
        }
        _ = ctx;
    }

    private static IEnumerable<string> PrincipalArns(Policy document) =>
        document.Statements.SelectMany(s => s.PrincipalArns).Distinct(StringComparer.Ordinal);

    private static string CheckPolicyText(string? policy)
    {
        if (string.IsNullOrEmpty(policy)) throw ServiceException.InvalidParameter("You must provide a ResourcePolicy.");
        Validation.Length(policy, "resourcePolicy", 1, 20_480);
        return policy;
    }

    private static List<Tag> Deduplicate(List<Tag> tags)
    {
        var result = new List<Tag>();
        foreach (var tag in tags)
        {
            var i = result.FindIndex(t => t.Key == tag.Key);
            if (i >= 0) result[i] = tag; else result.Add(tag);
        }
        return result;
    }
}
