using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Coffer.Core.Policies;
using Coffer.Crypto;

namespace Coffer.Core.Functions;

/// <summary>
/// The Lambda API's control plane (docs/functions.md "Deploying functions"): validates every request before the
/// first write, authorises each action with <see cref="AccessControl"/> (the function's resource policy beside the
/// caller's identity policies), seals the deployment package and the environment variables with the envelope
/// cipher (the store sees neither in the clear) and hands invocations to the <see cref="Runner"/>.
/// It is also the <see cref="IFunctionDirectory"/> the rotation engine reads functions from.
/// </summary>
public sealed partial class FunctionService(IFunctionStore store, EnvelopeCipher cipher, string accountId, string defaultRegion, TimeProvider time)
    : IFunctionDirectory
{
    public const string LatestVersion = "$LATEST";
    private static readonly TimeSpan CodeLinkLifetime = TimeSpan.FromMinutes(10);

    private readonly byte[] _linkKey = RandomNumberGenerator.GetBytes(32);
    private readonly ConcurrentDictionary<string, Policy> _policies = new(StringComparer.Ordinal);

    public string AccountId { get; } = accountId;

    /// <summary>The authorizer; null means no access control (tests of the action rules only).</summary>
    public AccessControl? Access { get; init; }

    /// <summary>
    /// Runs invocations; null when this server has no runtime (Invoke then answers ServiceException). Settable
    /// after construction because a runner needs what exists only once the server listens (its own URL).
    /// </summary>
    public IFunctionRunner? Runner { get; set; }

    /// <summary>Called with the failure type of an Event invocation that ran in the background (for the log).</summary>
    public Action<string, Exception>? BackgroundFailure { get; set; }

    public static string ArnOf(string region, string accountId, string name) => $"arn:aws:lambda:{region}:{accountId}:function:{name}";

    // ---- IFunctionDirectory ----------------------------------------------------------------------------------

    /// <inheritdoc />
    /// <remarks>A bare name is looked up in the server's region; only $LATEST exists.</remarks>
    public async Task<StoredFunction?> FindAsync(string functionNameOrArn, CancellationToken ct)
    {
        if (DirectoryId(functionNameOrArn) is not { } id) return null;
        var record = await store.FindFunctionAsync(id.Region ?? defaultRegion, id.Name, withCode: true, ct).ConfigureAwait(false);
        return record is null ? null : Open(record);
    }

    /// <inheritdoc />
    /// <remarks>
    /// One read of the configuration row (no package, nothing decrypted). The SQLite store reads on a pooled reader
    /// connection (WAL), never through the writer thread, so this answers even when called from inside a write.
    /// </remarks>
    public async Task<bool> ExistsAsync(string functionNameOrArn, CancellationToken ct)
    {
        if (DirectoryId(functionNameOrArn) is not { } id) return false;
        return await store.FindFunctionAsync(id.Region ?? defaultRegion, id.Name, withCode: false, ct).ConfigureAwait(false) is not null;
    }

    /// <summary>The function a directory lookup names, or null when it cannot name one of this server's $LATEST functions.</summary>
    private FunctionId? DirectoryId(string functionNameOrArn)
    {
        FunctionId id;
        try { id = FunctionValidation.FunctionName(functionNameOrArn); }
        catch (ServiceException) { return null; }
        return !FunctionValidation.IsLatest(id.Qualifier) || (id.AccountId is not null && id.AccountId != AccountId) ? null : id;
    }

    // ---- actions ----------------------------------------------------------------------------------------------

    public async Task<FunctionConfiguration> CreateFunctionAsync(RequestContext ctx, CreateFunctionRequest request, CancellationToken ct)
    {
        var id = FunctionValidation.FunctionName(request.FunctionName);
        var region = RegionOf(ctx, id);
        var arn = ArnOf(region, id.AccountId ?? AccountId, id.Name);
        Authorize(ctx, "lambda:CreateFunction", arn, null);
        if (id.AccountId is not null && id.AccountId != AccountId)
            throw FunctionErrors.InvalidParameter($"Functions can be created only in this server's account ({AccountId}).");
        if (id.Qualifier is not null)
            throw FunctionErrors.InvalidParameter("Qualifiers are not allowed in the function name of CreateFunction.");
        FunctionValidation.PackageType(request.PackageType, request.Architectures);
        var runtime = FunctionValidation.Runtime(request.Runtime);
        var handler = FunctionValidation.Handler(request.Handler, runtime);
        var role = FunctionValidation.RoleArn(request.Role);
        var timeout = FunctionValidation.Timeout(request.Timeout, FunctionLimits.DefaultTimeout);
        var memory = FunctionValidation.MemorySize(request.MemorySize, FunctionLimits.DefaultMemorySize);
        var description = FunctionValidation.Description(request.Description);
        var environment = FunctionValidation.Environment(request.Environment);
        var zip = FunctionValidation.ZipFile(request.ZipFile, request.CodeFromElsewhere, "CreateFunction");
        CheckRole(ctx, role);

        var sha = Sha256(zip);
        var doc = new FunctionDocument
        {
            Runtime = runtime, Handler = handler, Role = role, Timeout = timeout, MemorySize = memory, Description = description ?? "",
            CodeSha256 = sha, CodeSize = zip.Length, LastModified = Now(),
        };
        var record = new FunctionRecord(region, id.Name, arn, NewRevision(), Serialize(doc), SealEnvironment(arn, environment), SealCode(arn, sha, zip));
        if (!await store.InsertFunctionAsync(record, ct).ConfigureAwait(false))
            throw FunctionErrors.Conflict($"Function already exist: {id.Name}");
        return Configuration(record, doc, environment);
    }

    public async Task<GetFunctionResult> GetFunctionAsync(RequestContext ctx, FunctionRef request, CancellationToken ct)
    {
        var (record, doc) = await ResolveAsync(ctx, request.FunctionName, request.Qualifier, "lambda:GetFunction", ct).ConfigureAwait(false);
        return new GetFunctionResult(Configuration(record, doc, OpenEnvironment(record)), CodeToken(record.Region, record.Name, doc.CodeSha256));
    }

    public async Task<FunctionConfiguration> GetFunctionConfigurationAsync(RequestContext ctx, FunctionRef request, CancellationToken ct)
    {
        var (record, doc) = await ResolveAsync(ctx, request.FunctionName, request.Qualifier, "lambda:GetFunctionConfiguration", ct).ConfigureAwait(false);
        return Configuration(record, doc, OpenEnvironment(record));
    }

    public async Task<ListFunctionsResult> ListFunctionsAsync(RequestContext ctx, ListFunctionsRequest request, CancellationToken ct)
    {
        Authorize(ctx, "lambda:ListFunctions", "*", null);
        var max = request.MaxItems ?? FunctionLimits.MaxListItems;
        if (max < 1)
            throw FunctionErrors.Validation(max.ToString(System.Globalization.CultureInfo.InvariantCulture), "maxItems", "Member must have value greater than or equal to 1");
        if (max > 10_000)
            throw FunctionErrors.Validation(max.ToString(System.Globalization.CultureInfo.InvariantCulture), "maxItems", "Member must have value less than or equal to 10000");
        // AWS returns at most 50 per page whatever MaxItems asks.
        max = Math.Min(max, FunctionLimits.MaxListItems);
        string? after = null;
        if (!string.IsNullOrEmpty(request.Marker))
        {
            try { after = Encoding.UTF8.GetString(Base64Url(request.Marker)); }
            catch (FormatException) { throw FunctionErrors.InvalidParameter("The marker is not valid."); }
        }
        var records = await store.ListFunctionsAsync(ctx.Region, after, max + 1, ct).ConfigureAwait(false);
        var page = records.Take(max).Select(r => Configuration(r, Deserialize(r), OpenEnvironment(r))).ToList();
        var next = records.Count > max ? Convert.ToBase64String(Encoding.UTF8.GetBytes(page[^1].FunctionName)).TrimEnd('=').Replace('+', '-').Replace('/', '_') : null;
        return new ListFunctionsResult(page, next);
    }

    public async Task<FunctionConfiguration> UpdateFunctionCodeAsync(RequestContext ctx, UpdateFunctionCodeRequest request, CancellationToken ct)
    {
        var (record, doc) = await ResolveAsync(ctx, request.FunctionName, null, "lambda:UpdateFunctionCode", ct).ConfigureAwait(false);
        FunctionValidation.PackageType(null, request.Architectures);
        var zip = FunctionValidation.ZipFile(request.ZipFile, request.CodeFromElsewhere, "UpdateFunctionCode");
        CheckRevision(request.RevisionId, record);
        var sha = Sha256(zip);
        var environment = OpenEnvironment(record);
        if (request.DryRun)
        {
            var preview = Copy(doc);
            preview.CodeSha256 = sha;
            preview.CodeSize = zip.Length;
            return Configuration(record, preview, environment);
        }
        var updated = Copy(doc);
        updated.CodeSha256 = sha;
        updated.CodeSize = zip.Length;
        updated.LastModified = Now();
        var next = record with { RevisionId = NewRevision(), Document = Serialize(updated), CodeBlob = SealCode(record.Arn, sha, zip) };
        await ReplaceAsync(next, record, ct).ConfigureAwait(false);
        return Configuration(next, updated, environment);
    }

    public async Task<FunctionConfiguration> UpdateFunctionConfigurationAsync(RequestContext ctx, UpdateFunctionConfigurationRequest request, CancellationToken ct)
    {
        var (record, doc) = await ResolveAsync(ctx, request.FunctionName, null, "lambda:UpdateFunctionConfiguration", ct).ConfigureAwait(false);
        var updated = Copy(doc);
        if (request.Runtime is not null) updated.Runtime = FunctionValidation.Runtime(request.Runtime);
        if (request.Handler is not null) updated.Handler = FunctionValidation.Handler(request.Handler, updated.Runtime);
        updated.Timeout = FunctionValidation.Timeout(request.Timeout, doc.Timeout);
        updated.MemorySize = FunctionValidation.MemorySize(request.MemorySize, doc.MemorySize);
        if (request.Description is not null) updated.Description = FunctionValidation.Description(request.Description);
        var environment = request.Environment is null ? OpenEnvironment(record) : FunctionValidation.Environment(request.Environment);
        if (request.Role is not null)
        {
            updated.Role = FunctionValidation.RoleArn(request.Role);
            CheckRole(ctx, updated.Role);
        }
        CheckRevision(request.RevisionId, record);
        updated.LastModified = Now();
        var next = record with
        {
            RevisionId = NewRevision(),
            Document = Serialize(updated),
            EnvironmentBlob = request.Environment is null ? record.EnvironmentBlob : SealEnvironment(record.Arn, environment),
            CodeBlob = null,
        };
        await ReplaceAsync(next, record, ct).ConfigureAwait(false);
        return Configuration(next, updated, environment);
    }

    public async Task DeleteFunctionAsync(RequestContext ctx, FunctionRef request, CancellationToken ct)
    {
        var (record, _) = await ResolveAsync(ctx, request.FunctionName, request.Qualifier, "lambda:DeleteFunction", ct).ConfigureAwait(false);
        if (request.Qualifier is not null)
            throw FunctionErrors.InvalidParameter("Coffer keeps only $LATEST; delete the function without a qualifier.");
        if (!await store.DeleteFunctionAsync(record.Region, record.Name, ct).ConfigureAwait(false))
            throw FunctionErrors.NotFound(record.Arn);
    }

    // ---- helpers ----------------------------------------------------------------------------------------------

    private string RegionOf(RequestContext ctx, FunctionId id) => id.Region ?? ctx.Region;

    /// <summary>
    /// Reads the function named by the request and authorises the action on it; a caller that may not act on a
    /// missing function hears AccessDenied, not ResourceNotFound, so names do not leak.
    /// </summary>
    private async Task<(FunctionRecord Record, FunctionDocument Doc)> ResolveAsync(RequestContext ctx, string? functionName, string? qualifier,
        string action, CancellationToken ct, bool withCode = false)
    {
        var id = FunctionValidation.FunctionName(functionName);
        var region = RegionOf(ctx, id);
        var arn = ArnOf(region, id.AccountId ?? AccountId, id.Name);
        var q = qualifier ?? id.Qualifier;
        if (qualifier is not null && id.Qualifier is not null && qualifier != id.Qualifier)
            throw FunctionErrors.InvalidParameter("The derived qualifier from the function name does not match the specified qualifier.");
        var record = id.AccountId is not null && id.AccountId != AccountId ? null
            : await store.FindFunctionAsync(region, id.Name, withCode, ct).ConfigureAwait(false);
        var doc = record is null ? null : Deserialize(record);
        Authorize(ctx, action, arn, doc);
        if (record is null || doc is null) throw FunctionErrors.NotFound(arn);
        if (!FunctionValidation.IsLatest(q)) throw FunctionErrors.NotFound(arn + ":" + q);
        return (record, doc);
    }

    /// <summary>
    /// Throws AccessDeniedException unless the caller may perform the action on the function. The bootstrap
    /// administrator cannot lock itself out of a function's policy.
    /// </summary>
    private void Authorize(RequestContext ctx, string action, string resource, FunctionDocument? doc)
    {
        if (Access is null) return;
        var policy = doc is { PolicyStatements.Count: > 0 } ? Compiled(PolicyText(doc.PolicyStatements)) : null;
        var result = Access.Evaluate(ctx, action, resource, null, policy);
        if (result.IsAllowed) return;
        if (ctx.Caller.IsAdministrator && action is "lambda:GetPolicy" or "lambda:AddPermission" or "lambda:RemovePermission") return;
        throw ServiceException.AccessDenied(PolicyEvaluator.DeniedMessage(ctx.Caller.Arn, action, resource, result));
    }

    /// <summary>
    /// The execution role must exist and trust lambda.amazonaws.com, and the caller must be allowed iam:PassRole
    /// on it (AWS's rule: whoever deploys a function hands it the role's permissions).
    /// </summary>
    private void CheckRole(RequestContext ctx, string roleArn)
    {
        if (Access is null) return;
        var name = roleArn[(roleArn.LastIndexOf('/') + 1)..];
        var role = Access.Directory.FindRole(name);
        Access.Demand(ctx, "iam:PassRole", roleArn);
        if (role is null || role.Arn != roleArn || !FunctionValidation.TrustsLambda(role.AssumeRolePolicyDocument))
            throw FunctionErrors.InvalidParameter(FunctionErrors.RoleCannotBeAssumed);
    }

    private static void CheckRevision(string? expected, FunctionRecord record)
    {
        if (expected is not null && expected != record.RevisionId) throw FunctionErrors.PreconditionFailed();
    }

    /// <summary>Compare-and-swap on the revision: a concurrent change in between answers ResourceConflictException.</summary>
    private async Task ReplaceAsync(FunctionRecord next, FunctionRecord current, CancellationToken ct)
    {
        if (await store.ReplaceFunctionAsync(next, current.RevisionId, ct).ConfigureAwait(false)) return;
        var now = await store.FindFunctionAsync(current.Region, current.Name, withCode: false, ct).ConfigureAwait(false);
        if (now is null) throw FunctionErrors.NotFound(current.Arn);
        throw FunctionErrors.Conflict($"The operation cannot be performed at this time. An update is in progress for resource: {current.Arn}");
    }

    private FunctionConfiguration Configuration(FunctionRecord record, FunctionDocument doc, IReadOnlyDictionary<string, string> environment) =>
        new(record.Name, record.Arn, doc.Runtime, doc.Handler, doc.Role, doc.Timeout, doc.MemorySize, environment,
            doc.Description, doc.CodeSha256, doc.CodeSize, record.RevisionId, doc.LastModified);

    private StoredFunction Open(FunctionRecord record)
    {
        var doc = Deserialize(record);
        var zip = cipher.Open(record.CodeBlob!, CodeAad(record.Arn, doc.CodeSha256));
        return new StoredFunction(Configuration(record, doc, OpenEnvironment(record)), zip);
    }

    private byte[]? SealEnvironment(string arn, Dictionary<string, string> environment) =>
        environment.Count == 0 ? null
            : cipher.Seal(JsonSerializer.SerializeToUtf8Bytes(environment, FunctionJsonContext.Default.DictionaryStringString), EnvironmentAad(arn));

    private Dictionary<string, string> OpenEnvironment(FunctionRecord record)
    {
        if (record.EnvironmentBlob is null) return new Dictionary<string, string>(StringComparer.Ordinal);
        var plain = cipher.Open(record.EnvironmentBlob, EnvironmentAad(record.Arn));
        try
        {
            return JsonSerializer.Deserialize(plain, FunctionJsonContext.Default.DictionaryStringString) ?? [];
        }
        finally
        {
            CryptographicOperations.ZeroMemory(plain);
        }
    }

    private byte[] SealCode(string arn, string sha, byte[] zip) => cipher.Seal(zip, CodeAad(arn, sha));

    /// <summary>AAD binds the sealed package to its function and digest: a blob moved to another row fails to open.</summary>
    private static byte[] CodeAad(string arn, string sha) => Encoding.UTF8.GetBytes("lambda-code\n" + arn + "\n" + sha);

    private static byte[] EnvironmentAad(string arn) => Encoding.UTF8.GetBytes("lambda-environment\n" + arn);

    private DateTimeOffset Now()
    {
        var now = time.GetUtcNow();
        return DateTimeOffset.FromUnixTimeMilliseconds(now.ToUnixTimeMilliseconds());
    }

    private static string NewRevision() => Guid.NewGuid().ToString();

    internal static string Sha256(byte[] zip) => Convert.ToBase64String(SHA256.HashData(zip));

    private static string Serialize(FunctionDocument doc) => JsonSerializer.Serialize(doc, FunctionJsonContext.Default.FunctionDocument);

    private static FunctionDocument Deserialize(FunctionRecord record) =>
        JsonSerializer.Deserialize(record.Document, FunctionJsonContext.Default.FunctionDocument)
        ?? throw new InvalidOperationException("A stored function document is empty.");

    private static FunctionDocument Copy(FunctionDocument doc) => new()
    {
        Runtime = doc.Runtime, Handler = doc.Handler, Role = doc.Role, Timeout = doc.Timeout, MemorySize = doc.MemorySize,
        Description = doc.Description, CodeSha256 = doc.CodeSha256, CodeSize = doc.CodeSize, LastModified = doc.LastModified,
        PolicyStatements = [.. doc.PolicyStatements],
    };

    private static byte[] Base64Url(string s)
    {
        var t = s.Replace('-', '+').Replace('_', '/');
        return Convert.FromBase64String(t.PadRight(t.Length + (4 - t.Length % 4) % 4, '='));
    }
}
