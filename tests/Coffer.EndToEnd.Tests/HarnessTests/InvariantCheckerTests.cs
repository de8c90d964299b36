using Coffer.EndToEnd.Tests.Harness;

namespace Coffer.EndToEnd.Tests.HarnessTests;

/// <summary>The invariant checker passes a clean history and reports a lost write, a changed value and a stray version.</summary>
public sealed class InvariantCheckerTests(SharedServerFixture fixture) : IClassFixture<SharedServerFixture>
{
    [Fact]
    public async Task Reports_lost_writes_changed_values_and_unknown_versions()
    {
        var values = new SeededValues(42);
        var history = new ClientHistory();
        const string secret = "e2e/checker/one";
        async Task WriteAsync(string action, bool record)
        {
            string token = Guid.NewGuid().ToString();
            var value = values.For(token);
            var body = SecretsClient.Obj((action == "CreateSecret" ? "Name" : "SecretId", secret), ("ClientRequestToken", token));
            value.WriteTo(body);
            long sent = ClientHistory.Now;
            var response = (await fixture.Client.CallAsync(action, body)).EnsureSuccess();
            if (record)
            {
                history.Append(0, action, secret, token, value.Hash, sent, Outcome.Acknowledged, response.Str("VersionId"), 200, null);
            }
        }

        await WriteAsync("CreateSecret", record: true);
        await WriteAsync("PutSecretValue", record: true);
        await WriteAsync("PutSecretValue", record: true);
        var checker = new InvariantChecker(fixture.Client, values);
        var clean = await checker.CheckAsync(history.Entries, [secret], new InvariantCheckOptions { Seed = 1 });
        Assert.Empty(clean);

        // A write the server never saw, claimed as acknowledged; a known version with another value's hash.
        var lost = history.Entries.ToList();
        lost.Add(lost[^1] with { Token = Guid.NewGuid().ToString(), Sequence = 99 });
        lost[1] = lost[1] with { ValueHash = SeededValues.Hash("something else"u8) };
        var broken = await checker.CheckAsync(lost, [secret], new InvariantCheckOptions { Seed = 1, ReplaysPerSecret = 0, DifferentValueReplaysPerSecret = 0 });
        Assert.Contains(broken, v => v.Contains("I1: acknowledged PutSecretValue", StringComparison.Ordinal) && v.Contains("is missing", StringComparison.Ordinal));
        Assert.Contains(broken, v => v.Contains("hash differs", StringComparison.Ordinal));

        // A version that is in no history.
        await WriteAsync("PutSecretValue", record: false);
        var stray = await checker.CheckAsync(history.Entries, [secret], new InvariantCheckOptions { Seed = 1, ReplaysPerSecret = 0, DifferentValueReplaysPerSecret = 0 });
        Assert.Contains(stray, v => v.Contains("matches no write", StringComparison.Ordinal));

        Assert.Empty(await InvariantChecker.SqliteIntegrityAsync(fixture.Server.DataDirectory));
    }
}
