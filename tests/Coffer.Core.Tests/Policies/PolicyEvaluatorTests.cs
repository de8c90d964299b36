using Coffer.Core;
using Coffer.Core.Policies;

namespace Coffer.Core.Tests.Policies;

public sealed class PolicyEvaluatorTests
{
    private const string Account = "111122223333";
    private const string SecretArn = "arn:aws:secretsmanager:us-east-1:111122223333:secret:rds/mydb/appuser-AbCdEf";
    private static readonly CallerIdentity Bob = new($"arn:aws:iam::{Account}:user/bob", Account);

    private static Policy Identity(string statements) =>
        Policy.Parse($$"""{"Version":"2012-10-17","Statement":[{{statements}}]}""", PolicyKind.Identity, "test");

    private static EvaluationResult Eval(string statements, string action = "secretsmanager:GetSecretValue",
        string resource = SecretArn, ConditionValues? context = null, CallerIdentity? caller = null) =>
        PolicyEvaluator.Evaluate(new AuthorizationQuery(caller ?? Bob, action, resource, context ?? new ConditionValues()), [Identity(statements)]);

    private static bool Allows(string statements, string action = "secretsmanager:GetSecretValue",
        string resource = SecretArn, ConditionValues? context = null) => Eval(statements, action, resource, context).IsAllowed;

    // ---- actions and resources -----------------------------------------------------------------------

    [Theory]
    [InlineData("secretsmanager:GetSecretValue", true)]
    [InlineData("secretsmanager:getsecretvalue", true)]       // actions ignore case
    [InlineData("secretsmanager:Get*", true)]
    [InlineData("secretsmanager:*", true)]
    [InlineData("*", true)]
    [InlineData("secretsmanager:GetSecretValu?", true)]
    [InlineData("secretsmanager:GetSecretValue?", false)]
    [InlineData("secretsmanager:Describe*", false)]
    [InlineData("iam:GetSecretValue", false)]
    public void Action_patterns(string action, bool allowed) =>
        Assert.Equal(allowed, Allows($$"""{"Effect":"Allow","Action":"{{action}}","Resource":"*"}"""));

    [Theory]
    [InlineData("arn:aws:secretsmanager:us-east-1:111122223333:secret:rds/mydb/appuser-AbCdEf", true)]
    [InlineData("arn:aws:secretsmanager:us-east-1:111122223333:secret:rds/mydb/appuser-??????", true)]
    [InlineData("arn:aws:secretsmanager:us-east-1:111122223333:secret:rds/mydb/appuser-?????", false)]
    [InlineData("arn:aws:secretsmanager:us-east-1:111122223333:secret:rds/mydb/appuser-*", true)]
    [InlineData("arn:aws:secretsmanager:*:111122223333:secret:rds/*", true)]
    [InlineData("arn:aws:secretsmanager:us-east-1:111122223333:secret:RDS/*", false)] // resources are case-sensitive
    [InlineData("arn:aws:secretsmanager:us-east-1:111122223333:secret:other-*", false)]
    [InlineData("*", true)]
    public void Resource_patterns(string resource, bool allowed) =>
        Assert.Equal(allowed, Allows($$"""{"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"{{resource}}"}"""));

    [Fact]
    public void NotAction_allows_everything_else()
    {
        const string s = """{"Effect":"Allow","NotAction":"secretsmanager:DeleteSecret","Resource":"*"}""";
        Assert.True(Allows(s));
        Assert.False(Allows(s, "secretsmanager:DeleteSecret"));
    }

    [Fact]
    public void NotResource_allows_everything_else()
    {
        const string s = """{"Effect":"Allow","Action":"secretsmanager:*","NotResource":"arn:aws:secretsmanager:*:*:secret:rds/*"}""";
        Assert.False(Allows(s));
        Assert.True(Allows(s, resource: "arn:aws:secretsmanager:us-east-1:111122223333:secret:app-AbCdEf"));
    }

    [Fact]
    public void Deny_with_NotAction_denies_everything_but_the_named_action()
    {
        const string s = """
            {"Effect":"Allow","Action":"*","Resource":"*"},
            {"Effect":"Deny","NotAction":"secretsmanager:DescribeSecret","Resource":"*"}
            """;
        Assert.Equal(Decision.ExplicitDeny, Eval(s).Decision);
        Assert.True(Allows(s, "secretsmanager:DescribeSecret"));
    }

