using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Xml.Linq;
using Coffer.Core.Audit;
using Coffer.Core.Policies;
using Coffer.Core.Principals;
using Coffer.Crypto;
using Coffer.Protocol.Query;
using Coffer.Protocol.SigV4;
using Coffer.Protocol.Tests.SigV4;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging.Abstractions;

namespace Coffer.Protocol.Tests.Query;

/// <summary>
/// Signed IAM and STS calls through the Query edge: the tagging actions' XML, AssumeRole's session tags and
/// SourceIdentity on the wire and in the audit records (which never hold a secret key or session token).
/// </summary>
public sealed class QueryEndpointTests : IAsyncLifetime
{
    private const string Account = "123456789012";
    private static readonly DateTimeOffset Now = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);
    private static readonly XNamespace Iam = "https://iam.amazonaws.com/doc/2010-05-08/";
    private static readonly XNamespace Sts = "https://sts.amazonaws.com/doc/2011-06-15/";
    private readonly ConcurrentQueue<AuditEvent> _events = new();
    private readonly MasterKey _masterKey = MasterKey.Generate();
    private AuditKeys _auditKeys = null!;
    private AuditTrail _trail = null!;
    private QueryEndpoint _endpoint = null!;

    public async Task InitializeAsync()
    {
        var clock = new ManualClock(Now);
        var cipher = new EnvelopeCipher(MasterKey.Generate());
        var store = new MemoryIamStore();
        var directory = await IamDirectory.LoadAsync(store, Account, clock, default);
        var access = new AccessControl(directory, clock);
        var sessions = new SessionTokens(cipher, clock);
        var keys = new AccessKeyService(new MemoryAccountStore(), cipher, Account, clock) { Sessions = sessions };
        await keys.AddAdministratorKeyAsync(BotocoreVectors.AccessKeyId, BotocoreVectors.SecretAccessKey, default);
        var iam = new IamService(directory, access, keys, store, sessions);
        _auditKeys = new AuditKeys(_masterKey);
        _trail = new AuditTrail([new NullSink()], _auditKeys, new AuditOptions(), clock);
        _trail.Recorded += batch => { foreach (var e in batch) _events.Enqueue(e); };
        _endpoint = new QueryEndpoint(iam, new SigV4Verifier(keys, clock), clock, NullLogger<QueryEndpoint>.Instance, _trail);
    }

    public async Task DisposeAsync()
    {
        await _trail.DisposeAsync();
        _auditKeys.Dispose();
        _masterKey.Dispose();
    }

    private sealed record Credentials(string AccessKeyId, string SecretAccessKey, string? SessionToken);

    private static readonly Credentials Admin = new(BotocoreVectors.AccessKeyId, BotocoreVectors.SecretAccessKey, null);

    /// <summary>A form-encoded POST signed as botocore signs one (SigV4 over host, x-amz-date and the session token).</summary>
    private async Task<(int Status, XElement Xml)> Call(string service, Credentials creds, params (string Name, string Value)[] parameters)
    {
        var version = service == "iam" ? "2010-05-08" : "2011-06-15";
        var body = Encoding.UTF8.GetBytes(string.Join("&", parameters.Prepend(("Version", version))
            .Select(p => Uri.EscapeDataString(p.Item1) + "=" + Uri.EscapeDataString(p.Item2))));
        var http = new DefaultHttpContext();
        var request = http.Request;
        request.Method = "POST";
        request.Path = "/";
        http.Features.Get<IHttpRequestFeature>()!.RawTarget = "/";
        request.Scheme = "http";
        request.Headers.Host = "127.0.0.1:8390";
        request.ContentType = "application/x-www-form-urlencoded; charset=utf-8";
        var amzDate = Now.UtcDateTime.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture);
        request.Headers["X-Amz-Date"] = amzDate;
        var signedHeaders = "host;x-amz-date";
        if (creds.SessionToken is { } token)
        {
            request.Headers["X-Amz-Security-Token"] = token;
            signedHeaders += ";x-amz-security-token";
        }
        request.ContentLength = body.Length;
        request.Body = new MemoryStream(body);
        http.Connection.RemoteIpAddress = IPAddress.Loopback;
        http.Response.Body = new MemoryStream();

        var canonical = new Utf8Builder(1024);
        byte[] hash;
        try
        {
            SigV4Verifier.WriteCanonicalRequest(ref canonical, request, body, signedHeaders);
            hash = SHA256.HashData(canonical.Written);
        }
        finally { canonical.Dispose(); }
        var scope = $"{amzDate[..8]}/us-east-1/{service}/aws4_request";
        var toSign = $"AWS4-HMAC-SHA256\n{amzDate}\n{scope}\n{Convert.ToHexStringLower(hash)}";
        var key = Encoding.UTF8.GetBytes("AWS4" + creds.SecretAccessKey);
        foreach (var part in new[] { amzDate[..8], "us-east-1", service, "aws4_request" }) key = HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(part));
        var signature = Convert.ToHexStringLower(HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(toSign)));
        request.Headers.Authorization = $"AWS4-HMAC-SHA256 Credential={creds.AccessKeyId}/{scope}, SignedHeaders={signedHeaders}, Signature={signature}";

        await _endpoint.HandleAsync(http);
        http.Response.Body.Position = 0;
        return (http.Response.StatusCode, XElement.Parse(await new StreamReader(http.Response.Body).ReadToEndAsync()));
    }

    private static string Trust(params string[] actions) =>
        $$"""{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::{{Account}}:root"},"Action":{{JsonSerializer.Serialize(actions)}} }]}""";

    private async Task<List<AuditEvent>> EventsAsync(int count)
    {
        for (var i = 0; i < 200 && _events.Count < count; i++) await Task.Delay(10);
        return [.. _events];
    }

    [Fact]
    public async Task TagRole_ListRoleTags_and_UntagRole_speak_IAMs_XML()
    {
        var (status, _) = await Call("iam", Admin, ("Action", "CreateRole"), ("RoleName", "app"), ("AssumeRolePolicyDocument", Trust("sts:AssumeRole")),
            ("Tags.member.1.Key", "Team"), ("Tags.member.1.Value", "red"));
        Assert.Equal(200, status);
        (status, var tagged) = await Call("iam", Admin, ("Action", "TagRole"), ("RoleName", "app"),
            ("Tags.member.1.Key", "team"), ("Tags.member.1.Value", "blue"), ("Tags.member.2.Key", "env"), ("Tags.member.2.Value", "prod"));
        Assert.Equal(200, status);
        Assert.Equal("TagRoleResponse", tagged.Name.LocalName);
        (status, var listed) = await Call("iam", Admin, ("Action", "ListRoleTags"), ("RoleName", "app"), ("MaxItems", "1"));
        Assert.Equal(200, status);
        var result = listed.Element(Iam + "ListRoleTagsResult")!;
        var member = result.Element(Iam + "Tags")!.Element(Iam + "member")!;
        Assert.Equal(("env", "prod"), (member.Element(Iam + "Key")!.Value, member.Element(Iam + "Value")!.Value));
        Assert.Equal("true", result.Element(Iam + "IsTruncated")!.Value);
        (_, listed) = await Call("iam", Admin, ("Action", "ListRoleTags"), ("RoleName", "app"), ("Marker", result.Element(Iam + "Marker")!.Value));
        Assert.Equal(["team"], listed.Descendants(Iam + "Key").Select(k => k.Value));
        (status, _) = await Call("iam", Admin, ("Action", "UntagRole"), ("RoleName", "app"), ("TagKeys.member.1", "ENV"));
        Assert.Equal(200, status);
        (_, listed) = await Call("iam", Admin, ("Action", "ListRoleTags"), ("RoleName", "app"));
        Assert.Equal(["team"], listed.Descendants(Iam + "Key").Select(k => k.Value));

        (status, var error) = await Call("iam", Admin, ("Action", "TagUser"), ("UserName", "nobody"), ("Tags.member.1.Key", "k"), ("Tags.member.1.Value", "v"));
        Assert.Equal((404, "NoSuchEntity"), (status, error.Descendants(Iam + "Code").Single().Value));
        (status, error) = await Call("iam", Admin, ("Action", "TagRole"), ("RoleName", "app"),
            ("Tags.member.1.Key", "k"), ("Tags.member.1.Value", "1"), ("Tags.member.2.Key", "K"), ("Tags.member.2.Value", "2"));
        Assert.Equal((400, "InvalidInput"), (status, error.Descendants(Iam + "Code").Single().Value));

        var tagRole = (await EventsAsync(7)).First(e => e.EventName == "TagRole");
        Assert.Equal("""{"roleName":"app","tags":[{"key":"team","value":"blue"},{"key":"env","value":"prod"}]}""", Encoding.UTF8.GetString(tagRole.RequestParameters!));
    }

    [Fact]
    public async Task SimulatePrincipalPolicy_of_a_bounded_user_names_each_statements_source_type_and_the_boundary_decision()
    {
        const string all = """{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"secretsmanager:*","Resource":"*"}}""";
        var (_, created) = await Call("iam", Admin, ("Action", "CreatePolicy"), ("PolicyName", "bound"), ("PolicyDocument", all));
        var boundary = created.Descendants(Iam + "Arn").Single().Value;
        await Call("iam", Admin, ("Action", "CreateUser"), ("UserName", "bob"), ("PermissionsBoundary", boundary));
        await Call("iam", Admin, ("Action", "PutUserPolicy"), ("UserName", "bob"), ("PolicyName", "own"), ("PolicyDocument", all));
        await Call("iam", Admin, ("Action", "CreateGroup"), ("GroupName", "readers"));
        await Call("iam", Admin, ("Action", "AddUserToGroup"), ("GroupName", "readers"), ("UserName", "bob"));
        await Call("iam", Admin, ("Action", "PutGroupPolicy"), ("GroupName", "readers"), ("PolicyName", "read"), ("PolicyDocument", all));

        var (status, sim) = await Call("iam", Admin, ("Action", "SimulatePrincipalPolicy"), ("PolicySourceArn", $"arn:aws:iam::{Account}:user/bob"),
            ("ActionNames.member.1", "secretsmanager:GetSecretValue"));
        Assert.Equal(200, status);
        var result = sim.Descendants(Iam + "EvaluationResults").Single().Element(Iam + "member")!;
        Assert.Equal("allowed", result.Element(Iam + "EvalDecision")!.Value);
        // IAM's PolicySourceType values: user, group, role, aws-managed, user-managed, resource, none.
        Assert.Equal(["group", "user", "user-managed"], result.Element(Iam + "MatchedStatements")!.Elements(Iam + "member")
            .Select(m => m.Element(Iam + "SourcePolicyType")!.Value).Order(StringComparer.Ordinal));
        Assert.Equal("true", result.Element(Iam + "PermissionsBoundaryDecisionDetail")!.Element(Iam + "AllowedByPermissionsBoundary")!.Value);

        (status, _) = await Call("iam", Admin, ("Action", "DeleteUserPermissionsBoundary"), ("UserName", "bob"));
        Assert.Equal(200, status);
        (status, _) = await Call("iam", Admin, ("Action", "PutUserPermissionsBoundary"), ("UserName", "bob"), ("PermissionsBoundary", boundary));
        Assert.Equal(200, status);
        var put = (await EventsAsync(9)).Last(e => e.EventName == "PutUserPermissionsBoundary");
        Assert.Equal($$"""{"userName":"bob","permissionsBoundary":"{{boundary}}"}""", Encoding.UTF8.GetString(put.RequestParameters!));
    }

    [Fact]
    public async Task A_boundary_and_tags_are_in_the_User_and_Role_of_Create_and_Get_as_IAM_sends_them_and_not_in_the_lists()
    {
        // AttachedPermissionsBoundary: type "Policy" and the policy's ARN. ListUsers and ListRoles "do not return"
        // PermissionsBoundary or Tags (API Reference, ListUsers/ListRoles): GetUser/GetRole do.
        var (_, policy) = await Call("iam", Admin, ("Action", "CreatePolicy"), ("PolicyName", "bound"),
            ("PolicyDocument", """{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"secretsmanager:*","Resource":"*"}}"""));
        var boundary = policy.Descendants(Iam + "Arn").Single().Value;

        var (status, user) = await Call("iam", Admin, ("Action", "CreateUser"), ("UserName", "bob"), ("PermissionsBoundary", boundary),
            ("Tags.member.1.Key", "team"), ("Tags.member.1.Value", "blue"));
        Assert.Equal(200, status);
        AssertBoundary(user.Descendants(Iam + "User").Single(), boundary);
        (_, user) = await Call("iam", Admin, ("Action", "GetUser"), ("UserName", "bob"));
        AssertBoundary(user.Descendants(Iam + "User").Single(), boundary);
        Assert.Equal("blue", user.Descendants(Iam + "Tags").Single().Descendants(Iam + "Value").Single().Value);
        var (_, users) = await Call("iam", Admin, ("Action", "ListUsers"));
        Assert.Equal("bob", users.Descendants(Iam + "member").Single().Element(Iam + "UserName")!.Value);
        Assert.Empty(users.Descendants(Iam + "PermissionsBoundary"));
        Assert.Empty(users.Descendants(Iam + "Tags"));

        (status, var role) = await Call("iam", Admin, ("Action", "CreateRole"), ("RoleName", "app"), ("AssumeRolePolicyDocument", Trust("sts:AssumeRole")),
            ("PermissionsBoundary", boundary), ("Tags.member.1.Key", "team"), ("Tags.member.1.Value", "blue"));
        Assert.Equal(200, status);
        AssertBoundary(role.Descendants(Iam + "Role").Single(), boundary);
        (_, role) = await Call("iam", Admin, ("Action", "GetRole"), ("RoleName", "app"));
        AssertBoundary(role.Descendants(Iam + "Role").Single(), boundary);
        Assert.Equal("blue", role.Descendants(Iam + "Tags").Single().Descendants(Iam + "Value").Single().Value);
        var (_, roles) = await Call("iam", Admin, ("Action", "ListRoles"));
        Assert.Equal("app", roles.Descendants(Iam + "member").Single().Element(Iam + "RoleName")!.Value);
        Assert.Empty(roles.Descendants(Iam + "PermissionsBoundary"));
        Assert.Empty(roles.Descendants(Iam + "Tags"));
    }

    [Fact]
    public async Task CreateUser_and_CreateRole_records_carry_the_boundary_in_responseElements()
    {
        // CloudTrail's responseElements mirror the response in camelCase: user/role.permissionsBoundary.
        var (_, policy) = await Call("iam", Admin, ("Action", "CreatePolicy"), ("PolicyName", "bound"),
            ("PolicyDocument", """{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"secretsmanager:*","Resource":"*"}}"""));
        var boundary = policy.Descendants(Iam + "Arn").Single().Value;
        await Call("iam", Admin, ("Action", "CreateUser"), ("UserName", "bob"), ("PermissionsBoundary", boundary));
        await Call("iam", Admin, ("Action", "CreateRole"), ("RoleName", "app"), ("AssumeRolePolicyDocument", Trust("sts:AssumeRole")),
            ("PermissionsBoundary", boundary));
        await Call("iam", Admin, ("Action", "CreateUser"), ("UserName", "free"));

        var events = await EventsAsync(4);
        JsonElement Response(string action, string name) => events.Where(e => e.EventName == action)
            .Select(e => JsonDocument.Parse(e.ResponseElements!).RootElement)
            .Single(r => r.GetProperty(action == "CreateUser" ? "user" : "role").GetProperty(action == "CreateUser" ? "userName" : "roleName").GetString() == name);
        foreach (var (action, name, key) in new[] { ("CreateUser", "bob", "user"), ("CreateRole", "app", "role") })
        {
            var entity = Response(action, name).GetProperty(key);
            Assert.Equal(name, entity.GetProperty(key + "Name").GetString());
            var b = entity.GetProperty("permissionsBoundary");
            Assert.Equal(("Policy", boundary), (b.GetProperty("permissionsBoundaryType").GetString(), b.GetProperty("permissionsBoundaryArn").GetString()));
        }
        Assert.False(Response("CreateUser", "free").GetProperty("user").TryGetProperty("permissionsBoundary", out _));
    }

    private static void AssertBoundary(XElement entity, string policyArn)
    {
        var b = entity.Element(Iam + "PermissionsBoundary")!;
        Assert.Equal(("Policy", policyArn), (b.Element(Iam + "PermissionsBoundaryType")!.Value, b.Element(Iam + "PermissionsBoundaryArn")!.Value));
    }

    [Fact]
    public async Task AssumeRole_takes_session_tags_and_a_source_identity_and_chains_them()
    {
        await Call("iam", Admin, ("Action", "CreateRole"), ("RoleName", "first"), ("AssumeRolePolicyDocument", Trust("sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity")));
        await Call("iam", Admin, ("Action", "PutRolePolicy"), ("RoleName", "first"), ("PolicyName", "chain"),
            ("PolicyDocument", """{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:*","Resource":"*"}]}"""));
        await Call("iam", Admin, ("Action", "CreateRole"), ("RoleName", "second"), ("AssumeRolePolicyDocument", Trust("sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity")));

        var (status, xml) = await Call("sts", Admin, ("Action", "AssumeRole"), ("RoleArn", $"arn:aws:iam::{Account}:role/first"), ("RoleSessionName", "one"),
            ("Tags.member.1.Key", "team"), ("Tags.member.1.Value", "blue"), ("Tags.member.2.Key", "cost"), ("Tags.member.2.Value", "42"),
            ("TransitiveTagKeys.member.1", "team"), ("SourceIdentity", "alice"));
        Assert.Equal(200, status);
        var result = xml.Element(Sts + "AssumeRoleResult")!;
        Assert.Equal("alice", result.Element(Sts + "SourceIdentity")!.Value);
        Assert.Equal("1", result.Element(Sts + "PackedPolicySize")!.Value);
        var c = result.Element(Sts + "Credentials")!;
        var session = new Credentials(c.Element(Sts + "AccessKeyId")!.Value, c.Element(Sts + "SecretAccessKey")!.Value, c.Element(Sts + "SessionToken")!.Value);

        // Chained: the transitive tag and the source identity come along; setting the tag again is refused.
        (status, xml) = await Call("sts", session, ("Action", "AssumeRole"), ("RoleArn", $"arn:aws:iam::{Account}:role/second"), ("RoleSessionName", "two"));
        Assert.Equal(200, status);
        Assert.Equal("alice", xml.Descendants(Sts + "SourceIdentity").Single().Value);
        (status, xml) = await Call("sts", session, ("Action", "AssumeRole"), ("RoleArn", $"arn:aws:iam::{Account}:role/second"), ("RoleSessionName", "two"),
            ("Tags.member.1.Key", "Team"), ("Tags.member.1.Value", "red"));
        Assert.Equal((400, "InvalidParameterValue"), (status, xml.Descendants(Sts + "Code").Single().Value));

        var events = await EventsAsync(6);
        var assumes = events.Where(e => e.EventName == "AssumeRole").ToList();
        Assert.Equal(3, assumes.Count);
        var first = Encoding.UTF8.GetString(AuditJson.Serialize(assumes[0]));
        Assert.Contains("\"tags\":[{\"key\":\"team\",\"value\":\"blue\"},{\"key\":\"cost\",\"value\":\"42\"}]", first, StringComparison.Ordinal);
        Assert.Contains("\"transitiveTagKeys\":[\"team\"]", first, StringComparison.Ordinal);
        Assert.Contains("\"sourceIdentity\":\"alice\"", Encoding.UTF8.GetString(assumes[0].RequestParameters!), StringComparison.Ordinal);
        Assert.Contains("\"sourceIdentity\":\"alice\"", Encoding.UTF8.GetString(assumes[0].ResponseElements!), StringComparison.Ordinal);
        // The chained call: made by a session whose identity names its source identity, inheriting its transitive tag.
        using var chained = JsonDocument.Parse(AuditJson.Serialize(assumes[1]));
        Assert.Equal("alice", chained.RootElement.GetProperty("userIdentity").GetProperty("sessionContext").GetProperty("sourceIdentity").GetString());
        Assert.Equal("blue", chained.RootElement.GetProperty("requestParameters").GetProperty("incomingTransitiveTags").GetProperty("team").GetString());
        Assert.Equal("InvalidParameterValue", assumes[2].ErrorCode);
        foreach (var e in events)
        {
            var text = Encoding.UTF8.GetString(AuditJson.Serialize(e));
            Assert.DoesNotContain(session.SecretAccessKey, text, StringComparison.Ordinal);
            Assert.DoesNotContain(session.SessionToken![..24], text, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Session_tags_without_TagSession_are_AccessDenied_and_oversized_ones_PackedPolicyTooLarge()
    {
        await Call("iam", Admin, ("Action", "CreateUser"), ("UserName", "bob"));
        await Call("iam", Admin, ("Action", "CreateRole"), ("RoleName", "plain"),
            ("AssumeRolePolicyDocument", $$"""{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::{{Account}}:user/bob"},"Action":"sts:AssumeRole"}]}"""));
        var (_, created) = await Call("iam", Admin, ("Action", "CreateAccessKey"), ("UserName", "bob"));
        var bob = new Credentials(created.Descendants(Iam + "AccessKeyId").Single().Value, created.Descendants(Iam + "SecretAccessKey").Single().Value, null);
        var (status, xml) = await Call("sts", bob, ("Action", "AssumeRole"), ("RoleArn", $"arn:aws:iam::{Account}:role/plain"), ("RoleSessionName", "s1"),
            ("Tags.member.1.Key", "team"), ("Tags.member.1.Value", "blue"));
        Assert.Equal((403, "AccessDenied"), (status, xml.Descendants(Sts + "Code").Single().Value));
        Assert.Contains("sts:TagSession", xml.Descendants(Sts + "Message").Single().Value, StringComparison.Ordinal);
        (status, _) = await Call("sts", bob, ("Action", "AssumeRole"), ("RoleArn", $"arn:aws:iam::{Account}:role/plain"), ("RoleSessionName", "s1"));
        Assert.Equal(200, status);

        var big = Enumerable.Range(1, 20).SelectMany(i => new[] { ($"Tags.member.{i}.Key", $"k{i:D2}" + new string('k', 120)), ($"Tags.member.{i}.Value", new string('v', 256)) });
        (status, xml) = await Call("sts", Admin, [("Action", "AssumeRole"), ("RoleArn", $"arn:aws:iam::{Account}:role/plain"), ("RoleSessionName", "s1"), .. big]);
        Assert.Equal((400, "PackedPolicyTooLarge"), (status, xml.Descendants(Sts + "Code").Single().Value));
    }

    private sealed class NullSink : IAuditSink
    {
        public string Name => "memory";
        public void Write(IReadOnlyList<AuditRecord> records, AuditCheckpoint? checkpoint, bool durable) { }
        public void Probe() { }
        public AuditChainHead? ReadHead() => null;
        public void Dispose() { }
    }

    /// <summary>IAM entities and keys in memory (the SQLite store has its own tests).</summary>
    private sealed class MemoryIamStore : IIamStore
    {
        private readonly ConcurrentDictionary<(string, string), IamEntityRow> _rows = new();

        public Task<IReadOnlyList<IamEntityRow>> LoadIamEntitiesAsync(CancellationToken ct) => Task.FromResult<IReadOnlyList<IamEntityRow>>([.. _rows.Values]);
        public Task PutIamEntityAsync(IamEntityRow row, CancellationToken ct) { _rows[(row.Kind, row.Name)] = row; return Task.CompletedTask; }
        public Task DeleteIamEntityAsync(string kind, string name, CancellationToken ct) { _rows.TryRemove((kind, name), out _); return Task.CompletedTask; }
        public Task<IReadOnlyList<AccessKeyRecord>> ListAccessKeysAsync(string userName, CancellationToken ct) => Task.FromResult<IReadOnlyList<AccessKeyRecord>>([]);
        public Task<bool> UpdateAccessKeyStatusAsync(string accessKeyId, string status, CancellationToken ct) => Task.FromResult(false);
        public Task DeleteAccessKeyAsync(string accessKeyId, CancellationToken ct) => Task.CompletedTask;
    }
}
