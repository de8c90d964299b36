using System.Data.Common;
using Coffer.Core;
using Coffer.Core.Rotation;
using Coffer.Core.Secrets;

namespace Coffer.Rotation.Database;

/// <summary>The two strategies of AWS's database templates (spec §4.6).</summary>
internal enum RotationStrategy
{
    /// <summary>The user changes its own password; the old one stops working at setSecret.</summary>
    SingleUser,
    /// <summary>Two users (NAME and NAME_clone) take turns; a superuser secret (masterarn) sets the passwords.</summary>
    AlternatingUsers,
}

/// <summary>
/// A built-in rotation function for one database engine and strategy, following the AWS templates step by step
/// (spec §4.2, §4.6). It acts on secrets through <see cref="SecretService"/> as the rotation principal, like a
/// Lambda calling the API. Guarantees:
/// - createSecret stores the new password durably (PutSecretValue into the AWSPENDING version) before setSecret
///   touches the database;
/// - setSecret first tries the pending credentials, so a crash after the database changed is detected and the
///   change is not repeated;
/// - the target (host, port, dbname, engine; and for single user the user name) of AWSPENDING must equal
///   AWSCURRENT's, so a rewritten pending value cannot redirect the rotation ("target changed").
/// </summary>
internal sealed class DatabaseRotator(SecretService secrets, ITargetDatabase database, RotationStrategy strategy, DatabaseRotatorOptions options)
    : IRotationFunction
{
    private const string CloneSuffix = "_clone";

    public async Task InvokeAsync(RotationEvent e, CancellationToken ct)
    {
        if (!SecretArn.TryParse(e.SecretId, out var region, out _, out _))
            throw new RotationStepException(RotationFailureKind.Permanent, "SecretId is not a secret ARN");
        var ctx = secrets.RotationContext(region);
        var describe = await secrets.DescribeSecretAsync(ctx, new DescribeSecretRequest { SecretId = e.SecretId }, ct).ConfigureAwait(false);
        if (describe.RotationEnabled == false)
            throw new RotationStepException(RotationFailureKind.Permanent, "rotation is not enabled for the secret");
        var stages = describe.VersionIdsToStages ?? [];
        if (!stages.TryGetValue(e.ClientRequestToken, out var labels))
            throw new RotationStepException(RotationFailureKind.Permanent, "the version has no stage for rotation");
        if (labels.Contains(StagingLabels.Current)) return; // already finished (spec §4.2 guard 3)
        if (!labels.Contains(StagingLabels.Pending))
            throw new RotationStepException(RotationFailureKind.Permanent, "the version is not AWSPENDING");

        switch (e.Step)
        {
            case RotationSteps.CreateSecret: await CreateAsync(ctx, e, ct).ConfigureAwait(false); break;
            case RotationSteps.SetSecret: await SetAsync(ctx, e, ct).ConfigureAwait(false); break;
            case RotationSteps.TestSecret: await TestAsync(ctx, e, ct).ConfigureAwait(false); break;
            case RotationSteps.FinishSecret: await FinishAsync(ctx, e, describe, ct).ConfigureAwait(false); break;
            default: throw new RotationStepException(RotationFailureKind.Permanent, "unknown step");
        }
    }

    private async Task CreateAsync(RequestContext ctx, RotationEvent e, CancellationToken ct)
    {
        var current = await ReadAsync(ctx, e.SecretId, null, StagingLabels.Current, "AWSCURRENT", ct).ConfigureAwait(false);
        try
        {
            await secrets.GetSecretValueAsync(ctx, new GetSecretValueRequest
            { SecretId = e.SecretId, VersionId = e.ClientRequestToken, VersionStage = StagingLabels.Pending }, ct).ConfigureAwait(false);
            return; // the pending value exists: an earlier run of this step stored it
        }
        catch (ServiceException x) when (x.Code == "ResourceNotFoundException") { }

        var username = current.Username;
        if (strategy == RotationStrategy.AlternatingUsers)
        {
            username = Alternate(current.Username);
            if (username.Length > database.MaxUserNameLength)
                throw new RotationStepException(RotationFailureKind.Permanent,
                    $"the alternate user name would be longer than {database.MaxUserNameLength} characters");
        }
        var password = secrets.GetRandomPassword(new GetRandomPasswordRequest
        {
            PasswordLength = options.PasswordLength,
            ExcludeCharacters = options.ExcludeCharacters,
        }).RandomPassword;
        FaultPoints.Hit(FaultPoints.CreateBeforePutPending);
        await secrets.PutSecretValueAsync(ctx, new PutSecretValueRequest
        {
            SecretId = e.SecretId,
            ClientRequestToken = e.ClientRequestToken,
            SecretString = current.With(username, password),
            VersionStages = [StagingLabels.Pending],
            RotationToken = e.RotationToken,
        }, ct).ConfigureAwait(false);
        FaultPoints.Hit(FaultPoints.CreateAfterPutPending);
    }

    private async Task SetAsync(RequestContext ctx, RotationEvent e, CancellationToken ct)
    {
        var pending = await ReadAsync(ctx, e.SecretId, e.ClientRequestToken, StagingLabels.Pending, "AWSPENDING", ct).ConfigureAwait(false);
        var current = await ReadAsync(ctx, e.SecretId, null, StagingLabels.Current, "AWSCURRENT", ct).ConfigureAwait(false);
        if (!pending.SameTarget(current, database.DefaultPort))
            throw new RotationStepException(RotationFailureKind.Permanent, "target changed: AWSPENDING names another database than AWSCURRENT");

        // A crash after the database changed and before the step was recorded: the pending password already works.
        if (await TryLoginAsync(Login(pending), ct).ConfigureAwait(false)) return;

        if (strategy == RotationStrategy.SingleUser)
        {
            if (pending.Username != current.Username)
                throw new RotationStepException(RotationFailureKind.Permanent, "target changed: AWSPENDING names another user than AWSCURRENT");
            DbConnection? connection = null;
            try
            {
                try { connection = await OpenAsync(Login(current), ct).ConfigureAwait(false); }
                catch (LoginRefusedException)
                {
                    // An earlier attempt may have changed the password and then lost the labels: try AWSPREVIOUS.
                    var previous = await TryReadAsync(ctx, e.SecretId, StagingLabels.Previous, ct).ConfigureAwait(false);
                    if (previous is null || previous.Username != current.Username || !previous.SameTarget(current, database.DefaultPort))
                        throw new RotationStepException(RotationFailureKind.Transient, "the database refused the AWSCURRENT login");
                    try { connection = await OpenAsync(Login(previous), ct).ConfigureAwait(false); }
                    catch (LoginRefusedException)
                    {
                        throw new RotationStepException(RotationFailureKind.Transient, "the database refused the AWSCURRENT and AWSPREVIOUS logins");
                    }
                }
                FaultPoints.Hit(FaultPoints.SetBeforeTargetChange);
                await database.SetOwnPasswordAsync(connection, pending.Username, pending.Password, ct).ConfigureAwait(false);
                FaultPoints.Hit(FaultPoints.SetAfterTargetChange);
            }
            finally
            {
                if (connection is not null) await connection.DisposeAsync().ConfigureAwait(false);
            }
            return;
        }

        if (pending.Username != Alternate(current.Username))
            throw new RotationStepException(RotationFailureKind.Permanent, "target changed: AWSPENDING's user is not the alternate of AWSCURRENT's");
        // Confused-deputy protection (AWS template): the caller must hold working current credentials.
        try { await using var _ = (await OpenAsync(Login(current), ct).ConfigureAwait(false)).ConfigureAwait(false); }
        catch (LoginRefusedException)
        {
            throw new RotationStepException(RotationFailureKind.Transient, "the database refused the AWSCURRENT login");
        }
        var masterArn = current.MasterArn
            ?? throw new RotationStepException(RotationFailureKind.Permanent, "the secret has no \"masterarn\" (superuser secret) for alternating users");
        if (pending.MasterArn != masterArn)
            throw new RotationStepException(RotationFailureKind.Permanent, "target changed: AWSPENDING names another superuser secret");
        DatabaseSecret master;
        try
        {
            var value = await secrets.GetSecretValueAsync(ctx, new GetSecretValueRequest { SecretId = masterArn }, ct).ConfigureAwait(false);
            master = DatabaseSecret.Parse(value.SecretString, "superuser secret's");
        }
        catch (ServiceException x)
        {
            throw new RotationStepException(RotationFailureKind.Permanent, $"the superuser secret could not be read ({x.Code})");
        }
        if (!string.Equals(master.Host, current.Host, StringComparison.OrdinalIgnoreCase) || master.Port(database.DefaultPort) != current.Port(database.DefaultPort))
            throw new RotationStepException(RotationFailureKind.Permanent, "target changed: the superuser secret names another database server");
        DbConnection admin;
        try { admin = await OpenAsync(Login(master, current.DbName), ct).ConfigureAwait(false); }
        catch (LoginRefusedException)
        {
            throw new RotationStepException(RotationFailureKind.Transient, "the database refused the superuser login");
        }
        await using (admin.ConfigureAwait(false))
        {
            FaultPoints.Hit(FaultPoints.SetBeforeTargetChange);
            var created = await database.EnsureUserAsync(admin, pending.Username, current.Username, pending.Password, ct).ConfigureAwait(false);
            if (created) FaultPoints.Hit(FaultPoints.AlternatingAfterCreateCloneUser);
            FaultPoints.Hit(FaultPoints.SetAfterTargetChange);
        }
    }

    private async Task TestAsync(RequestContext ctx, RotationEvent e, CancellationToken ct)
    {
        var pending = await ReadAsync(ctx, e.SecretId, e.ClientRequestToken, StagingLabels.Pending, "AWSPENDING", ct).ConfigureAwait(false);
        DbConnection connection;
        try { connection = await OpenAsync(Login(pending), ct).ConfigureAwait(false); }
        catch (LoginRefusedException)
        {
            throw new RotationStepException(RotationFailureKind.Transient, "the database refused the AWSPENDING login");
        }
        await using (connection.ConfigureAwait(false))
        {
            FaultPoints.Hit(FaultPoints.TestAfterLogin);
            await database.CheckAsync(connection, ct).ConfigureAwait(false);
        }
    }

    private async Task FinishAsync(RequestContext ctx, RotationEvent e, DescribeSecretResult describe, CancellationToken ct)
    {
        var current = describe.VersionIdsToStages!.FirstOrDefault(p => p.Value.Contains(StagingLabels.Current)).Key;
        if (current == e.ClientRequestToken) return;
        FaultPoints.Hit(FaultPoints.FinishBeforeLabelMove);
        await secrets.UpdateSecretVersionStageAsync(ctx, new UpdateSecretVersionStageRequest
        {
            SecretId = e.SecretId,
            VersionStage = StagingLabels.Current,
            MoveToVersionId = e.ClientRequestToken,
            RemoveFromVersionId = current,
        }, ct).ConfigureAwait(false);
        FaultPoints.Hit(FaultPoints.FinishAfterLabelMove);
    }

    // ---- helpers ----

    /// <summary>Connects to the checked address of the login's host (<see cref="TargetGuard"/>).</summary>
    private async Task<DbConnection> OpenAsync(DatabaseLogin login, CancellationToken ct)
    {
        var address = await TargetGuard.ResolveAsync(login.Host, ct).ConfigureAwait(false);
        // VerifyFull checks the certificate against the host name, so it keeps the name (and its own lookup).
        var target = options.Tls == DatabaseTls.VerifyFull ? login : login with { Host = address };
        return await database.OpenAsync(target, ct).ConfigureAwait(false);
    }

    internal static string Alternate(string username) =>
        username.EndsWith(CloneSuffix, StringComparison.Ordinal) ? username[..^CloneSuffix.Length] : username + CloneSuffix;

    private DatabaseLogin Login(DatabaseSecret s, string? dbName = null) =>
        new(s.Host, s.Port(database.DefaultPort), dbName ?? s.DbName ?? database.DefaultDatabase, s.Username, s.Password);

    private async Task<bool> TryLoginAsync(DatabaseLogin login, CancellationToken ct)
    {
        try
        {
            await using var connection = (await OpenAsync(login, ct).ConfigureAwait(false)).ConfigureAwait(false);
            return true;
        }
        catch (LoginRefusedException) { return false; }
    }

    private async Task<DatabaseSecret> ReadAsync(RequestContext ctx, string arn, string? versionId, string stage, string which, CancellationToken ct)
    {
        try
        {
            var value = await secrets.GetSecretValueAsync(ctx, new GetSecretValueRequest { SecretId = arn, VersionId = versionId, VersionStage = stage }, ct).ConfigureAwait(false);
            return DatabaseSecret.Parse(value.SecretString, which);
        }
        catch (ServiceException x)
        {
            throw new RotationStepException(RotationFailureKind.Permanent, $"the {which} value could not be read ({x.Code})");
        }
    }

    private async Task<DatabaseSecret?> TryReadAsync(RequestContext ctx, string arn, string stage, CancellationToken ct)
    {
        try
        {
            var value = await secrets.GetSecretValueAsync(ctx, new GetSecretValueRequest { SecretId = arn, VersionStage = stage }, ct).ConfigureAwait(false);
            return DatabaseSecret.Parse(value.SecretString, stage);
        }
        catch (Exception x) when (x is ServiceException or RotationStepException) { return null; }
    }
}
