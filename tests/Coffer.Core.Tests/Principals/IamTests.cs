using Coffer.Core.Policies;
using Coffer.Core.Principals;
using Coffer.Core.Secrets;
using Coffer.Crypto;
using Coffer.Storage.Sqlite;

namespace Coffer.Core.Tests.Principals;

/// <summary>IAM entities, temporary credentials and enforcement, on a real SQLite file with an injected clock.</summary>
public sealed class IamTests : IAsyncLifetime
{
    private const string Account = "111111111111";
    private readonly string _dir = Directory.CreateTempSubdirectory("coffer-iam-").FullName;
    private readonly ManualTime _time = new(new DateTimeOffset(2026, 3, 1, 12, 0, 0, TimeSpan.Zero));
    private readonly EnvelopeCipher _cipher = new(MasterKey.Generate());
    private SqliteStore _store = null!;
    private IamDirectory _dir2 = null!;
    private AccessControl _access = null!;
    private SessionTokens _sessions = null!;
    private AccessKeyService _keys = null!;
    private IamService _iam = null!;
    private SecretService _secrets = null!;

    private static readonly Principal Admin = new($"arn:aws:iam::{Account}:user/coffer-admin", Account, "AIDAADMIN", "coffer-admin", "AKIAADMIN", true);
    private static RequestContext As(Principal p) => new(p, "us-east-1", "req", "10.0.0.1");

    public async Task InitializeAsync()
    {
        _store = SqliteStore.Open(Path.Combine(_dir, "coffer.db"));
        await Build();
    }

    private async Task Build()
    {
        _dir2 = await IamDirectory.LoadAsync(_store, Account, _time, default);
        _access = new AccessControl(_dir2, _time);
        _sessions = new SessionTokens(_cipher, _time);
        _keys = new AccessKeyService(_store, _cipher, Account, _time) { Sessions = _sessions };
        _iam = new IamService(_dir2, _access, _keys, _store, _sessions);
        _secrets = new SecretService(_store, _cipher, Account, _time, new SecretsOptions()) { Access = _access };
    }

