using Coffer.Core.Alerts;
using Coffer.Core.Audit;

namespace Coffer.Core.Tests.Audit;

public sealed class AlertRulesTests
{
    [Fact]
    public void A_burst_of_denials_for_one_principal_alerts_once()
    {
        var stream = new AlertStream();
        var alerts = new List<Alert>();
        stream.Subscribe(alerts.Add);
        var rules = new AlertRules(stream, new AlertRuleOptions { DenialThreshold = 5 }, TimeProvider.System);
        for (var i = 0; i < 4; i++) rules.Observe(AuditFixture.Event(error: "AccessDeniedException"));
        Assert.Empty(alerts);
        for (var i = 0; i < 10; i++) rules.Observe(AuditFixture.Event(error: "AccessDeniedException"));
        var alert = Assert.Single(alerts);
        Assert.Equal("denial-burst", alert.Rule);
        Assert.Equal(AuditFixture.Alice.Arn, alert.Principal);
        // Successes and ordinary failures are no denials.
        rules.Observe(AuditFixture.Event(error: "ResourceNotFoundException", who: AuditFixture.Alice with { Arn = "arn:aws:iam::1:user/x" }));
        Assert.Single(alerts);
    }

    [Theory]
    [InlineData("secretsmanager.amazonaws.com", "GetSecretValue", "InvalidSignatureException")]
    // IAM and STS answer AWS Query codes (no "Exception" suffix); `coffer audit --outcome unauthenticated` and the
    // denial-burst rule must see them as the JSON endpoint's rejections.
    [InlineData("iam.amazonaws.com", "ListUsers", "MissingAuthenticationToken")]
    [InlineData("iam.amazonaws.com", "ListUsers", "IncompleteSignature")]
    [InlineData("iam.amazonaws.com", "ListUsers", "ExpiredToken")]
    [InlineData("iam.amazonaws.com", "ListUsers", "InvalidClientTokenId")]
    [InlineData("iam.amazonaws.com", "ListUsers", "SignatureDoesNotMatch")]
    public void Unauthenticated_calls_count_per_claimed_access_key(string source, string eventName, string code)
    {
        Assert.Equal(AuditOutcome.Unauthenticated, AuditOutcomes.Of(code));
        var stream = new AlertStream();
        var alerts = new List<Alert>();
        stream.Subscribe(alerts.Add);
        var rules = new AlertRules(stream, new AlertRuleOptions { DenialThreshold = 3 }, TimeProvider.System);
        for (var i = 0; i < 3; i++)
            rules.Observe(new AuditEvent
            {
                EventTime = DateTimeOffset.UtcNow, EventSource = source, EventName = eventName, AwsRegion = "us-east-1",
                UserIdentity = AuditIdentity.Unauthenticated("AKIAEVIL"), RequestId = "r", ReadOnly = true, ErrorCode = code,
            });
        Assert.Equal("access-key:AKIAEVIL", Assert.Single(alerts).Principal);
    }

    [Fact]
    public void A_read_rate_far_above_the_trailing_rate_alerts()
    {
        var stream = new AlertStream();
        var alerts = new List<Alert>();
        stream.Subscribe(alerts.Add);
        var rules = new AlertRules(stream, new AlertRuleOptions { ReadSpikeMinimum = 20, ReadSpikeFactor = 10 }, TimeProvider.System);
        for (var i = 0; i < 25; i++) rules.Observe(AuditFixture.Event());
        var alert = Assert.Single(alerts);
        Assert.Equal("read-spike", alert.Rule);
        Assert.Contains(":secret:db-", alert.Resource);
    }

    [Fact]
    public void A_sink_failure_alerts()
    {
        var stream = new AlertStream();
        var alerts = new List<Alert>();
        stream.Subscribe(alerts.Add);
        var rules = new AlertRules(stream, new AlertRuleOptions(), TimeProvider.System);
        rules.SinkFailed(new AuditSinkFailure("file:/x", "IOException", DateTimeOffset.UtcNow));
        rules.SinkFailed(new AuditSinkFailure("file:/x", "IOException", DateTimeOffset.UtcNow));
        Assert.Equal("audit-sink-failure", Assert.Single(alerts).Rule);
    }
}