    [Fact]
    public void Explicit_deny_wins_over_allow_and_names_the_statement()
    {
        var r = Eval("""
            {"Sid":"All","Effect":"Allow","Action":"secretsmanager:*","Resource":"*"},
            {"Sid":"NoRds","Effect":"Deny","Action":"secretsmanager:GetSecretValue","Resource":"arn:aws:secretsmanager:*:*:secret:rds/*"}
            """);
        Assert.Equal(Decision.ExplicitDeny, r.Decision);
        Assert.Equal("NoRds", Assert.Single(r.Statements).Sid);
        Assert.Equal("with an explicit deny in an identity-based policy", r.Reason);
    }

    [Fact]
    public void Nothing_matching_is_an_implicit_deny()
    {
        var r = Eval("""{"Effect":"Allow","Action":"secretsmanager:DescribeSecret","Resource":"*"}""");
        Assert.Equal(Decision.ImplicitDeny, r.Decision);
        Assert.Equal("because no identity-based policy allows the secretsmanager:GetSecretValue action", r.Reason);
        Assert.Equal($"User: {Bob.Arn} is not authorized to perform: secretsmanager:GetSecretValue on resource: {SecretArn} because no identity-based policy allows the secretsmanager:GetSecretValue action",
            PolicyEvaluator.DeniedMessage(Bob.Arn, "secretsmanager:GetSecretValue", SecretArn, r));
    }

    [Fact]
    public void Allow_lists_the_deciding_statements()
    {
        var r = Eval("""
            {"Sid":"A","Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"*"},
            {"Sid":"B","Effect":"Allow","Action":"secretsmanager:Describe*","Resource":"*"},
            {"Sid":"C","Effect":"Allow","Action":"secretsmanager:Get*","Resource":"*"}
            """);
        Assert.True(r.IsAllowed);
        Assert.Equal(["A", "C"], r.Statements.Select(s => s.Sid));
    }

    // ---- conditions ------------------------------------------------------------------------------------

    private static bool Cond(string op, string key, string values, ConditionValues context) =>
        Allows("{\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":\"*\",\"Condition\":{\"" + op + "\":{\"" + key + "\":" + values + "}}}", context: context);

    private static ConditionValues Ctx(string key, params string[] values) => new ConditionValues().Set(key, values);
    private static readonly ConditionValues Empty = new();

    [Theory]
    [InlineData("StringEquals", "\"prod\"", "prod", true)]
    [InlineData("StringEquals", "\"prod\"", "Prod", false)]
    [InlineData("StringEquals", "[\"dev\",\"prod\"]", "prod", true)]
    [InlineData("StringNotEquals", "\"prod\"", "dev", true)]
    [InlineData("StringNotEquals", "\"prod\"", "prod", false)]
    [InlineData("StringEqualsIgnoreCase", "\"prod\"", "PROD", true)]
    [InlineData("StringNotEqualsIgnoreCase", "\"prod\"", "PROD", false)]
    [InlineData("StringLike", "\"pr*\"", "prod", true)]
    [InlineData("StringLike", "\"p?od\"", "prod", true)]
    [InlineData("StringLike", "\"x*\"", "prod", false)]
    [InlineData("StringNotLike", "\"x*\"", "prod", true)]
    [InlineData("StringNotLike", "\"p*\"", "prod", false)]
    [InlineData("NumericEquals", "\"10\"", "10", true)]
    [InlineData("NumericEquals", "10", "10.0", true)]
    [InlineData("NumericNotEquals", "\"10\"", "11", true)]
    [InlineData("NumericLessThan", "\"10\"", "9", true)]
    [InlineData("NumericLessThan", "\"10\"", "10", false)]
    [InlineData("NumericLessThanEquals", "\"10\"", "10", true)]
    [InlineData("NumericGreaterThan", "\"10\"", "11", true)]
    [InlineData("NumericGreaterThan", "\"10\"", "10", false)]
    [InlineData("NumericGreaterThanEquals", "\"10\"", "10", true)]
    [InlineData("NumericEquals", "\"10\"", "ten", false)]
    [InlineData("DateEquals", "\"2026-01-01T00:00:00Z\"", "2026-01-01T00:00:00Z", true)]
    [InlineData("DateNotEquals", "\"2026-01-01T00:00:00Z\"", "2026-01-02T00:00:00Z", true)]
    [InlineData("DateLessThan", "\"2026-01-01T00:00:00Z\"", "2025-12-31T23:59:59Z", true)]
    [InlineData("DateLessThan", "\"2026-01-01T00:00:00Z\"", "1767225600", false)]           // epoch seconds, = 2026-01-01
    [InlineData("DateLessThanEquals", "\"2026-01-01T00:00:00Z\"", "1767225600", true)]
    [InlineData("DateGreaterThan", "\"2026-01-01\"", "2026-06-01T00:00:00Z", true)]
    [InlineData("DateGreaterThanEquals", "\"1767225600\"", "2026-01-01T00:00:00Z", true)]
    [InlineData("Bool", "\"true\"", "true", true)]
    [InlineData("Bool", "true", "TRUE", true)]
    [InlineData("Bool", "\"true\"", "false", false)]
    [InlineData("BinaryEquals", "\"QmluYXJ5\"", "QmluYXJ5", true)]
    [InlineData("IpAddress", "\"10.0.0.0/8\"", "10.1.2.3", true)]
    [InlineData("IpAddress", "\"10.0.0.0/8\"", "11.1.2.3", false)]
    [InlineData("IpAddress", "\"10.1.2.3\"", "10.1.2.3", true)]
    [InlineData("IpAddress", "\"10.1.2.3/16\"", "10.1.9.9", true)]
    [InlineData("IpAddress", "\"2001:db8::/32\"", "2001:db8::1", true)]
    [InlineData("IpAddress", "\"127.0.0.0/8\"", "::ffff:127.0.0.1", true)]
    [InlineData("NotIpAddress", "\"10.0.0.0/8\"", "11.1.2.3", true)]
    [InlineData("NotIpAddress", "\"10.0.0.0/8\"", "10.1.2.3", false)]
    [InlineData("ArnEquals", "\"arn:aws:lambda:us-east-1:111122223333:function:rot\"", "arn:aws:lambda:us-east-1:111122223333:function:rot", true)]
    [InlineData("ArnLike", "\"arn:aws:lambda:*:111122223333:function:rot-*\"", "arn:aws:lambda:eu-west-1:111122223333:function:rot-1", true)]
    [InlineData("ArnLike", "\"arn:aws:lambda:*:111122223333:function:rot-*\"", "arn:aws:lambda:eu-west-1:999999999999:function:rot-1", false)]
    [InlineData("ArnNotEquals", "\"arn:aws:lambda:us-east-1:111122223333:function:rot\"", "arn:aws:lambda:us-east-1:111122223333:function:other", true)]
    [InlineData("ArnNotLike", "\"arn:aws:lambda:*:*:function:rot*\"", "arn:aws:lambda:us-east-1:111122223333:function:rotator", false)]
    [InlineData("ArnLike", "\"arn:aws:lambda:*:*:function:rot*\"", "not-an-arn", false)]
    public void Operators(string op, string policyValues, string requestValue, bool allowed) =>
        Assert.Equal(allowed, Cond(op, "k", policyValues, Ctx("k", requestValue)));