    public async Task DisposeAsync()
    {
        await _store.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    private static string Doc(string statements) => $$"""{"Version":"2012-10-17","Statement":[{{statements}}]}""";

    private Principal UserPrincipal(IamUser u) => new(u.Arn, Account, u.UserId, u.UserName, "AKIAUSER", false);

    [Fact]
    public async Task Entities_survive_a_restart_and_names_ignore_case()
    {
        var ctx = As(Admin);
        await _iam.CreateUserAsync(ctx, "Alice", null, new Dictionary<string, string> { ["team"] = "db" }, default);
        await _iam.CreateGroupAsync(ctx, "readers", null, default);
        await _iam.AddUserToGroupAsync(ctx, "readers", "alice", default);
        var policy = await _iam.CreatePolicyAsync(ctx, "read", null, Doc("""{"Effect":"Allow","Action":"secretsmanager:Get*","Resource":"*"}"""), null, default);
        await _iam.AttachPolicyAsync(ctx, "group", "readers", policy.Arn, default);
        await _iam.CreateRoleAsync(ctx, "app", null, Doc($$"""{"Effect":"Allow","Principal":{"AWS":"{{Account}}"},"Action":"sts:AssumeRole"}"""), null, null, null, default);
        var ex = await Assert.ThrowsAsync<ServiceException>(() => _iam.CreateUserAsync(ctx, "ALICE", null, null, default));
        Assert.Equal("EntityAlreadyExists", ex.Code);

        await Build();   // a fresh directory loaded from the same file
        var alice = _dir2.RequireUser("alice");
        Assert.Equal("Alice", alice.UserName);
        Assert.Equal("db", alice.Tags["team"]);
        Assert.Equal(["readers"], alice.Groups);
        Assert.Equal(policy.Arn, Assert.Single(_dir2.RequireGroup("readers").AttachedPolicies));
        Assert.NotNull(_dir2.FindRole("app"));
        var r = _access.Evaluate(As(UserPrincipal(alice)), "secretsmanager:GetSecretValue", "arn:aws:secretsmanager:us-east-1:111111111111:secret:x");
        Assert.True(r.IsAllowed);
        Assert.Contains(policy.Arn, Assert.Single(r.Statements).PolicySource, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Policy_versions_are_limited_and_the_default_decides()
    {
        var ctx = As(Admin);
        var p = await _iam.CreatePolicyAsync(ctx, "p", null, Doc("""{"Effect":"Allow","Action":"secretsmanager:ListSecrets","Resource":"*"}"""), null, default);
        var u = await _iam.CreateUserAsync(ctx, "u", null, null, default);
        await _iam.AttachPolicyAsync(ctx, "user", "u", p.Arn, default);
        Assert.True(_access.Evaluate(As(UserPrincipal(u)), "secretsmanager:ListSecrets", "*").IsAllowed);
        for (var i = 2; i <= 5; i++)
            await _iam.CreatePolicyVersionAsync(ctx, p.Arn, Doc("""{"Effect":"Deny","Action":"*","Resource":"*"}"""), setAsDefault: i == 5, default);
        Assert.Equal(Decision.ExplicitDeny, _access.Evaluate(As(UserPrincipal(u)), "secretsmanager:ListSecrets", "*").Decision);
        var ex = await Assert.ThrowsAsync<ServiceException>(() => _iam.CreatePolicyVersionAsync(ctx, p.Arn, Doc("""{"Effect":"Deny","Action":"*","Resource":"*"}"""), false, default));
        Assert.Equal("LimitExceeded", ex.Code);
        await _iam.SetDefaultPolicyVersionAsync(ctx, p.Arn, "v1", default);
        Assert.True(_access.Evaluate(As(UserPrincipal(u)), "secretsmanager:ListSecrets", "*").IsAllowed);
    }

    [Fact]
    public async Task Session_tokens_expire_by_the_injected_clock_and_cannot_be_forged()
    {
        var ctx = As(Admin);
        var role = await _iam.CreateRoleAsync(ctx, "app", null, Doc($$"""{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::{{Account}}:root"},"Action":"sts:AssumeRole"}"""), null, null, null, default);
        var assumed = _iam.AssumeRole(ctx, role.Arn, "s1", 900, null);
        Assert.StartsWith("ASIA", assumed.Credentials.AccessKeyId, StringComparison.Ordinal);
        Assert.Equal(_time.GetUtcNow().AddSeconds(900), assumed.Credentials.Expiration);
        var key = _keys.FindSession(assumed.Credentials.AccessKeyId, assumed.Credentials.SessionToken)!;
        Assert.Equal($"arn:aws:sts::{Account}:assumed-role/app/s1", key.Principal.Arn);
        Assert.Equal(role.Arn, key.Principal.RoleArn);
        Assert.Equal(assumed.Credentials.SecretAccessKey, System.Text.Encoding.UTF8.GetString(key.SecretAccessKey));

        // Another key id, a flipped byte, garbage: not ours.
        Assert.Null(_sessions.Open("ASIAAAAAAAAAAAAAAAAA", assumed.Credentials.SessionToken));
        var bytes = Convert.FromBase64String(assumed.Credentials.SessionToken);
        bytes[^5] ^= 1;
        Assert.Null(_sessions.Open(assumed.Credentials.AccessKeyId, Convert.ToBase64String(bytes)));
        Assert.Null(_sessions.Open(assumed.Credentials.AccessKeyId, "not-base64!"));
        // A token sealed under another master key does not open either.
        var foreign = new SessionTokens(new EnvelopeCipher(MasterKey.Generate()), _time).Issue("arn", "id", "n", PrincipalKind.AssumedRole, role.Arn, null, TimeSpan.FromHours(1));
        Assert.Null(_sessions.Open(foreign.Claims.AccessKeyId, foreign.Token));

        _time.Advance(TimeSpan.FromSeconds(899));
        Assert.NotNull(_keys.FindSession(assumed.Credentials.AccessKeyId, assumed.Credentials.SessionToken));
        _time.Advance(TimeSpan.FromSeconds(1));
        var ex = Assert.Throws<ServiceException>(() => _keys.FindSession(assumed.Credentials.AccessKeyId, assumed.Credentials.SessionToken));
        Assert.Equal("ExpiredTokenException", ex.Code);
    }

    [Fact]
    public async Task AssumeRole_checks_trust_duration_and_session_name()
    {
        var ctx = As(Admin);
        var u = await _iam.CreateUserAsync(ctx, "bob", null, null, default);
        var role = await _iam.CreateRoleAsync(ctx, "app", null, Doc($$"""{"Effect":"Allow","Principal":{"AWS":"{{Account}}"},"Action":"sts:AssumeRole"}"""), null, null, null, default);
        // The account is named: bob also needs an identity allow.
        Assert.Equal("AccessDeniedException", Assert.Throws<ServiceException>(() => _iam.AssumeRole(As(UserPrincipal(u)), role.Arn, "s1", null, null)).Code);
        await _iam.PutInlinePolicyAsync(ctx, "user", "bob", "assume", Doc($$"""{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"{{role.Arn}}"}"""), default);
        _iam.AssumeRole(As(UserPrincipal(u)), role.Arn, "s1", null, null);
        foreach (var bad in new[] { 899, 43201, 7200 })   // 7200 > the role's MaxSessionDuration (3600)
            Assert.Equal("ValidationError", Assert.Throws<ServiceException>(() => _iam.AssumeRole(ctx, role.Arn, "s1", bad, null)).Code);
        Assert.Equal("ValidationError", Assert.Throws<ServiceException>(() => _iam.AssumeRole(ctx, role.Arn, "x", null, null)).Code);
        Assert.Equal("AccessDeniedException", Assert.Throws<ServiceException>(() => _iam.AssumeRole(ctx, $"arn:aws:iam::{Account}:role/none", "s1", null, null)).Code);
    }

    [Fact]
    public async Task Trust_policy_conditions_see_the_request_and_sts_keys()
    {
        var ctx = As(Admin);
        var u = await _iam.CreateUserAsync(ctx, "bob", null, null, default);
        var bob = As(UserPrincipal(u));
        var role = await _iam.CreateRoleAsync(ctx, "app", null, Doc($$$"""
            {"Effect":"Allow","Principal":{"AWS":"{{{u.Arn}}}"},"Action":"sts:AssumeRole",
             "Condition":{"StringEquals":{"aws:username":"bob","sts:ExternalId":"ext-1"},"StringLike":{"sts:RoleSessionName":"ci-*"} } }
            """), null, null, null, default);
        Assert.StartsWith("ASIA", _iam.AssumeRole(bob, role.Arn, "ci-1", null, null, externalId: "ext-1").Credentials.AccessKeyId, StringComparison.Ordinal);
        Assert.Equal("AccessDeniedException", Assert.Throws<ServiceException>(() => _iam.AssumeRole(bob, role.Arn, "ci-1", null, null, externalId: "other")).Code);
        Assert.Equal("AccessDeniedException", Assert.Throws<ServiceException>(() => _iam.AssumeRole(bob, role.Arn, "ci-1", null, null)).Code);
        Assert.Equal("AccessDeniedException", Assert.Throws<ServiceException>(() => _iam.AssumeRole(bob, role.Arn, "dev-1", null, null, externalId: "ext-1")).Code);
        Assert.Equal("ValidationError", Assert.Throws<ServiceException>(() => _iam.AssumeRole(bob, role.Arn, "ci-1", null, null, externalId: "x")).Code);

        // A conditional Deny applies when its condition holds (the caller comes from 10.0.0.1).
        await _iam.UpdateAssumeRolePolicyAsync(ctx, "app", Doc($$$"""
            {"Effect":"Allow","Principal":{"AWS":"{{{u.Arn}}}"},"Action":"sts:AssumeRole"},
            {"Effect":"Deny","Principal":{"AWS":"{{{u.Arn}}}"},"Action":"sts:AssumeRole","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"} } }
            """), default);
        Assert.Equal("AccessDeniedException", Assert.Throws<ServiceException>(() => _iam.AssumeRole(bob, role.Arn, "ci-1", null, null)).Code);
    }

    [Fact]
    public async Task Concurrent_CreateAccessKey_keeps_the_quota_and_cannot_outlive_DeleteUser()
    {
        var ctx = As(Admin);
        await _iam.CreateUserAsync(ctx, "racer", null, null, default);
        var created = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(async () =>
        {
            try { await _iam.CreateAccessKeyAsync(ctx, "racer", default); return true; }
            catch (ServiceException e) when (e.Code == "LimitExceeded") { return false; }
        })));
        Assert.Equal(2, created.Count(ok => ok));
        Assert.Equal(2, (await _iam.ListAccessKeysAsync(ctx, "racer", default)).Keys.Count);

        // DeleteUser racing CreateAccessKey: either the key exists and the delete is refused, or the user is gone and
        // no key was made; never a deleted user with a key (which a new user of that name would inherit).
        for (var i = 0; i < 20; i++)
        {
            var name = $"gone{i}";
            await _iam.CreateUserAsync(ctx, name, null, null, default);
            var delete = Task.Run(() => _iam.DeleteUserAsync(ctx, name, default));
            var create = Task.Run(() => _iam.CreateAccessKeyAsync(ctx, name, default));
            try { await delete; } catch (ServiceException e) when (e.Code == "DeleteConflict") { }
            try { await create; } catch (ServiceException e) when (e.Code == "NoSuchEntity") { }
            if (_dir2.FindUser(name) is null) Assert.Empty(await _store.ListAccessKeysAsync(name, default));
        }
    }

    [Fact]
    public async Task Descriptions_and_tags_that_XML_cannot_carry_are_refused_before_any_write()
    {
        var ctx = As(Admin);
        var trust = Doc($$"""{"Effect":"Allow","Principal":{"AWS":"{{Account}}"},"Action":"sts:AssumeRole"}""");
        var policy = Doc("""{"Effect":"Allow","Action":"secretsmanager:ListSecrets","Resource":"*"}""");
        async Task Refused(Func<Task> create) => Assert.Equal("ValidationError", (await Assert.ThrowsAsync<ServiceException>(create)).Code);
        await Refused(() => _iam.CreateRoleAsync(ctx, "r", null, trust, "bad\u0001", null, null, default));
        await Refused(() => _iam.CreateRoleAsync(ctx, "r", null, trust, null, null, new Dictionary<string, string> { ["k"] = "v\u0002" }, default));
        await Refused(() => _iam.CreateUserAsync(ctx, "u", null, new Dictionary<string, string> { ["k\u0003"] = "v" }, default));
        await Refused(() => _iam.CreatePolicyAsync(ctx, "p", null, policy, "x\u0004", default));
        Assert.Empty(_dir2.Roles);
        Assert.Empty(_dir2.Users);
        Assert.Empty(_dir2.Policies);
        // What IAM's patterns allow still goes through: Latin-1 text, tabs and new lines, tag values with spaces.
        await _iam.CreateRoleAsync(ctx, "r", null, trust, "Rôle\tfor\r\nthe app", null, new Dictionary<string, string> { ["team:name"] = "db ops" }, default);
        await _iam.CreatePolicyAsync(ctx, "p", null, policy, "Lecture des secrets", default);
    }

    [Fact]
    public async Task Sessions_issued_before_a_TokenIssueTime_deny_are_revoked()
    {
        var ctx = As(Admin);
        var role = await _iam.CreateRoleAsync(ctx, "app", null, Doc($$"""{"Effect":"Allow","Principal":{"AWS":"{{Account}}"},"Action":"sts:AssumeRole"}"""), null, null, null, default);
        await _iam.PutInlinePolicyAsync(ctx, "role", "app", "read", Doc("""{"Effect":"Allow","Action":"secretsmanager:ListSecrets","Resource":"*"}"""), default);
        Principal Session()
        {
            var c = _iam.AssumeRole(ctx, role.Arn, "s1", null, null).Credentials;
            return _keys.FindSession(c.AccessKeyId, c.SessionToken)!.Principal;
        }
        var old = Session();
        Assert.Equal(_time.GetUtcNow(), old.TokenIssueTime);
        Assert.True(_access.Evaluate(As(old), "secretsmanager:ListSecrets", "*").IsAllowed);

        // AWS's "revoke active sessions": deny everything to sessions issued before now.
        _time.Advance(TimeSpan.FromMinutes(1));
        var cutoff = _time.GetUtcNow().UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture);
        await _iam.PutInlinePolicyAsync(ctx, "role", "app", "AWSRevokeOlderSessions", Doc($$"""
            {"Effect":"Deny","Action":"*","Resource":"*","Condition":{"DateLessThan":{"aws:TokenIssueTime":"{{cutoff}}"} } }
            """), default);
        Assert.Equal(Decision.ExplicitDeny, _access.Evaluate(As(old), "secretsmanager:ListSecrets", "*").Decision);
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.True(_access.Evaluate(As(Session()), "secretsmanager:ListSecrets", "*").IsAllowed);
    }

