using Coffer.Core.Policies;
using Coffer.Core.Principals;
using Coffer.Core.Secrets;
using Coffer.Crypto;
using Coffer.Storage.Sqlite;

namespace Coffer.Core.Tests.Principals;

/// <summary>
/// IAM changes on the secret change feed (IamService.AnnounceChangesTo): every committed change that can move an
/// authorization decision tells readers to re-check every secret, after the evaluator already sees it.
/// </summary>
public sealed class IamChangeFeedTests : IAsyncLifetime
{
    private const string Account = "111111111111";
    private const string SecretArn = $"arn:aws:secretsmanager:us-east-1:{Account}:secret:app-AbCdEf";
    private readonly string _dir = Directory.CreateTempSubdirectory("coffer-iamfeed-").FullName;
    private readonly ManualTime _time = new(new DateTimeOffset(2026, 3, 1, 12, 0, 0, TimeSpan.Zero));
    private readonly EnvelopeCipher _cipher = new(MasterKey.Generate());
    private readonly SecretChangeFeed _feed = new();
    private SqliteStore _store = null!;
    private AccessControl _access = null!;
    private IamService _iam = null!;

    private static readonly Principal Admin = new($"arn:aws:iam::{Account}:user/coffer-admin", Account, "AIDAADMIN", "coffer-admin", "AKIAADMIN", true);
    private static readonly RequestContext AsAdmin = new(Admin, "us-east-1", "req", "10.0.0.1");

    public async Task InitializeAsync()
    {
        _store = SqliteStore.Open(Path.Combine(_dir, "coffer.db"));
        var directory = await IamDirectory.LoadAsync(_store, Account, _time, default);
        _access = new AccessControl(directory, _time);
        var sessions = new SessionTokens(_cipher, _time);
        var keys = new AccessKeyService(_store, _cipher, Account, _time) { Sessions = sessions };
        _iam = new IamService(directory, _access, keys, _store, sessions);
        _iam.AnnounceChangesTo(_feed);
    }