    [Theory]
    [InlineData("StringEquals", false)]
    [InlineData("StringLike", false)]
    [InlineData("NumericEquals", false)]
    [InlineData("DateGreaterThan", false)]
    [InlineData("Bool", false)]
    [InlineData("IpAddress", false)]
    [InlineData("ArnLike", false)]
    // The trap: a negated operator on a key the request lacks is TRUE.
    [InlineData("StringNotEquals", true)]
    [InlineData("StringNotEqualsIgnoreCase", true)]
    [InlineData("StringNotLike", true)]
    [InlineData("NumericNotEquals", true)]
    [InlineData("DateNotEquals", true)]
    [InlineData("NotIpAddress", true)]
    [InlineData("ArnNotEquals", true)]
    [InlineData("ArnNotLike", true)]
    // …IfExists: true when the key is absent.
    [InlineData("StringEqualsIfExists", true)]
    [InlineData("StringNotEqualsIfExists", true)]
    [InlineData("NumericLessThanIfExists", true)]
    [InlineData("BoolIfExists", true)]
    public void Missing_key(string op, bool allowed)
    {
        var value = op.StartsWith("Numeric", StringComparison.Ordinal) ? "\"1\"" : op.StartsWith("Date", StringComparison.Ordinal) ? "\"2026-01-01\""
            : op.StartsWith("Bool", StringComparison.Ordinal) ? "\"true\"" : op.Contains("Ip", StringComparison.Ordinal) ? "\"10.0.0.0/8\""
            : op.StartsWith("Arn", StringComparison.Ordinal) ? "\"arn:aws:iam::1:role/x\"" : "\"x\"";
        Assert.Equal(allowed, Cond(op, "aws:PrincipalTag/team", value, Empty));
    }

    [Fact]
    public void Negated_condition_on_missing_key_makes_a_deny_apply_to_callers_without_the_key()
    {
        const string s = """
            {"Effect":"Allow","Action":"*","Resource":"*"},
            {"Effect":"Deny","Action":"*","Resource":"*","Condition":{"StringNotEquals":{"aws:PrincipalTag/team":"db"}}}
            """;
        Assert.Equal(Decision.ExplicitDeny, Eval(s).Decision);
        Assert.True(Eval(s, context: Ctx("aws:PrincipalTag/team", "db")).IsAllowed);
        // IfExists does not help here (an absent key makes it true too); a Null check spares callers without the tag.
        Assert.Equal(Decision.ExplicitDeny, Eval(s.Replace("StringNotEquals", "StringNotEqualsIfExists", StringComparison.Ordinal)).Decision);
        var spared = s.Replace("}}}", "},\"Null\":{\"aws:PrincipalTag/team\":\"false\"}}}", StringComparison.Ordinal);
        Assert.True(Eval(spared).IsAllowed);
    }