    [Fact]
    public async Task A_session_of_a_deleted_role_gets_nothing_from_a_new_role_of_the_same_name()
    {
        var ctx = As(Admin);
        var trust = Doc($$"""{"Effect":"Allow","Principal":{"AWS":"{{Account}}"},"Action":"sts:AssumeRole"}""");
        var read = Doc("""{"Effect":"Allow","Action":"secretsmanager:ListSecrets","Resource":"*"}""");
        var role = await _iam.CreateRoleAsync(ctx, "reborn", null, trust, null, null, null, default);
        await _iam.PutInlinePolicyAsync(ctx, "role", "reborn", "read", read, default);
        var c = _iam.AssumeRole(ctx, role.Arn, "s1", null, null).Credentials;
        var old = _keys.FindSession(c.AccessKeyId, c.SessionToken)!.Principal;
        Assert.True(_access.Evaluate(As(old), "secretsmanager:ListSecrets", "*").IsAllowed);

        await _iam.DeleteInlinePolicyAsync(ctx, "role", "reborn", "read", default);
        await _iam.DeleteRoleAsync(ctx, "reborn", default);
        var again = await _iam.CreateRoleAsync(ctx, "reborn", null, trust, null, null, null, default);
        await _iam.PutInlinePolicyAsync(ctx, "role", "reborn", "read", read, default);
        Assert.Equal(role.Arn, again.Arn);
        Assert.NotEqual(role.RoleId, again.RoleId);

        // The old session names the old role's unique id: the new role's policies are not its policies.
        Assert.Equal(Decision.ImplicitDeny, _access.Evaluate(As(old), "secretsmanager:ListSecrets", "*").Decision);
        var fresh = _iam.AssumeRole(ctx, again.Arn, "s2", null, null).Credentials;
        Assert.True(_access.Evaluate(As(_keys.FindSession(fresh.AccessKeyId, fresh.SessionToken)!.Principal), "secretsmanager:ListSecrets", "*").IsAllowed);
    }

    [Fact]
    public async Task Policy_sizes_are_limited_as_IAM_limits_them()
    {
        var ctx = As(Admin);
        // n statements of about 100 non-blank characters each, padded with blanks that do not count.
        static string Big(int statements) => Doc(string.Join(",   \n", Enumerable.Range(0, statements).Select(i =>
            $$"""{"Sid":"S{{i:D4}}","Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"arn:aws:secretsmanager:*:*:secret:a{{i:D4}}-*"}""")));
        var u = await _iam.CreateUserAsync(ctx, "sized", null, null, default);
        await _iam.PutInlinePolicyAsync(ctx, "user", "sized", "one", Big(10), default);
        var e = await Assert.ThrowsAsync<ServiceException>(() => _iam.PutInlinePolicyAsync(ctx, "user", "sized", "two", Big(12), default));
        Assert.Equal("LimitExceeded", e.Code);
        Assert.Equal("Maximum policy size of 2048 bytes exceeded for user sized", e.Message);
        Assert.Equal(["one"], _iam.ListInlinePolicies(ctx, "user", "sized"));
        // Replacing a policy counts its new size, not both.
        await _iam.PutInlinePolicyAsync(ctx, "user", "sized", "one", Big(15), default);

        Assert.Equal("LimitExceeded", (await Assert.ThrowsAsync<ServiceException>(() => _iam.CreatePolicyAsync(ctx, "huge", null, Big(60), null, default))).Code);
        var p = await _iam.CreatePolicyAsync(ctx, "fits", null, Big(45), null, default);
        Assert.Equal("LimitExceeded", (await Assert.ThrowsAsync<ServiceException>(() => _iam.CreatePolicyVersionAsync(ctx, p.Arn, Big(60), false, default))).Code);

        var trust = Doc(string.Join(",", Enumerable.Range(0, 30).Select(i =>
            $$"""{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::{{Account}}:user/u{{i}}"},"Action":"sts:AssumeRole"}""")));
        Assert.Equal("LimitExceeded", (await Assert.ThrowsAsync<ServiceException>(() => _iam.CreateRoleAsync(ctx, "r", null, trust, null, null, null, default))).Code);
        Assert.Empty(_dir2.Roles);
    }

    [Fact]
    public async Task A_user_is_in_at_most_ten_groups()
    {
        var ctx = As(Admin);
        await _iam.CreateUserAsync(ctx, "joiner", null, null, default);
        for (var i = 0; i < 11; i++) await _iam.CreateGroupAsync(ctx, $"g{i}", null, default);
        for (var i = 0; i < 10; i++) await _iam.AddUserToGroupAsync(ctx, $"g{i}", "joiner", default);
        await _iam.AddUserToGroupAsync(ctx, "g3", "joiner", default);   // already a member: no change, no error
        var e = await Assert.ThrowsAsync<ServiceException>(() => _iam.AddUserToGroupAsync(ctx, "g10", "joiner", default));
        Assert.Equal(("LimitExceeded", "Cannot exceed quota for GroupsPerUser: 10"), (e.Code, e.Message));
        Assert.Equal(10, _iam.ListGroupsForUser(ctx, "joiner").Count);
    }

    [Fact]
    public async Task A_path_prefix_must_start_with_a_slash()
    {
        var ctx = As(Admin);
        await _iam.CreateUserAsync(ctx, "pathed", "/team/", null, default);
        Assert.Equal(["pathed"], _iam.ListUsers(ctx, "/team/").Select(u => u.UserName));
        Assert.Equal(["pathed"], _iam.ListUsers(ctx, null).Select(u => u.UserName));
        foreach (var bad in (string[])["team/", "", "/t\u0001"])
        {
            Assert.Equal("ValidationError", Assert.Throws<ServiceException>(() => _iam.ListUsers(ctx, bad)).Code);
            Assert.Equal("ValidationError", Assert.Throws<ServiceException>(() => _iam.ListRoles(ctx, bad)).Code);   // none exist: still refused
        }
    }

    [Fact]
    public void A_malformed_policy_arn_is_invalid_input_and_a_missing_one_no_such_entity()
    {
        var ctx = As(Admin);
        Assert.Equal("InvalidInput", Assert.Throws<ServiceException>(() => _iam.GetPolicy(ctx, "not-an-arn")).Code);
        Assert.Equal("InvalidInput", Assert.Throws<ServiceException>(() => _iam.GetPolicy(ctx, $"arn:aws:iam::{Account}:user/bob")).Code);
        Assert.Equal("NoSuchEntity", Assert.Throws<ServiceException>(() => _iam.GetPolicy(ctx, $"arn:aws:iam::{Account}:policy/none")).Code);
        Assert.Equal("NoSuchEntity", Assert.Throws<ServiceException>(() => _iam.GetPolicy(ctx, "arn:aws:iam::aws:policy/SecretsManagerReadWrite")).Code);
    }

    [Fact]
    public async Task A_boundary_arn_that_names_no_policy_is_invalid_input_and_a_missing_policy_no_such_entity()
    {
        var ctx = As(Admin);
        await _iam.CreateUserAsync(ctx, "bob", null, null, default);
        async Task<(string, string)> Put(string arn)
        {
            var e = await Assert.ThrowsAsync<ServiceException>(() => _iam.PutPermissionsBoundaryAsync(ctx, "user", "bob", arn, default));
            return (e.Code, e.Message);
        }
        Assert.Equal(("InvalidInput", $"ARN arn:aws:iam::{Account}:user/bob is not valid."), await Put($"arn:aws:iam::{Account}:user/bob"));
        Assert.Equal(("InvalidInput", "ARN arn:aws:s3:::bucket/policy/x is not valid."), await Put("arn:aws:s3:::bucket/policy/x"));
        Assert.Equal(("NoSuchEntity", $"Scope ARN: arn:aws:iam::{Account}:policy/none does not exist or is not attachable."),
            await Put($"arn:aws:iam::{Account}:policy/none"));
        var e = await Assert.ThrowsAsync<ServiceException>(() => _iam.CreateRoleAsync(ctx, "r", null,
            """{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"111111111111"},"Action":"sts:AssumeRole"}}""",
            null, null, null, "not-a-policy-arn-at-all", default));
        Assert.Equal("InvalidInput", e.Code);
    }