    public async Task DisposeAsync()
    {
        await _store.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    private static string Doc(string statements) => $$"""{"Version":"2012-10-17","Statement":[{{statements}}]}""";
    private const string AllowRead = """{"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"*"}""";

    private bool MayRead(IamUser u) =>
        _access.Evaluate(new RequestContext(new Principal(u.Arn, Account, u.UserId, u.UserName, "AKIAUSER", false), "us-east-1", "req", null),
            "secretsmanager:GetSecretValue", SecretArn).IsAllowed;

    /// <summary>Runs <paramref name="change"/> and returns what a reader positioned just before it hears.</summary>
    private async Task<ChangeBatch> Announced(Func<Task> change)
    {
        var before = _feed.LastSequence;
        await change();
        return await _feed.ReadAsync(before, TimeSpan.Zero, default);
    }

    private async Task AssertAnnounced(string what, Func<Task> change)
    {
        var batch = await Announced(change);
        Assert.True(batch.Reset && batch.IamChanged, $"{what} was not announced as an IAM change");
    }

    [Fact]
    public async Task Every_kind_of_revocation_is_announced()
    {
        var user = await _iam.CreateUserAsync(AsAdmin, "agent", null, null, default);
        var policy = await _iam.CreatePolicyAsync(AsAdmin, "read", null, Doc(AllowRead), null, default);
        var boundary = await _iam.CreatePolicyAsync(AsAdmin, "nothing", null, Doc("""{"Effect":"Allow","Action":"iam:GetUser","Resource":"*"}"""), null, default);
        await _iam.CreateGroupAsync(AsAdmin, "readers", null, default);
        var trust = Doc($$"""{"Effect":"Allow","Principal":{"AWS":"{{Account}}"},"Action":"sts:AssumeRole"}""");
        await _iam.CreateRoleAsync(AsAdmin, "app", null, trust, null, null, null, default);
        var (key, _) = await _iam.CreateAccessKeyAsync(AsAdmin, "agent", default);

        await AssertAnnounced("AttachUserPolicy", () => _iam.AttachPolicyAsync(AsAdmin, "user", "agent", policy.Arn, default));
        await AssertAnnounced("DetachUserPolicy", () => _iam.DetachPolicyAsync(AsAdmin, "user", "agent", policy.Arn, default));
        await AssertAnnounced("PutUserPolicy (a Deny)", () => _iam.PutInlinePolicyAsync(AsAdmin, "user", "agent", "deny",
            Doc("""{"Effect":"Deny","Action":"*","Resource":"*"}"""), default));
        await AssertAnnounced("DeleteUserPolicy", () => _iam.DeleteInlinePolicyAsync(AsAdmin, "user", "agent", "deny", default));
        await AssertAnnounced("AddUserToGroup", () => _iam.AddUserToGroupAsync(AsAdmin, "readers", "agent", default));
        await AssertAnnounced("RemoveUserFromGroup", () => _iam.RemoveUserFromGroupAsync(AsAdmin, "readers", "agent", default));
        await AssertAnnounced("PutUserPermissionsBoundary", () => _iam.PutPermissionsBoundaryAsync(AsAdmin, "user", "agent", boundary.Arn, default));
        await AssertAnnounced("DeleteUserPermissionsBoundary", () => _iam.DeletePermissionsBoundaryAsync(AsAdmin, "user", "agent", default));
        var v2 = await _iam.CreatePolicyVersionAsync(AsAdmin, policy.Arn, Doc("""{"Effect":"Allow","Action":"iam:GetUser","Resource":"*"}"""), false, default);
        await AssertAnnounced("SetDefaultPolicyVersion", () => _iam.SetDefaultPolicyVersionAsync(AsAdmin, policy.Arn, v2.VersionId, default));
        await AssertAnnounced("TagUser (aws:PrincipalTag)", () => _iam.TagAsync(AsAdmin, "user", "agent", [new("team", "web")], default));
        await AssertAnnounced("UpdateAssumeRolePolicy", () => _iam.UpdateAssumeRolePolicyAsync(AsAdmin, "app", trust, default));
        await AssertAnnounced("PutRolePolicy (revoke older sessions)", () => _iam.PutInlinePolicyAsync(AsAdmin, "role", "app", "revoke",
            Doc("""{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"DateLessThan":{"aws:TokenIssueTime":"2026-03-01T12:00:00Z"}}}"""), default));
        await AssertAnnounced("UpdateAccessKey Inactive", () => _iam.UpdateAccessKeyAsync(AsAdmin, "agent", key.AccessKeyId, "Inactive", default));
        await AssertAnnounced("DeleteAccessKey", () => _iam.DeleteAccessKeyAsync(AsAdmin, "agent", key.AccessKeyId, default));
        await AssertAnnounced("DeleteRolePolicy", () => _iam.DeleteInlinePolicyAsync(AsAdmin, "role", "app", "revoke", default));
        await AssertAnnounced("DeleteRole", () => _iam.DeleteRoleAsync(AsAdmin, "app", default));
        await AssertAnnounced("DeleteUser", () => _iam.DeleteUserAsync(AsAdmin, user.UserName, default));
    }

    [Fact]
    public async Task Issuing_session_credentials_and_failed_changes_are_not_announced()
    {
        var trust = Doc($$"""{"Effect":"Allow","Principal":{"AWS":"{{Admin.Arn}}"},"Action":"sts:AssumeRole"}""");
        var role = await _iam.CreateRoleAsync(AsAdmin, "app", null, trust, null, null, null, default);
        var position = _feed.LastSequence;
        _iam.AssumeRole(AsAdmin, role.Arn, "s1", 900, null);
        await Assert.ThrowsAsync<ServiceException>(() => _iam.DetachPolicyAsync(AsAdmin, "role", "app", $"arn:aws:iam::{Account}:policy/none", default));
        Assert.Equal(position, _feed.LastSequence);
    }

    [Fact]
    public async Task A_reader_that_re_checks_on_the_notice_is_judged_by_the_new_policies()
    {
        var user = await _iam.CreateUserAsync(AsAdmin, "agent", null, null, default);
        var policy = await _iam.CreatePolicyAsync(AsAdmin, "read", null, Doc(AllowRead), null, default);
        await _iam.AttachPolicyAsync(AsAdmin, "user", "agent", policy.Arn, default);
        Assert.True(MayRead(user)); // compiled and cached for this generation

        var waiting = _feed.ReadAsync(_feed.LastSequence, TimeSpan.FromMinutes(1), default);
        await _iam.DetachPolicyAsync(AsAdmin, "user", "agent", policy.Arn, default);
        var notice = await waiting;
        Assert.True(notice.IamChanged);
        Assert.False(MayRead(user));
    }
}