    [Theory]
    [InlineData("true", false, true)]
    [InlineData("true", true, false)]
    [InlineData("false", true, true)]
    [InlineData("false", false, false)]
    public void Null_operator(string value, bool present, bool allowed) =>
        Assert.Equal(allowed, Cond("Null", "aws:TokenIssueTime", $"\"{value}\"", present ? Ctx("aws:TokenIssueTime", "x") : Empty));

    [Theory]
    // ForAnyValue: some request value is among the policy values; an absent key is false.
    [InlineData("ForAnyValue:StringEquals", new[] { "a", "z" }, true)]
    [InlineData("ForAnyValue:StringEquals", new[] { "y", "z" }, false)]
    [InlineData("ForAnyValue:StringEquals", null, false)]
    [InlineData("ForAnyValue:StringNotEquals", new[] { "a", "z" }, true)]
    [InlineData("ForAnyValue:StringNotEquals", new[] { "a", "b" }, false)]
    // ForAllValues: every request value is among the policy values; an absent key is TRUE.
    [InlineData("ForAllValues:StringEquals", new[] { "a", "b" }, true)]
    [InlineData("ForAllValues:StringEquals", new[] { "a", "z" }, false)]
    [InlineData("ForAllValues:StringEquals", null, true)]
    [InlineData("ForAllValues:StringNotEquals", new[] { "y", "z" }, true)]
    [InlineData("ForAllValues:StringNotEquals", new[] { "a", "z" }, false)]
    [InlineData("ForAllValues:StringLike", new[] { "a1", "b2" }, true)]
    // No qualifier on a multi-valued key: positive means any, negated means none.
    [InlineData("StringEquals", new[] { "z", "a" }, true)]
    [InlineData("StringNotEquals", new[] { "z", "a" }, false)]
    [InlineData("StringNotEquals", new[] { "y", "z" }, true)]
    public void Qualifiers(string op, string[]? requestValues, bool allowed)
    {
        var values = op.EndsWith("Like", StringComparison.Ordinal) ? "[\"a*\",\"b*\"]" : "[\"a\",\"b\"]";
        Assert.Equal(allowed, Cond(op, "aws:TagKeys", values, requestValues is null ? Empty : Ctx("aws:TagKeys", requestValues)));
    }

    [Fact]
    public void Condition_keys_ignore_case_and_blocks_are_anded()
    {
        const string s = """
            {"Effect":"Allow","Action":"*","Resource":"*","Condition":{
              "StringEquals":{"AWS:PrincipalTag/Team":"db","aws:username":"bob"},
              "Bool":{"aws:SecureTransport":"true"}}}
            """;
        var ctx = Ctx("aws:principaltag/team", "db").Set("aws:username", "bob").Set("aws:SecureTransport", "true");
        Assert.True(Eval(s, context: ctx).IsAllowed);
        ctx.Set("aws:SecureTransport", "false");
        Assert.False(Eval(s, context: ctx).IsAllowed);
    }

    // ---- policy variables -------------------------------------------------------------------------------

    [Fact]
    public void Policy_variables_in_resources_and_conditions()
    {
        const string s = """{"Effect":"Allow","Action":"secretsmanager:*","Resource":"arn:aws:secretsmanager:*:*:secret:home/${aws:username}/*"}""";
        var bob = Ctx("aws:username", "bob");
        Assert.True(Allows(s, resource: "arn:aws:secretsmanager:us-east-1:1:secret:home/bob/x-AbCdEf", context: bob));
        Assert.False(Allows(s, resource: "arn:aws:secretsmanager:us-east-1:1:secret:home/alice/x-AbCdEf", context: bob));
        // An absent variable matches nothing.
        Assert.False(Allows(s, resource: "arn:aws:secretsmanager:us-east-1:1:secret:home//x-AbCdEf"));
        // A substituted value is literal: a user named "*" does not get everyone's home.
        Assert.False(Allows(s, resource: "arn:aws:secretsmanager:us-east-1:1:secret:home/bob/x-AbCdEf", context: Ctx("aws:username", "*")));

        const string c = """{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEquals":{"aws:ResourceTag/owner":"${aws:username}"}}}""";
        Assert.True(Allows(c, context: Ctx("aws:username", "bob").Set("aws:ResourceTag/owner", "bob")));
        Assert.False(Allows(c, context: Ctx("aws:username", "bob").Set("aws:ResourceTag/owner", "eve")));
    }