    [Fact]
    public async Task Simulation_takes_a_resource_policy_and_a_caller_arn_and_bounds_them_as_requests_are()
    {
        var ctx = As(Admin);
        var listOnly = await _iam.CreatePolicyAsync(ctx, "list-only", null, Doc("""{"Effect":"Allow","Action":"secretsmanager:ListSecrets","Resource":"*"}"""), null, default);
        var david = await _iam.CreateUserAsync(ctx, "david", null, null, listOnly.Arn, default);
        var bob = await _iam.CreateUserAsync(ctx, "bob", null, null, default);
        await _iam.PutInlinePolicyAsync(ctx, "user", "david", "all", Doc("""{"Effect":"Allow","Action":"secretsmanager:*","Resource":"*"}"""), default);
        var role = await _iam.CreateRoleAsync(ctx, "app", null, Doc($$"""{"Effect":"Allow","Principal":{"AWS":"{{Account}}"},"Action":"sts:AssumeRole"}"""),
            null, null, null, listOnly.Arn, default);
        string Grant(string principal) => Doc($$"""{"Effect":"Allow","Principal":{"AWS":"{{principal}}"},"Action":"secretsmanager:GetSecretValue"}""");
        EvaluationResult Sim(string source, string resourcePolicy, string? caller = null) =>
            _iam.SimulatePrincipalPolicy(ctx, source, ["secretsmanager:GetSecretValue"], null, null, resourcePolicy, caller).Single().Result;

        var toDavid = Sim(david.Arn, Grant(david.Arn));
        Assert.Equal((Decision.Allowed, false), (toDavid.Decision, toDavid.AllowedByPermissionsBoundary));
        Assert.Equal(PolicyKind.Resource, Assert.Single(toDavid.Statements).Kind);
        Assert.Equal(Decision.ImplicitDeny, Sim(david.Arn, Grant(bob.Arn)).Decision);
        Assert.Equal(Decision.Allowed, Sim(david.Arn, Grant(bob.Arn), bob.Arn).Decision);   // as if Bob had David's policies
        Assert.Equal(Decision.ImplicitDeny, Sim(role.Arn, Grant(role.Arn)).Decision);         // a grant to the role is bounded
        Assert.Equal("InvalidInput", Assert.Throws<ServiceException>(() => Sim(david.Arn, Grant(bob.Arn), role.Arn)).Code);
        Assert.Equal("MalformedPolicyDocumentException", Assert.Throws<ServiceException>(() => Sim(david.Arn, "{")).Code);
    }

    [Fact]
    public async Task Simulation_context_entries_override_the_request_keys()
    {
        var ctx = As(Admin);   // the request comes from 10.0.0.1
        var u = await _iam.CreateUserAsync(ctx, "sim", null, null, default);
        await _iam.PutInlinePolicyAsync(ctx, "user", "sim", "p", Doc("""
            {"Effect":"Allow","Action":"secretsmanager:ListSecrets","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"192.0.2.0/24"}}}
            """), default);
        Decision Simulate(ConditionValues? entries) =>
            Assert.Single(_iam.SimulatePrincipalPolicy(ctx, u.Arn, ["secretsmanager:ListSecrets"], null, entries)).Result.Decision;
        Assert.Equal(Decision.ImplicitDeny, Simulate(null));
        Assert.Equal(Decision.Allowed, Simulate(new ConditionValues().Set("aws:SourceIp", "192.0.2.7")));
        Assert.Equal(Decision.ImplicitDeny, Simulate(new ConditionValues().Set("aws:sourceip", "198.51.100.1")));
    }

    private static List<KeyValuePair<string, string>> Tags(params (string Key, string Value)[] tags) => [.. tags.Select(t => new KeyValuePair<string, string>(t.Key, t.Value))];

    [Fact]
    public async Task Users_and_roles_are_tagged_untagged_and_listed_as_IAM_does()
    {
        var ctx = As(Admin);
        var trust = Doc($$"""{"Effect":"Allow","Principal":{"AWS":"{{Account}}"},"Action":"sts:AssumeRole"}""");
        await _iam.CreateRoleAsync(ctx, "tagged", null, trust, null, null, Tags(("Team", "db")), default);
        await _iam.TagAsync(ctx, "role", "tagged", Tags(("team", "ops"), ("cost", "42")), default);
        // Keys ignore case: team replaces Team (and takes the new case); a second key is added.
        Assert.Equal([new("cost", "42"), new("team", "ops")], _iam.ListTags(ctx, "role", "tagged"));
        await _iam.UntagAsync(ctx, "role", "tagged", ["TEAM", "absent"], default);
        Assert.Equal([new("cost", "42")], _iam.ListTags(ctx, "role", "tagged"));

        async Task<string> Code(Func<Task> call) => (await Assert.ThrowsAsync<ServiceException>(call)).Code;
        Assert.Equal("InvalidInput", await Code(() => _iam.TagAsync(ctx, "role", "tagged", Tags(("a", "1"), ("A", "2")), default)));
        Assert.Equal("InvalidInput", await Code(() => _iam.TagAsync(ctx, "role", "tagged", Tags(("aws:team", "x")), default)));
        Assert.Equal("InvalidInput", await Code(() => _iam.CreateUserAsync(ctx, "dup", null, Tags(("k", "1"), ("K", "2")), default)));
        Assert.Equal("ValidationError", await Code(() => _iam.TagAsync(ctx, "role", "tagged", Tags(("bad\u0001", "x")), default)));
        Assert.Equal("ValidationError", await Code(() => _iam.TagAsync(ctx, "role", "tagged", [], default)));
        Assert.Equal("ValidationError", await Code(() => _iam.UntagAsync(ctx, "role", "tagged", [], default)));
        Assert.Equal("NoSuchEntity", await Code(() => _iam.TagAsync(ctx, "user", "nobody", Tags(("k", "v")), default)));
        Assert.Equal("NoSuchEntity", Assert.Throws<ServiceException>(() => _iam.ListTags(ctx, "role", "nobody")).Code);

        // At most 50 tags in all: the 51st is LimitExceeded and nothing changes; replacing at the limit is fine.
        await _iam.CreateUserAsync(ctx, "full", null, null, default);
        await _iam.TagAsync(ctx, "user", "full", Tags([.. Enumerable.Range(0, 50).Select(i => ($"k{i}", "v"))]), default);
        await _iam.TagAsync(ctx, "user", "full", Tags(("K7", "w")), default);
        var e = await Assert.ThrowsAsync<ServiceException>(() => _iam.TagAsync(ctx, "user", "full", Tags(("k50", "v")), default));
        Assert.Equal(("LimitExceeded", "The number of tags has reached the maximum limit."), (e.Code, e.Message));
        Assert.Equal(50, _iam.ListTags(ctx, "user", "full").Count);
        Assert.Equal("ValidationError", await Code(() => _iam.TagAsync(ctx, "user", "full", Tags([.. Enumerable.Range(0, 51).Select(i => ($"n{i}", "v"))]), default)));

        await Build();   // tags are stored
        Assert.Equal("w", _dir2.RequireUser("full").Tags["K7"]);
        Assert.Equal([new("cost", "42")], _iam.ListTags(ctx, "role", "tagged"));
    }

