using Coffer.Core.Alerts;
using Coffer.Core.Audit;
using Coffer.Core.Rotation;
using Coffer.Crypto;
using Microsoft.Extensions.Logging.Abstractions;

namespace Coffer.Rotation.Tests;

/// <summary>Rotation events reach the audit trail as CloudTrail service events (spec §4.7) and failures the alert stream.</summary>
public sealed class RotationAuditTests
{
    [Fact]
    public async Task Started_failed_and_succeeded_are_audited_and_failures_alert()
    {
        await using var rig = new RotationRig();
        var fn = new ScriptedFunction(() => rig.Secrets);
        rig.Catalog.Register("scripted", fn);
        var dir = Directory.CreateTempSubdirectory("coffer-rot-audit-").FullName;
        using var key = MasterKey.Generate();
        using var keys = new AuditKeys(key);
        await using var trail = new AuditTrail([new JsonLinesFileSink(Path.Combine(dir, "audit.jsonl"))], keys, new AuditOptions(), TimeProvider.System);
        var recorded = new List<AuditEvent>();
        trail.Recorded += events => { lock (recorded) recorded.AddRange(events); };
        var alerts = new List<Alert>();
        var stream = new AlertStream();
        stream.Subscribe(a => { lock (alerts) alerts.Add(a); });
        new AlertRules(stream, new AlertRuleOptions(), TimeProvider.System).Watch(trail);
        var engine = new RotationEngine(rig.Secrets, rig.Catalog, rig.Options, rig.Clock, NullLogger<RotationEngine>.Instance) { Audit = trail };

        var arn = await rig.CreateAsync("audited", "v0");
        var token = (await rig.RotateAsync(arn, "scripted")).VersionId!;
        fn.FailNext(RotationSteps.SetSecret, new RotationStepException(RotationFailureKind.Transient, "could not connect to the database"), times: 2);
        for (var i = 0; i < 3; i++)
        {
            await engine.TickAsync(default);
            await engine.WhenIdleAsync();
            rig.Clock.Advance(TimeSpan.FromMinutes(10));
        }
        for (var i = 0; i < 50 && recorded.Count < 4; i++) await Task.Delay(20); // the audit writer thread
        string[] names;
        lock (recorded) names = [.. recorded.Select(e => e.EventName)];
        Assert.Equal(["RotationStarted", "RotationFailed", "RotationFailed", "RotationSucceeded"], names);
        var failed = recorded[1];
        Assert.Equal(("AwsServiceEvent", "RotationFailed"), (failed.EventType, failed.ErrorCode));
        Assert.Contains("during setSecret step", failed.ErrorMessage);
        Assert.Equal(new AuditResource(arn, RotationRig.Account, VersionId: token), failed.Resources.Single());
        // The two failures are 10 minutes apart, beyond the 5-minute cooldown: one alert each.
        lock (alerts) Assert.Equal(2, alerts.Count(a => a.Rule == "rotation-failed" && a.Resource == arn));
        try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
    }
}