    [Fact]
    public void Variable_defaults_and_escapes()
    {
        const string s = """{"Effect":"Allow","Action":"*","Resource":"arn:aws:secretsmanager:*:*:secret:${aws:PrincipalTag/team, 'shared'}/*"}""";
        Assert.True(Allows(s, resource: "arn:aws:secretsmanager:us-east-1:1:secret:shared/x"));
        Assert.True(Allows(s, resource: "arn:aws:secretsmanager:us-east-1:1:secret:db/x", context: Ctx("aws:PrincipalTag/team", "db")));
        const string star = """{"Effect":"Allow","Action":"*","Resource":"arn:aws:secretsmanager:*:*:secret:literal${*}"}""";
        Assert.True(Allows(star, resource: "arn:aws:secretsmanager:us-east-1:1:secret:literal*"));
        Assert.False(Allows(star, resource: "arn:aws:secretsmanager:us-east-1:1:secret:literalX"));
    }

    [Fact]
    public void Version_2008_treats_variables_as_text()
    {
        var p = Policy.Parse("""{"Version":"2008-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"arn:aws:s:::${aws:username}"}}""", PolicyKind.Identity, "old");
        var q = new AuthorizationQuery(Bob, "s:a", "arn:aws:s:::${aws:username}", Ctx("aws:username", "bob"));
        Assert.True(PolicyEvaluator.Evaluate(q, [p]).IsAllowed);
    }

    // ---- resource policies, principals, session policies -------------------------------------------------

    private static Policy Resource(string statements) =>
        Policy.Parse($$"""{"Version":"2012-10-17","Statement":[{{statements}}]}""", PolicyKind.Resource, "resource policy");

    private static EvaluationResult EvalResource(string identity, string resource, CallerIdentity caller, IReadOnlyList<Policy>? session = null) =>
        PolicyEvaluator.Evaluate(new AuthorizationQuery(caller, "secretsmanager:GetSecretValue", SecretArn, new ConditionValues()),
            identity.Length == 0 ? [] : [Identity(identity)], session, Resource(resource));

    [Fact]
    public void Resource_policy_alone_grants_a_named_principal()
    {
        var r = EvalResource("", $$"""{"Effect":"Allow","Principal":{"AWS":"{{Bob.Arn}}"},"Action":"secretsmanager:GetSecretValue","Resource":"*"}""", Bob);
        Assert.True(r.IsAllowed);
        Assert.Equal(PolicyKind.Resource, Assert.Single(r.Statements).Kind);
    }

    [Fact]
    public void Resource_policy_naming_the_account_delegates_to_identity_policies()
    {
        const string rp = """{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"*","Resource":"*"}""";
        Assert.False(EvalResource("", rp, Bob).IsAllowed);
        Assert.True(EvalResource("", rp, new CallerIdentity($"arn:aws:iam::{Account}:root", Account, IsAccountRoot: true)).IsAllowed);
    }

    [Fact]
    public void Resource_policy_deny_beats_identity_allow()
    {
        var r = EvalResource("""{"Effect":"Allow","Action":"*","Resource":"*"}""",
            """{"Sid":"Nope","Effect":"Deny","Principal":"*","Action":"secretsmanager:GetSecretValue","Resource":"*"}""", Bob);
        Assert.Equal(Decision.ExplicitDeny, r.Decision);
        Assert.Equal("with an explicit deny in a resource-based policy", r.Reason);
    }

    [Fact]
    public void Role_sessions_match_their_role_arn_and_NotPrincipal_excludes()
    {
        var session = new CallerIdentity($"arn:aws:sts::{Account}:assumed-role/app/s1", Account, RoleArn: $"arn:aws:iam::{Account}:role/app");
        Assert.True(EvalResource("", $$"""{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::{{Account}}:role/app"},"Action":"*","Resource":"*"}""", session).IsAllowed);
        const string deny = """{"Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:iam::111122223333:user/bob"},"Action":"*","Resource":"*"}""";
        Assert.Equal(Decision.ExplicitDeny, EvalResource("""{"Effect":"Allow","Action":"*","Resource":"*"}""", deny, session).Decision);
        Assert.True(EvalResource("""{"Effect":"Allow","Action":"*","Resource":"*"}""", deny, Bob).IsAllowed);
    }