    [Fact]
    public async Task PrincipalTag_conditions_see_tags_as_soon_as_TagUser_and_TagRole_return()
    {
        var ctx = As(Admin);
        var abac = Doc("""{"Effect":"Allow","Action":"secretsmanager:ListSecrets","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalTag/team":"db"}}}""");
        var u = await _iam.CreateUserAsync(ctx, "carol", null, null, default);
        await _iam.PutInlinePolicyAsync(ctx, "user", "carol", "abac", abac, default);
        var carol = As(UserPrincipal(u));
        Assert.False(_access.Evaluate(carol, "secretsmanager:ListSecrets", "*").IsAllowed);   // evaluated (and cached) untagged
        await _iam.TagAsync(ctx, "user", "carol", Tags(("Team", "db")), default);
        Assert.True(_access.Evaluate(carol, "secretsmanager:ListSecrets", "*").IsAllowed);
        await _iam.UntagAsync(ctx, "user", "carol", ["team"], default);
        Assert.False(_access.Evaluate(carol, "secretsmanager:ListSecrets", "*").IsAllowed);

        var role = await _iam.CreateRoleAsync(ctx, "abac", null, Doc($$"""{"Effect":"Allow","Principal":{"AWS":"{{Account}}"},"Action":"sts:AssumeRole"}"""), null, null, null, default);
        await _iam.PutInlinePolicyAsync(ctx, "role", "abac", "abac", abac, default);
        var c = _iam.AssumeRole(ctx, role.Arn, "s1", null, null).Credentials;
        var session = As(_keys.FindSession(c.AccessKeyId, c.SessionToken)!.Principal);
        Assert.False(_access.Evaluate(session, "secretsmanager:ListSecrets", "*").IsAllowed);
        await _iam.TagAsync(ctx, "role", "abac", Tags(("team", "db")), default);
        Assert.True(_access.Evaluate(session, "secretsmanager:ListSecrets", "*").IsAllowed);   // a live session sees its role's tags
    }

    [Fact]
    public async Task Tagging_is_authorised_with_the_request_and_resource_tags()
    {
        var ctx = As(Admin);
        var admin2 = await _iam.CreateUserAsync(ctx, "tagger", null, null, default);
        await _iam.CreateUserAsync(ctx, "target", null, Tags(("team", "db")), default);
        await _iam.CreateUserAsync(ctx, "other", null, Tags(("team", "ops")), default);
        await _iam.PutInlinePolicyAsync(ctx, "user", "tagger", "p", Doc("""
            {"Effect":"Allow","Action":["iam:TagUser","iam:UntagUser","iam:ListUserTags"],"Resource":"*",
             "Condition":{"StringEquals":{"aws:ResourceTag/team":"db"},"ForAllValues:StringEquals":{"aws:TagKeys":["env","team"]}}}
            """), default);
        var me = As(UserPrincipal(admin2));
        await _iam.TagAsync(me, "user", "target", Tags(("env", "prod")), default);
        Assert.Equal(2, _iam.ListTags(me, "user", "target").Count);
        async Task<string> Code(Func<Task> call) => (await Assert.ThrowsAsync<ServiceException>(call)).Code;
        Assert.Equal("AccessDeniedException", await Code(() => _iam.TagAsync(me, "user", "target", Tags(("owner", "x")), default)));
        Assert.Equal("AccessDeniedException", await Code(() => _iam.TagAsync(me, "user", "other", Tags(("env", "prod")), default)));
        Assert.Equal("AccessDeniedException", Assert.Throws<ServiceException>(() => _iam.ListTags(me, "user", "other")).Code);
        await _iam.UntagAsync(me, "user", "target", ["env"], default);
    }

    private Principal SessionOf(AssumeRoleResult assumed) =>
        _keys.FindSession(assumed.Credentials.AccessKeyId, assumed.Credentials.SessionToken)!.Principal;

    [Fact]
    public async Task Session_tags_need_TagSession_and_override_the_roles_tags()
    {
        var ctx = As(Admin);
        var u = await _iam.CreateUserAsync(ctx, "bob", null, null, default);
        var bob = As(UserPrincipal(u));
        var role = await _iam.CreateRoleAsync(ctx, "abac", null, Doc($$"""{"Effect":"Allow","Principal":{"AWS":"{{u.Arn}}"},"Action":"sts:AssumeRole"}"""),
            null, null, Tags(("Team", "red"), ("env", "prod")), default);
        await _iam.PutInlinePolicyAsync(ctx, "role", "abac", "abac", Doc("""
            {"Effect":"Allow","Action":"secretsmanager:ListSecrets","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalTag/team":"blue","aws:PrincipalTag/env":"prod"}}}
            """), default);

        // Without sts:TagSession in the trust policy, tags are refused; without tags the role is assumed as before.
        var denied = Assert.Throws<ServiceException>(() => _iam.AssumeRole(bob, role.Arn, "s1", null, null, tags: Tags(("team", "blue"))));
        Assert.Equal(("AccessDeniedException", $"User: {u.Arn} is not authorized to perform: sts:TagSession on resource: {role.Arn}"), (denied.Code, denied.Message));
        var plain = SessionOf(_iam.AssumeRole(bob, role.Arn, "s1", null, null));
        Assert.False(_access.Evaluate(As(plain), "secretsmanager:ListSecrets", "*").IsAllowed);

        // The trust policy's conditions see aws:RequestTag/… and aws:TagKeys.
        await _iam.UpdateAssumeRolePolicyAsync(ctx, "abac", Doc($$"""
            {"Effect":"Allow","Principal":{"AWS":"{{u.Arn}}"},"Action":"sts:AssumeRole"},
            {"Effect":"Allow","Principal":{"AWS":"{{u.Arn}}"},"Action":"sts:TagSession",
             "Condition":{"StringEquals":{"aws:RequestTag/team":["blue","green"]},"ForAllValues:StringEquals":{"aws:TagKeys":["team"] } } }
            """), default);
        var blue = SessionOf(_iam.AssumeRole(bob, role.Arn, "s2", null, null, tags: Tags(("team", "blue"))));
        Assert.Equal([new("team", "blue")], blue.SessionTags);
        // The session tag "team" overrides the role's "Team"; the role's other tags still apply.
        Assert.True(_access.Evaluate(As(blue), "secretsmanager:ListSecrets", "*").IsAllowed);
        var green = SessionOf(_iam.AssumeRole(bob, role.Arn, "s3", null, null, tags: Tags(("team", "green"))));
        Assert.False(_access.Evaluate(As(green), "secretsmanager:ListSecrets", "*").IsAllowed);
        Assert.Equal("AccessDeniedException", Assert.Throws<ServiceException>(() => _iam.AssumeRole(bob, role.Arn, "s4", null, null, tags: Tags(("team", "black")))).Code);
        Assert.Equal("AccessDeniedException", Assert.Throws<ServiceException>(() => _iam.AssumeRole(bob, role.Arn, "s4", null, null, tags: Tags(("team", "blue"), ("x", "1")))).Code);
    }

    [Fact]
    public async Task Session_tags_and_source_identity_are_validated_as_STS_does()
    {
        var ctx = As(Admin);
        var role = await _iam.CreateRoleAsync(ctx, "app", null, Doc($$"""{"Effect":"Allow","Principal":{"AWS":"{{Account}}"},"Action":["sts:AssumeRole","sts:TagSession","sts:SetSourceIdentity"]}"""), null, null, null, default);
        ServiceException Refused(IReadOnlyList<KeyValuePair<string, string>>? tags = null, IReadOnlyList<string>? transitive = null, string? source = null, string? policy = null) =>
            Assert.Throws<ServiceException>(() => _iam.AssumeRole(ctx, role.Arn, "s1", null, policy, tags: tags, transitiveTagKeys: transitive, sourceIdentity: source));
        Assert.Equal("ValidationError", Refused(Tags([.. Enumerable.Range(0, 51).Select(i => ($"k{i}", "v"))])).Code);
        Assert.Equal("ValidationError", Refused(Tags((new string('k', 129), "v"))).Code);
        Assert.Equal("ValidationError", Refused(Tags(("k", new string('v', 257)))).Code);
        Assert.Equal("ValidationError", Refused(Tags(("k", "a\tb"))).Code);
        Assert.Equal(("InvalidParameterValue", IamTags.DuplicateKeys), (Refused(Tags(("team", "a"), ("Team", "b"))) is var d ? (d.Code, d.Message) : default));
        Assert.Equal("InvalidParameterValue", Refused(Tags(("aws:team", "a"))).Code);
        Assert.Equal(("InvalidParameterValue", "The specified transitive tag key must be included in the requested tags."),
            Refused(Tags(("team", "a")), ["other"]) is var t ? (t.Code, t.Message) : default);
        Assert.Equal("ValidationError", Refused(source: "x").Code);
        Assert.Equal("ValidationError", Refused(source: "has space").Code);
        Assert.Equal("ValidationError", Refused(source: new string('s', 65)).Code);
        // 50 tags of 128 + 256 characters are each valid, but do not fit the packed budget together with a policy.
        var big = Refused(Tags([.. Enumerable.Range(0, 50).Select(i => ($"{i:D2}" + new string('k', 126), new string('v', 256)))]));
        Assert.Equal("PackedPolicyTooLarge", big.Code);
        Assert.StartsWith("Packed policy consumes 469% of allotted space", big.Message, StringComparison.Ordinal);

        var ok = _iam.AssumeRole(ctx, role.Arn, "s1", null, null, tags: Tags(("team", "blue"), ("env", "dev")), transitiveTagKeys: ["TEAM"], sourceIdentity: "alice@example.com");
        Assert.Equal("alice@example.com", ok.SourceIdentity);
        Assert.Equal(1, ok.PackedPolicySize);   // 15 bytes of 4,096, rounded up
        var session = SessionOf(ok);
        Assert.Equal([new("team", "blue"), new("env", "dev")], session.SessionTags);
        Assert.Equal(["team"], session.TransitiveTagKeys);   // in the case of the tag
        Assert.Equal("alice@example.com", session.SourceIdentity);
        Assert.Null(_iam.AssumeRole(ctx, role.Arn, "s2", null, null).SourceIdentity);
    }

