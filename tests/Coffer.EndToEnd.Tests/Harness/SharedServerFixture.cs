using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;

namespace Coffer.EndToEnd.Tests.Harness;

/// <summary>
/// One <c>coffer server</c> for a test class whose tests do not need a node of their own, with two secrets to
/// compare before and after bad requests. Every response goes to <see cref="Journal"/>.
/// </summary>
public sealed class SharedServerFixture : IAsyncLifetime
{
    internal const string Alpha = "e2e/shared/alpha";
    internal const string Beta = "e2e/shared/beta";

    private CofferProcess? _server;
    private SecretsClient? _client;

    internal CofferProcess Server => _server ?? throw new InvalidOperationException("fixture not started");
    internal SecretsClient Client => _client ?? throw new InvalidOperationException("fixture not started");
    internal ResponseJournal Journal { get; } = new();

    /// <summary>Why the fixture secrets could not be created, if they could not (tests then fail with this).</summary>
    internal string? SetupProblem { get; private set; }

    public async Task InitializeAsync()
    {
        _server = await CofferProcess.StartAsync(new CofferServerOptions { Name = "shared" });
        _client = _server.CreateClient(Journal);
        var alpha = await Client.CallAsync("CreateSecret", SecretsClient.Obj(
            ("Name", Alpha), ("ClientRequestToken", Guid.NewGuid().ToString()), ("SecretString", "alpha-value-1"),
            ("Description", "fixture secret")));
        var beta = await Client.CallAsync("CreateSecret", SecretsClient.Obj(
            ("Name", Beta), ("ClientRequestToken", Guid.NewGuid().ToString()),
            ("SecretBinary", Convert.ToBase64String(RandomNumberGenerator.GetBytes(48))),
            ("Tags", new JsonArray(SecretsClient.Obj(("Key", "team"), ("Value", "e2e"))))));
        if (!alpha.IsSuccess || !beta.IsSuccess)
        {
            SetupProblem = $"fixture CreateSecret failed: {alpha.Describe()}; {beta.Describe()}";
        }
    }

    /// <summary>
    /// A digest of everything the API shows about the store: secrets (planned deletions included), their
    /// metadata, versions, labels and current value hashes. LastAccessedDate is left out because reads move it.
    /// </summary>
    internal async Task<string> StateDigestAsync()
    {
        Assert.True(SetupProblem is null, SetupProblem);
        var text = new StringBuilder();
        var secrets = await Client.ListAllAsync("ListSecrets",
            SecretsClient.Obj(("IncludePlannedDeletion", true), ("MaxResults", 100)), "SecretList");
        Assert.True(secrets.Count >= 2, $"ListSecrets shows {secrets.Count} secrets; the fixture created 2");
        foreach (string arn in secrets.Select(s => s["ARN"]!.GetValue<string>()).Order(StringComparer.Ordinal))
        {
            var describe = (await Client.CallAsync("DescribeSecret", SecretsClient.Obj(("SecretId", arn)))).EnsureSuccess();
            var d = (JsonObject)describe.Json!.DeepClone();
            d.Remove("LastAccessedDate");
            text.Append(Canonical(d)).Append('\n');
            var versions = await Client.ListAllAsync("ListSecretVersionIds",
                SecretsClient.Obj(("SecretId", arn), ("IncludeDeprecated", true)), "Versions");
            foreach (var v in versions.OrderBy(v => v["VersionId"]!.GetValue<string>(), StringComparer.Ordinal))
            {
                var copy = (JsonObject)v.DeepClone();
                copy.Remove("LastAccessedDate");
                text.Append("  ").Append(Canonical(copy)).Append('\n');
            }

            if (versions.Count > 0)
            {
                var current = (await Client.CallAsync("GetSecretValue", SecretsClient.Obj(("SecretId", arn)))).EnsureSuccess();
                text.Append("  current ").Append(current.Str("VersionId")).Append(' ').Append(InvariantChecker.HashOf(current.Json)).Append('\n');
            }
        }

        return text.ToString();
    }

    /// <summary>JSON with object members sorted, so equal states give equal strings.</summary>
    private static string Canonical(JsonNode? node) => node switch
    {
        JsonObject o => "{" + string.Join(",", o.OrderBy(p => p.Key, StringComparer.Ordinal)
            .Select(p => SecretsClient.Serialize(JsonValue.Create(p.Key)) + ":" + Canonical(p.Value))) + "}",
        JsonArray a => "[" + string.Join(",", a.Select(Canonical).Order(StringComparer.Ordinal)) + "]",
        null => "null",
        _ => node.ToJsonString(),
    };

    public async Task DisposeAsync()
    {
        _client?.Dispose();
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
    }
}