    [Fact]
    public void Session_policies_only_narrow()
    {
        var session = new[] { Policy.Parse("""{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"secretsmanager:Describe*","Resource":"*"}}""", PolicyKind.Session, "session policy") };
        var q = new AuthorizationQuery(Bob, "secretsmanager:GetSecretValue", SecretArn, new ConditionValues());
        var all = Identity("""{"Effect":"Allow","Action":"*","Resource":"*"}""");
        var r = PolicyEvaluator.Evaluate(q, [all], session);
        Assert.Equal(Decision.ImplicitDeny, r.Decision);
        Assert.Equal("because no session policy allows the secretsmanager:GetSecretValue action", r.Reason);
        Assert.True(PolicyEvaluator.Evaluate(q with { Action = "secretsmanager:DescribeSecret" }, [all], session).IsAllowed);
        // A session policy cannot add what the identity lacks.
        Assert.False(PolicyEvaluator.Evaluate(q with { Action = "secretsmanager:DescribeSecret" }, [], session).IsAllowed);
    }

    [Fact]
    public void A_permissions_boundary_bounds_identity_policies_and_grants_nothing()
    {
        var q = new AuthorizationQuery(Bob, "secretsmanager:GetSecretValue", SecretArn, new ConditionValues());
        var all = Identity("""{"Effect":"Allow","Action":"*","Resource":"*"}""");
        var describeOnly = Identity("""{"Sid":"Bound","Effect":"Allow","Action":"secretsmanager:Describe*","Resource":"*"}""");
        var r = PolicyEvaluator.Evaluate(q, [all], boundary: describeOnly);
        Assert.Equal(Decision.ImplicitDeny, r.Decision);
        Assert.Equal("because no permissions boundary allows the secretsmanager:GetSecretValue action", r.Reason);
        var describe = PolicyEvaluator.Evaluate(q with { Action = "secretsmanager:DescribeSecret" }, [all], boundary: describeOnly);
        Assert.True(describe.IsAllowed);
        Assert.Contains(describe.Statements, s => s.Sid == "Bound");
        // The boundary allows, but no identity policy does: nothing is granted.
        Assert.Equal(Decision.ImplicitDeny, PolicyEvaluator.Evaluate(q with { Action = "secretsmanager:DescribeSecret" }, [], boundary: describeOnly).Decision);
        // An explicit deny in the boundary wins.
        var deny = Identity("""{"Effect":"Allow","Action":"*","Resource":"*"},{"Effect":"Deny","Action":"secretsmanager:GetSecretValue","Resource":"*"}""");
        var denied = PolicyEvaluator.Evaluate(q, [all], boundary: deny);
        Assert.Equal(Decision.ExplicitDeny, denied.Decision);
        Assert.Equal("with an explicit deny in a permissions boundary", denied.Reason);
    }

    [Fact]
    public void A_boundary_does_not_bound_a_resource_policy_naming_the_user_or_session_but_does_the_role()
    {
        var q = new AuthorizationQuery(Bob, "secretsmanager:GetSecretValue", SecretArn, new ConditionValues());
        var nothing = Identity("""{"Effect":"Allow","Action":"secretsmanager:ListSecrets","Resource":"*"}""");
        var toBob = Resource($$"""{"Effect":"Allow","Principal":{"AWS":"{{Bob.Arn}}"},"Action":"*","Resource":"*"}""");
        Assert.True(PolicyEvaluator.Evaluate(q, [], null, toBob, nothing).IsAllowed);

        var role = $"arn:aws:iam::{Account}:role/app";
        var session = new CallerIdentity($"arn:aws:sts::{Account}:assumed-role/app/s1", Account, RoleArn: role);
        var sq = q with { Caller = session };
        var toSession = Resource($$"""{"Effect":"Allow","Principal":{"AWS":"{{session.Arn}}"},"Action":"*","Resource":"*"}""");
        Assert.True(PolicyEvaluator.Evaluate(sq, [], null, toSession, nothing).IsAllowed);
        var toRole = Resource($$"""{"Effect":"Allow","Principal":{"AWS":"{{role}}"},"Action":"*","Resource":"*"}""");
        var bounded = PolicyEvaluator.Evaluate(sq, [], null, toRole, nothing);
        Assert.Equal(Decision.ImplicitDeny, bounded.Decision);
        Assert.Equal("because no permissions boundary allows the secretsmanager:GetSecretValue action", bounded.Reason);
        // Without a boundary the role's grant stands, as before.
        Assert.True(PolicyEvaluator.Evaluate(sq, [], null, toRole).IsAllowed);
    }