    [Fact]
    public async Task Transitive_tags_and_the_source_identity_persist_through_role_chaining()
    {
        var ctx = As(Admin);
        string Trust(params string[] actions)
        {
            var list = System.Text.Json.JsonSerializer.Serialize(actions);
            return Doc($$"""{"Effect":"Allow","Principal":{"AWS":"{{Account}}"},"Action":{{list}} }""");
        }
        var all = new[] { "sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity" };
        var first = await _iam.CreateRoleAsync(ctx, "first", null, Trust(all), null, null, null, default);
        var second = await _iam.CreateRoleAsync(ctx, "second", null, Trust(all), null, null, Tags(("star", "3"), ("sun", "2")), default);
        var noTags = await _iam.CreateRoleAsync(ctx, "no-tags", null, Trust("sts:AssumeRole", "sts:SetSourceIdentity"), null, null, null, default);
        var noSource = await _iam.CreateRoleAsync(ctx, "no-source", null, Trust("sts:AssumeRole", "sts:TagSession"), null, null, null, default);
        await _iam.PutInlinePolicyAsync(ctx, "role", "first", "chain", Doc("""{"Effect":"Allow","Action":"sts:*","Resource":"*"}"""), default);
        await _iam.PutInlinePolicyAsync(ctx, "role", "second", "read", Doc("""
            {"Effect":"Allow","Action":"secretsmanager:ListSecrets","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalTag/star":"1","aws:SourceIdentity":"alice"}}}
            """), default);

        var s1 = As(SessionOf(_iam.AssumeRole(ctx, first.Arn, "one", null, null, tags: Tags(("Star", "1"), ("heart", "1"), ("cost", "9")),
            transitiveTagKeys: ["star", "heart"], sourceIdentity: "alice")));
        var chained = _iam.AssumeRole(s1, second.Arn, "two", null, null);
        Assert.Equal("alice", chained.SourceIdentity);   // returned although the request did not name it
        var s2 = SessionOf(chained);
        // Only the transitive tags pass on (not cost); they stay transitive and override the role's star tag.
        Assert.Equal([new("Star", "1"), new("heart", "1")], s2.SessionTags);
        Assert.Equal(["Star", "heart"], s2.TransitiveTagKeys);
        Assert.Equal("alice", s2.SourceIdentity);
        Assert.True(_access.Evaluate(As(s2), "secretsmanager:ListSecrets", "*").IsAllowed);

        // An inherited transitive tag cannot be set again, in any case; other tags can be added.
        var conflict = Assert.Throws<ServiceException>(() => _iam.AssumeRole(s1, second.Arn, "two", null, null, tags: Tags(("HEART", "3"))));
        Assert.Equal("InvalidParameterValue", conflict.Code);
        Assert.Equal([new("Star", "1"), new("heart", "1"), new("cost", "5")], SessionOf(_iam.AssumeRole(s1, second.Arn, "two", null, null, tags: Tags(("cost", "5")))).SessionTags);
        // The source identity cannot change; naming the same one again is fine.
        var changed = Assert.Throws<ServiceException>(() => _iam.AssumeRole(s1, second.Arn, "two", null, null, sourceIdentity: "mallory"));
        Assert.Equal("AccessDeniedException", changed.Code);
        Assert.Contains("sts:SetSourceIdentity", changed.Message, StringComparison.Ordinal);
        Assert.Equal("alice", _iam.AssumeRole(s1, second.Arn, "two", null, null, sourceIdentity: "alice").SourceIdentity);
        // Carrying tags or a source identity into the next role needs that role to allow setting them.
        Assert.Contains("sts:TagSession", Assert.Throws<ServiceException>(() => _iam.AssumeRole(s1, noTags.Arn, "three", null, null)).Message, StringComparison.Ordinal);
        Assert.Contains("sts:SetSourceIdentity", Assert.Throws<ServiceException>(() => _iam.AssumeRole(s1, noSource.Arn, "three", null, null)).Message, StringComparison.Ordinal);
        // Sessions without tags or a source identity need neither.
        var bare = As(SessionOf(_iam.AssumeRole(ctx, first.Arn, "bare", null, null)));
        _iam.AssumeRole(bare, noTags.Arn, "three", null, null);
        _iam.AssumeRole(bare, noSource.Arn, "three", null, null);
    }

    [Fact]
    public async Task A_trust_policy_naming_the_calling_role_is_limited_by_its_boundary_and_session_policy()
    {
        // The trust policy is the role's resource-based policy: a grant to the calling role's ARN is limited by that
        // role's permissions boundary and by the session policy; a grant to the session ARN is not.
        var ctx = As(Admin);
        var first = await _iam.CreateRoleAsync(ctx, "first", null, Doc($$"""{"Effect":"Allow","Principal":{"AWS":"{{Account}}"},"Action":"sts:AssumeRole"}"""),
            null, null, null, default);
        var secretsOnly = await _iam.CreatePolicyAsync(ctx, "secrets-only", null, Doc("""{"Effect":"Allow","Action":"secretsmanager:*","Resource":"*"}"""), null, default);
        await _iam.PutPermissionsBoundaryAsync(ctx, "role", "first", secretsOnly.Arn, default);
        var second = await _iam.CreateRoleAsync(ctx, "second", null, Doc($$"""{"Effect":"Allow","Principal":{"AWS":"{{first.Arn}}"},"Action":"sts:AssumeRole"}"""),
            null, null, null, default);
        var s1 = As(SessionOf(_iam.AssumeRole(ctx, first.Arn, "one", null, null)));

        var denied = Assert.Throws<ServiceException>(() => _iam.AssumeRole(s1, second.Arn, "two", null, null));
        Assert.Equal(("AccessDeniedException", $"User: {s1.Caller.Arn} is not authorized to perform: sts:AssumeRole on resource: {second.Arn}"),
            (denied.Code, denied.Message));
        // Naming the session itself is not limited by the boundary.
        await _iam.UpdateAssumeRolePolicyAsync(ctx, "second", Doc($$"""{"Effect":"Allow","Principal":{"AWS":"{{s1.Caller.Arn}}"},"Action":"sts:AssumeRole"}"""), default);
        _iam.AssumeRole(s1, second.Arn, "two", null, null);

        // Without the boundary, the role's grant stands, unless the session policy leaves sts:AssumeRole out.
        await _iam.DeletePermissionsBoundaryAsync(ctx, "role", "first", default);
        await _iam.UpdateAssumeRolePolicyAsync(ctx, "second", Doc($$"""{"Effect":"Allow","Principal":{"AWS":"{{first.Arn}}"},"Action":"sts:AssumeRole"}"""), default);
        _iam.AssumeRole(s1, second.Arn, "two", null, null);
        var narrowed = As(SessionOf(_iam.AssumeRole(ctx, first.Arn, "narrow", null, Doc("""{"Effect":"Allow","Action":"secretsmanager:*","Resource":"*"}"""))));
        Assert.Equal("AccessDeniedException", Assert.Throws<ServiceException>(() => _iam.AssumeRole(narrowed, second.Arn, "two", null, null)).Code);
    }

    [Fact]
    public async Task Removing_a_boundary_an_entity_does_not_have_succeeds_and_from_a_missing_entity_is_no_such_entity()
    {
        // Delete{User,Role}PermissionsBoundary list only NoSuchEntity (for the user or role) among their errors, and
        // IAM answers success for an entity without a boundary: the AWS provider for Terraform called
        // DeleteRolePermissionsBoundary on every role it deleted (terraform-provider-aws#5489), failing only where
        // the caller lacked the permission.
        var ctx = As(Admin);
        await _iam.CreateUserAsync(ctx, "bob", null, null, default);
        await _iam.CreateRoleAsync(ctx, "app", null, Doc($$"""{"Effect":"Allow","Principal":{"AWS":"{{Account}}"},"Action":"sts:AssumeRole"}"""), null, null, null, default);
        await _iam.DeletePermissionsBoundaryAsync(ctx, "user", "bob", default);
        await _iam.DeletePermissionsBoundaryAsync(ctx, "role", "app", default);
        Assert.Null(_dir2.RequireUser("bob").PermissionsBoundary);
        Assert.Null(_dir2.RequireRole("app").PermissionsBoundary);

        var user = await Assert.ThrowsAsync<ServiceException>(() => _iam.DeletePermissionsBoundaryAsync(ctx, "user", "nobody", default));
        Assert.Equal(("NoSuchEntity", "The user with name nobody cannot be found."), (user.Code, user.Message));
        var role = await Assert.ThrowsAsync<ServiceException>(() => _iam.DeletePermissionsBoundaryAsync(ctx, "role", "nothing", default));
        Assert.Equal(("NoSuchEntity", "The role with name nothing cannot be found."), (role.Code, role.Message));
    }

    [Fact]
    public async Task Replacing_a_boundary_or_deleting_a_bounded_entity_updates_the_policies_usage_counts()
    {
        // GetPolicy's PermissionsBoundaryUsageCount; a user or role may be deleted with its boundary still set.
        var ctx = As(Admin);
        var first = await _iam.CreatePolicyAsync(ctx, "first", null, Doc("""{"Effect":"Allow","Action":"secretsmanager:*","Resource":"*"}"""), null, default);
        var second = await _iam.CreatePolicyAsync(ctx, "second", null, Doc("""{"Effect":"Allow","Action":"secretsmanager:Get*","Resource":"*"}"""), null, default);
        (int, int) Counts() => (_dir2.BoundaryUsageCount(first.Arn), _dir2.BoundaryUsageCount(second.Arn));
        await _iam.CreateUserAsync(ctx, "bob", null, null, first.Arn, default);
        await _iam.CreateRoleAsync(ctx, "app", null, Doc($$"""{"Effect":"Allow","Principal":{"AWS":"{{Account}}"},"Action":"sts:AssumeRole"}"""),
            null, null, null, first.Arn, default);
        Assert.Equal((2, 0), Counts());

        await _iam.PutPermissionsBoundaryAsync(ctx, "user", "bob", second.Arn, default);
        Assert.Equal((1, 1), Counts());
        await _iam.PutPermissionsBoundaryAsync(ctx, "role", "app", second.Arn, default);
        Assert.Equal((0, 2), Counts());
        await _iam.PutPermissionsBoundaryAsync(ctx, "role", "app", second.Arn, default);   // the same boundary again counts once
        Assert.Equal((0, 2), Counts());
        await Build();   // as stored
        Assert.Equal((0, 2), Counts());
        Assert.Equal(0, _dir2.AttachmentCount(second.Arn));

        await _iam.DeleteUserAsync(ctx, "bob", default);
        Assert.Equal((0, 1), Counts());
        await _iam.DeleteRoleAsync(ctx, "app", default);
        Assert.Equal((0, 0), Counts());
        await Build();
        Assert.Equal((0, 0), Counts());
        await _iam.DeletePolicyAsync(ctx, second.Arn, default);   // no longer in use
    }

    [Fact]
    public async Task Changing_a_bounded_entitys_policies_sees_its_boundary_as_iam_PermissionsBoundary()
    {
        // Service Authorization Reference (IAM): Attach/Detach/Put/Delete User/Role Policy carry iam:PermissionsBoundary.
        var ctx = As(Admin);
        var boundary = await _iam.CreatePolicyAsync(ctx, "team-boundary", null, Doc("""{"Effect":"Allow","Action":"secretsmanager:*","Resource":"*"}"""), null, default);
        var admin = await _iam.CreateUserAsync(ctx, "team-admin", null, null, default);
        await _iam.PutInlinePolicyAsync(ctx, "user", "team-admin", "delegated", Doc($$"""
            {"Effect":"Allow","Action":["iam:PutRolePolicy","iam:DeleteRolePolicy","iam:PutUserPolicy","iam:DeleteUserPolicy"],"Resource":"*",
             "Condition":{"StringEquals":{"iam:PermissionsBoundary":"{{boundary.Arn}}"} } }
            """), default);
        const string trust = """{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"111111111111"},"Action":"sts:AssumeRole"}}""";
        await _iam.CreateRoleAsync(ctx, "bounded", null, trust, null, null, null, boundary.Arn, default);
        await _iam.CreateRoleAsync(ctx, "free", null, trust, null, null, null, null, default);
        await _iam.CreateUserAsync(ctx, "bounded-user", null, null, boundary.Arn, default);
        const string read = """{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"*"}}""";
        await _iam.PutInlinePolicyAsync(ctx, "role", "free", "read", read, default);

        var me = As(UserPrincipal(admin));
        await _iam.PutInlinePolicyAsync(me, "role", "bounded", "read", read, default);
        await _iam.DeleteInlinePolicyAsync(me, "role", "bounded", "read", default);
        await _iam.PutInlinePolicyAsync(me, "user", "bounded-user", "read", read, default);
        await _iam.DeleteInlinePolicyAsync(me, "user", "bounded-user", "read", default);
        var denied = await Assert.ThrowsAsync<ServiceException>(() => _iam.DeleteInlinePolicyAsync(me, "role", "free", "read", default));
        Assert.Equal("AccessDeniedException", denied.Code);
    }

    [Fact]
    public async Task Tokens_issued_before_session_tags_still_open()
    {
        var role = await _iam.CreateRoleAsync(As(Admin), "old", null, Doc($$"""{"Effect":"Allow","Principal":{"AWS":"{{Account}}"},"Action":"sts:AssumeRole"}"""), null, null, null, default);
        // The claims exactly as a token issued before session tags carried them.
        var old = $$"""{"k":"ASIAOLDTOKEN2345ABCD","s":"secret-of-the-old-session-0123456789abcd","a":"arn:aws:sts::{{Account}}:assumed-role/old/s0","u":"{{role.RoleId}}:s0","n":"s0","t":1,"r":"{{role.Arn}}","e":{{_time.GetUtcNow().AddHours(1).ToUnixTimeMilliseconds()}},"i":{{_time.GetUtcNow().ToUnixTimeMilliseconds()}}}""";
        var token = Convert.ToBase64String(_cipher.Seal(System.Text.Encoding.UTF8.GetBytes(old), System.Text.Encoding.UTF8.GetBytes("sts-session-token:ASIAOLDTOKEN2345ABCD")));
        var p = _keys.FindSession("ASIAOLDTOKEN2345ABCD", token)!.Principal;
        Assert.Equal((role.Arn, 0, 0, (string?)null), (p.RoleArn, p.SessionTags.Count, p.TransitiveTagKeys.Count, p.SourceIdentity));
        // A session without tags writes none of the new members: its token is as it was.
        var (claims, issued) = _sessions.Issue("arn", "id", "n", PrincipalKind.AssumedRole, role.Arn, null, TimeSpan.FromHours(1));
        using var json = System.Text.Json.JsonDocument.Parse(_cipher.Open(Convert.FromBase64String(issued),
            System.Text.Encoding.UTF8.GetBytes("sts-session-token:" + claims.AccessKeyId)));
        Assert.Equal(["k", "s", "a", "u", "n", "t", "r", "e", "i"], json.RootElement.EnumerateObject().Select(m => m.Name));
    }