    [Fact]
    public void A_session_policy_does_not_limit_a_resource_policy_naming_the_session_but_does_the_role()
    {
        // STS API reference, AssumeRole Policy: a resource policy that names the session grants "in addition to the
        // permissions that are granted by the session policies"; one that names the role is limited by them.
        var role = $"arn:aws:iam::{Account}:role/app";
        var caller = new CallerIdentity($"arn:aws:sts::{Account}:assumed-role/app/s1", Account, RoleArn: role);
        var describeOnly = new[] { Policy.Parse("""{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"secretsmanager:Describe*","Resource":"*"}}""", PolicyKind.Session, "session policy") };
        string Grant(string principal) => $$"""{"Effect":"Allow","Principal":{{principal}},"Action":"secretsmanager:GetSecretValue","Resource":"*"}""";

        Assert.True(EvalResource("", Grant($$"""{"AWS":"{{caller.Arn}}"}"""), caller, describeOnly).IsAllowed);
        Assert.True(EvalResource("", Grant("\"*\""), caller, describeOnly).IsAllowed);
        var toRole = EvalResource("", Grant($$"""{"AWS":"{{role}}"}"""), caller, describeOnly);
        Assert.Equal(Decision.ImplicitDeny, toRole.Decision);
        Assert.Equal("because no session policy allows the secretsmanager:GetSecretValue action", toRole.Reason);
        // Nor does a boundary together with a session policy limit the session's own grant; an explicit deny in either still wins.
        var q = new AuthorizationQuery(caller, "secretsmanager:GetSecretValue", SecretArn, new ConditionValues());
        var listOnly = Identity("""{"Effect":"Allow","Action":"secretsmanager:ListSecrets","Resource":"*"}""");
        Assert.True(PolicyEvaluator.Evaluate(q, [], describeOnly, Resource(Grant($$"""{"AWS":"{{caller.Arn}}"}""")), listOnly).IsAllowed);
        var denyGet = new[] { Policy.Parse("""{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"secretsmanager:GetSecretValue","Resource":"*"}}""", PolicyKind.Session, "session policy") };
        Assert.Equal(Decision.ExplicitDeny, EvalResource("", Grant($$"""{"AWS":"{{caller.Arn}}"}"""), caller, denyGet).Decision);
    }

    [Fact]
    public void A_Deny_with_NotPrincipal_denies_a_bounded_caller_even_when_it_names_it()
    {
        // IAM User Guide, "Permissions boundaries for IAM entities" (Important): AWS's documented behaviour.
        var q = new AuthorizationQuery(Bob, "secretsmanager:GetSecretValue", SecretArn, new ConditionValues());
        var all = Identity("""{"Effect":"Allow","Action":"*","Resource":"*"}""");
        var exceptBob = Resource($$"""{"Effect":"Deny","NotPrincipal":{"AWS":"{{Bob.Arn}}"},"Action":"*","Resource":"*"}""");
        Assert.True(PolicyEvaluator.Evaluate(q, [all], null, exceptBob).IsAllowed);
        var bounded = PolicyEvaluator.Evaluate(q, [all], null, exceptBob, all);
        Assert.Equal(Decision.ExplicitDeny, bounded.Decision);
        Assert.Equal("with an explicit deny in a resource-based policy", bounded.Reason);
        // An Allow with NotPrincipal is unaffected.
        var allowExceptAlice = Resource("""{"Effect":"Allow","NotPrincipal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"*","Resource":"*"}""");
        Assert.True(PolicyEvaluator.Evaluate(q, [], null, allowExceptAlice, all).IsAllowed);
    }

    // ---- grammar -------------------------------------------------------------------------------------------

    [Theory]
    [InlineData("""{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*","Principal":"*"}}""", "should not specify a principal")]
    [InlineData("""{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*"}}""", "must contain resources")]
    [InlineData("""{"Version":"2012-10-17","Statement":{"Effect":"Permit","Action":"*","Resource":"*"}}""", "Effect")]
    [InlineData("""{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"get","Resource":"*"}}""", "service:action")]
    [InlineData("""{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringWhatever":{"a":"b"}}}}""", "Unknown condition operator")]
    [InlineData("""{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"NumericEquals":{"a":"b"}}}}""", "numbers")]
    [InlineData("""{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"IpAddress":{"a":"nope"}}}}""", "IP address")]
    [InlineData("""{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"DateLessThan":{"a":"soon"}}}}""", "dates")]
    [InlineData("""{"Version":"2012-10-17","Statement":[{"Sid":"A","Effect":"Allow","Action":"*","Resource":"*"},{"Sid":"A","Effect":"Allow","Action":"*","Resource":"*"}]}""", "unique")]
    [InlineData("""{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"bucket"}}""", "ARN format")]
    [InlineData("""{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Action":"*","Resource":"*"}}""", "JSON")]
    [InlineData("""{"Version":"2013-01-01","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}""", "Version")]
    public void Malformed_identity_policies_are_refused(string text, string fragment)
    {
        var e = Assert.Throws<ServiceException>(() => Policy.Parse(text, PolicyKind.Identity, "t"));
        Assert.Equal("MalformedPolicyDocumentException", e.Code);
        Assert.Contains(fragment, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Resource_policies_need_a_principal_and_detect_public_access()
    {
        Assert.Throws<ServiceException>(() => Policy.Parse("""{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}""", PolicyKind.Resource, "r"));
        Assert.True(Resource("""{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"*","Resource":"*"}""").GrantsPublicAccess());
        Assert.False(Resource("""{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/x"},"Action":"*","Resource":"*"}""").GrantsPublicAccess());
    }

    // ---- property: an explicit deny is never overridden -------------------------------------------------------

    [Fact]
    public void Random_policies_never_allow_what_an_explicit_deny_covers()
    {
        var rng = new Random(20261123);
        string[] actions = ["secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue", "secretsmanager:DescribeSecret", "iam:CreateUser"];
        string[] actionPatterns = ["*", "secretsmanager:*", "secretsmanager:Get*", "secretsmanager:GetSecretValue", "secretsmanager:Put?ecretValue", "iam:*", "secretsmanager:Describe*"];
        string[] resources = ["arn:aws:secretsmanager:us-east-1:111122223333:secret:a-AbCdEf", "arn:aws:secretsmanager:us-east-1:111122223333:secret:rds/x-AbCdEf", "arn:aws:iam::111122223333:user/bob"];
        string[] resourcePatterns = ["*", "arn:aws:secretsmanager:*:*:secret:*", "arn:aws:secretsmanager:*:*:secret:rds/*", "arn:aws:secretsmanager:us-east-1:111122223333:secret:a-??????", "arn:aws:iam::*:user/*"];
        string[] conditions = ["", ""","Condition":{"StringEquals":{"aws:username":"bob"}}""", ""","Condition":{"StringNotEquals":{"aws:PrincipalTag/t":"x"}}""",
            ""","Condition":{"Bool":{"aws:SecureTransport":"true"}}""", ""","Condition":{"IpAddressIfExists":{"aws:SourceIp":"10.0.0.0/8"}}"""];
        string Pick(string[] a) => a[rng.Next(a.Length)];
        string Statement(string effect)
        {
            var notA = rng.Next(5) == 0 ? "NotAction" : "Action";
            var notR = rng.Next(5) == 0 ? "NotResource" : "Resource";
            return $$"""{"Effect":"{{effect}}","{{notA}}":"{{Pick(actionPatterns)}}","{{notR}}":"{{Pick(resourcePatterns)}}"{{Pick(conditions)}}}""";
        }
        for (var i = 0; i < 3000; i++)
        {
            var statements = Enumerable.Range(0, rng.Next(1, 6)).Select(_ => Statement(rng.Next(3) == 0 ? "Deny" : "Allow")).ToList();
            var policy = Identity(string.Join(",", statements));
            var ctx = new ConditionValues();
            if (rng.Next(2) == 0) ctx.Set("aws:username", rng.Next(2) == 0 ? "bob" : "eve");
            if (rng.Next(2) == 0) ctx.Set("aws:PrincipalTag/t", "x");
            ctx.Set("aws:SecureTransport", rng.Next(2) == 0 ? "true" : "false");
            if (rng.Next(2) == 0) ctx.Set("aws:SourceIp", rng.Next(2) == 0 ? "10.1.1.1" : "192.168.0.1");
            var q = new AuthorizationQuery(Bob, Pick(actions), Pick(resources), ctx);
            var result = PolicyEvaluator.Evaluate(q, [policy]);
            var anyDenyCovers = policy.Statements.Any(s => !s.IsAllow && s.MatchesAction(q.Action.ToLowerInvariant())
                && s.MatchesResource(q.Resource, ctx) && s.MatchesConditions(ctx));
            var anyAllowCovers = policy.Statements.Any(s => s.IsAllow && s.MatchesAction(q.Action.ToLowerInvariant())
                && s.MatchesResource(q.Resource, ctx) && s.MatchesConditions(ctx));
            if (anyDenyCovers) Assert.Equal(Decision.ExplicitDeny, result.Decision);
            else Assert.Equal(anyAllowCovers, result.IsAllowed);
            // Adding a covering deny to any policy set always denies.
            var denyAll = Identity($$"""{"Effect":"Deny","Action":"{{q.Action}}","Resource":"{{q.Resource}}"}""");
            Assert.Equal(Decision.ExplicitDeny, PolicyEvaluator.Evaluate(q, [policy, denyAll]).Decision);
        }
    }
}