    [Fact]
    public async Task The_audit_identity_of_a_session_names_its_source_identity_where_CloudTrail_does()
    {
        var ctx = As(Admin);
        var role = await _iam.CreateRoleAsync(ctx, "audited", null, Doc($$"""{"Effect":"Allow","Principal":{"AWS":"{{Account}}"},"Action":["sts:AssumeRole","sts:SetSourceIdentity"]}"""), null, null, null, default);
        var session = SessionOf(_iam.AssumeRole(ctx, role.Arn, "s1", null, null, sourceIdentity: "alice"));
        var e = new Coffer.Core.Audit.AuditEvent
        {
            EventTime = _time.GetUtcNow(), EventSource = "secretsmanager.amazonaws.com", EventName = "ListSecrets", AwsRegion = "us-east-1",
            UserIdentity = Coffer.Core.Audit.AuditIdentity.Of(session), RequestId = "req", ReadOnly = true,
        };
        using var record = System.Text.Json.JsonDocument.Parse(Coffer.Core.Audit.AuditJson.Serialize(e));
        var context = record.RootElement.GetProperty("userIdentity").GetProperty("sessionContext");
        Assert.Equal("alice", context.GetProperty("sourceIdentity").GetString());
        Assert.Equal(role.Arn, context.GetProperty("sessionIssuer").GetProperty("arn").GetString());
        var plain = Coffer.Core.Audit.AuditIdentity.Of(SessionOf(_iam.AssumeRole(ctx, role.Arn, "s2", null, null)));
        Assert.Null(plain.SessionContext!.SourceIdentity);
    }

    [Fact]
    public async Task A_group_can_be_simulated_with_its_own_policies()
    {
        var ctx = As(Admin);
        var g = await _iam.CreateGroupAsync(ctx, "readers", null, default);
        await _iam.PutInlinePolicyAsync(ctx, "group", "readers", "p", Doc("""
            {"Sid":"Read","Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"*"}
            """), default);
        var read = Assert.Single(_iam.SimulatePrincipalPolicy(ctx, g.Arn, ["secretsmanager:GetSecretValue"], null, null)).Result;
        Assert.Equal(Decision.Allowed, read.Decision);
        Assert.Equal("Read", Assert.Single(read.Statements).Sid);
        Assert.Equal(Decision.ImplicitDeny,
            Assert.Single(_iam.SimulatePrincipalPolicy(ctx, g.Arn, ["secretsmanager:PutSecretValue"], null, null)).Result.Decision);
        var missing = Assert.Throws<ServiceException>(() =>
            _iam.SimulatePrincipalPolicy(ctx, g.Arn.Replace("readers", "nobody", StringComparison.Ordinal), ["secretsmanager:GetSecretValue"], null, null));
        Assert.Equal("NoSuchEntity", missing.Code);
    }

    [Fact]
    public async Task Secret_actions_are_enforced_at_the_service()
    {
        var admin = As(Admin);
        var a = await _secrets.CreateSecretAsync(admin, new CreateSecretRequest { Name = "rds/mydb/appuser", SecretString = "pw", ClientRequestToken = Guid.NewGuid().ToString() }, default);
        var b = await _secrets.CreateSecretAsync(admin, new CreateSecretRequest { Name = "rds/other", SecretString = "pw2", ClientRequestToken = Guid.NewGuid().ToString() }, default);
        var u = await _iam.CreateUserAsync(admin, "rotator", null, null, default);
        await _iam.PutInlinePolicyAsync(admin, "user", "rotator", "p", Doc("""
            {"Effect":"Allow","Action":["secretsmanager:GetSecretValue","secretsmanager:PutSecretValue"],"Resource":"arn:aws:secretsmanager:*:ACCOUNT:secret:rds/mydb/appuser-??????",
             "Condition":{"StringEqualsIfExists":{"secretsmanager:VersionStage":"AWSCURRENT"}}}
            """.Replace("ACCOUNT", Account, StringComparison.Ordinal)), default);
        await _iam.PutInlinePolicyAsync(admin, "user", "rotator", "batch", Doc("""{"Effect":"Allow","Action":"secretsmanager:BatchGetSecretValue","Resource":"*"}"""), default);
        var me = As(UserPrincipal(u));

        Assert.Equal("pw", (await _secrets.GetSecretValueAsync(me, new GetSecretValueRequest { SecretId = a.ARN }, default)).SecretString);
        var denied = await Assert.ThrowsAsync<ServiceException>(() => _secrets.GetSecretValueAsync(me, new GetSecretValueRequest { SecretId = b.ARN }, default));
        Assert.Equal($"User: {u.Arn} is not authorized to perform: secretsmanager:GetSecretValue on resource: {b.ARN} because no identity-based policy allows the secretsmanager:GetSecretValue action", denied.Message);
        // The condition on VersionStage: AWSPREVIOUS is not allowed.
        Assert.Equal("AccessDeniedException", (await Assert.ThrowsAsync<ServiceException>(() =>
            _secrets.GetSecretValueAsync(me, new GetSecretValueRequest { SecretId = a.ARN, VersionStage = "AWSPREVIOUS" }, default))).Code);
        // A missing secret: AccessDenied for the ARN it would have, not ResourceNotFound.
        var missing = await Assert.ThrowsAsync<ServiceException>(() => _secrets.GetSecretValueAsync(me, new GetSecretValueRequest { SecretId = "nope" }, default));
        Assert.Equal("AccessDeniedException", missing.Code);
        Assert.Contains(":secret:nope because", missing.Message, StringComparison.Ordinal);
        // Writes are checked inside the transaction.
        Assert.Equal("AccessDeniedException", (await Assert.ThrowsAsync<ServiceException>(() =>
            _secrets.PutSecretValueAsync(me, new PutSecretValueRequest { SecretId = b.ARN, SecretString = "x", ClientRequestToken = Guid.NewGuid().ToString() }, default))).Code);
        await _secrets.PutSecretValueAsync(me, new PutSecretValueRequest { SecretId = a.ARN, SecretString = "x", ClientRequestToken = Guid.NewGuid().ToString() }, default);
        // Batch: the denied secret is an Errors entry.
        var batch = await _secrets.BatchGetSecretValueAsync(me, new BatchGetSecretValueRequest { SecretIdList = [a.ARN, b.ARN] }, default);
        Assert.Equal(a.ARN, Assert.Single(batch.SecretValues).ARN);
        var error = Assert.Single(batch.Errors);
        Assert.Equal((b.ARN, "AccessDeniedException"), (error.SecretId, error.ErrorCode));
        // A resource policy grants on its own; a resource-policy deny beats the identity allow.
        await _secrets.PutResourcePolicyAsync(admin, new PutResourcePolicyRequest { SecretId = b.ARN, ResourcePolicy = Doc($$"""{"Effect":"Allow","Principal":{"AWS":"{{u.Arn}}"},"Action":"secretsmanager:GetSecretValue","Resource":"*"}""") }, default);
        Assert.Equal("pw2", (await _secrets.GetSecretValueAsync(me, new GetSecretValueRequest { SecretId = b.ARN }, default)).SecretString);
        await _secrets.PutResourcePolicyAsync(admin, new PutResourcePolicyRequest { SecretId = a.ARN, ResourcePolicy = Doc($$"""{"Effect":"Deny","Principal":{"AWS":"{{u.Arn}}"},"Action":"*","Resource":"*"}""") }, default);
        Assert.Contains("explicit deny in a resource-based policy", (await Assert.ThrowsAsync<ServiceException>(() =>
            _secrets.GetSecretValueAsync(me, new GetSecretValueRequest { SecretId = a.ARN }, default))).Message, StringComparison.Ordinal);
        // The administrator can still remove a policy that denies everyone.
        await _secrets.PutResourcePolicyAsync(admin, new PutResourcePolicyRequest { SecretId = a.ARN, ResourcePolicy = Doc("""{"Effect":"Deny","Principal":"*","Action":"*","Resource":"*"}""") }, default);
        await _secrets.DeleteResourcePolicyAsync(admin, new SecretIdRequest { SecretId = a.ARN }, default);
    }
}

internal sealed class ManualTime(DateTimeOffset start) : TimeProvider
{
    private DateTimeOffset _now = start;
    public override DateTimeOffset GetUtcNow() => _now;
    public void Advance(TimeSpan by) => _now += by;
}
