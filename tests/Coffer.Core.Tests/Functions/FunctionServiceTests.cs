using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using Coffer.Core.Functions;
using Coffer.Core.Policies;
using Coffer.Core.Principals;
using Coffer.Core.Tests.Principals;
using Coffer.Crypto;
using Coffer.Storage.Sqlite;

namespace Coffer.Core.Tests.Functions;

/// <summary>
/// The Lambda control plane (issue 6) on a real SQLite file with an injected clock: the actions' rules, access
/// control (identity policies, iam:PassRole, the function's resource policy), sealing at rest, the directory the
/// rotation engine reads, and Invoke's mapping of what a runner returns. The runner is a stub here: the real one
/// lives in Coffer.Functions and is tested there.
/// </summary>
public sealed class FunctionServiceTests : IAsyncLifetime
{
    private const string Account = "111111111111";
    private const string Region = "us-east-1";
    private const string Canary = "env-canary-91d0c2";
    private readonly string _dir = Directory.CreateTempSubdirectory("coffer-fn-").FullName;
    private readonly ManualTime _time = new(new DateTimeOffset(2026, 3, 1, 12, 0, 0, TimeSpan.Zero));
    private readonly EnvelopeCipher _cipher = new(MasterKey.Generate());
    private SqliteStore _store = null!;
    private IamDirectory _directory = null!;
    private IamService _iam = null!;
    private FunctionService _functions = null!;
    private string _role = null!;

    private static readonly Principal Admin = new($"arn:aws:iam::{Account}:user/coffer-admin", Account, "AIDAADMIN", "coffer-admin", "AKIAADMIN", true);
    private static RequestContext As(Principal p) => new(p, Region, "req-1", "10.0.0.1");

    public async Task InitializeAsync()
    {
        _store = SqliteStore.Open(Path.Combine(_dir, "coffer.db"));
        _directory = await IamDirectory.LoadAsync(_store, Account, _time, default);
        var access = new AccessControl(_directory, _time);
        var keys = new AccessKeyService(_store, _cipher, Account, _time);
        _iam = new IamService(_directory, access, keys, _store, new SessionTokens(_cipher, _time));
        _functions = new FunctionService(_store, _cipher, Account, Region, _time) { Access = access };
        _role = (await _iam.CreateRoleAsync(As(Admin), "lambda-exec", null, Trust("lambda.amazonaws.com"), null, null, null, default)).Arn;
    }

    public async Task DisposeAsync()
    {
        await _store.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    private static string Trust(string service) =>
        $$"""{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"{{service}}"},"Action":"sts:AssumeRole"}]}""";

    internal static byte[] Zip(string source = "def handler(event, context):\n    return event\n")
    {
        using var buffer = new MemoryStream();
        using (var zip = new ZipArchive(buffer, ZipArchiveMode.Create, leaveOpen: true))
        {
            using var writer = new StreamWriter(zip.CreateEntry("app.py").Open());
            writer.Write(source);
        }
        return buffer.ToArray();
    }

    private Task<FunctionConfiguration> CreateAsync(string name, RequestContext? ctx = null, byte[]? zip = null,
        IReadOnlyDictionary<string, string>? environment = null, string? runtime = "python3.11", string? role = null) =>
        _functions.CreateFunctionAsync(ctx ?? As(Admin), new CreateFunctionRequest
        {
            FunctionName = name, Runtime = runtime, Role = role ?? _role, Handler = "app.handler", ZipFile = zip ?? Zip(), Environment = environment,
        }, default);

    private async Task<Principal> UserAsync(string name, params string[] statements)
    {
        var user = await _iam.CreateUserAsync(As(Admin), name, null, null, default);
        if (statements.Length > 0)
            await _iam.PutInlinePolicyAsync(As(Admin), "user", name, "p", $$"""{"Version":"2012-10-17","Statement":[{{string.Join(",", statements)}}]}""", default);
        return new Principal(user.Arn, Account, user.UserId, user.UserName, "AKIAUSER" + name.ToUpperInvariant(), false);
    }

    private static async Task<ServiceException> Refused(string code, Func<Task> call)
    {
        var e = await Assert.ThrowsAsync<ServiceException>(call);
        Assert.Equal(code, e.Code);
        return e;
    }

    [Fact]
    public async Task Create_describes_the_function_and_the_directory_finds_it_by_name_arn_and_latest()
    {
        var zip = Zip();
        var created = await CreateAsync("rotate-db", zip: zip, environment: new Dictionary<string, string> { ["DB_PASSWORD_HINT"] = Canary });
        Assert.Equal($"arn:aws:lambda:{Region}:{Account}:function:rotate-db", created.FunctionArn);
        Assert.Equal(Convert.ToBase64String(SHA256.HashData(zip)), created.CodeSha256);
        Assert.Equal(zip.Length, created.CodeSize);
        Assert.Equal((3, 128), (created.Timeout, created.MemorySize));
        Assert.Equal(_time.GetUtcNow(), created.LastModified);

        foreach (var id in new[] { "rotate-db", created.FunctionArn, created.FunctionArn + ":$LATEST", $"{Account}:function:rotate-db" })
        {
            var found = await _functions.FindAsync(id, default);
            Assert.NotNull(found);
            Assert.Equal(zip, found.ZipFile.ToArray());
            Assert.Equal(Canary, found.Configuration.Environment["DB_PASSWORD_HINT"]);
            Assert.Equal(created.RevisionId, found.Configuration.RevisionId);
        }
        Assert.Null(await _functions.FindAsync("rotate-db:3", default));
        Assert.Null(await _functions.FindAsync("arn:aws:lambda:us-east-1:222222222222:function:rotate-db", default));
        Assert.Null(await _functions.FindAsync("missing", default));
        Assert.Null(await _functions.FindAsync("not a name", default));
        Assert.DoesNotContain(Canary, (await _functions.FindAsync("rotate-db", default))!.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Exists_answers_as_find_does_without_opening_the_package_even_inside_a_store_write()
    {
        var created = await CreateAsync("exists-fn");
        foreach (var id in new[] { "exists-fn", created.FunctionArn, created.FunctionArn + ":$LATEST" })
            Assert.True(await _functions.ExistsAsync(id, default), id);
        foreach (var id in new[] { "exists-fn:3", "arn:aws:lambda:us-east-1:222222222222:function:exists-fn", "missing", "not a name" })
            Assert.False(await _functions.ExistsAsync(id, default), id);
        // Nothing is decrypted: a service with another master key still sees that the function exists.
        var stranger = new FunctionService(_store, new EnvelopeCipher(MasterKey.Generate()), Account, Region, _time);
        Assert.True(await stranger.ExistsAsync("exists-fn", default));
        // SecretService asks from inside its write transaction (RotateSecret): the read must not wait on the writer.
        var inside = _store.WriteAsync(_ => _functions.ExistsAsync("exists-fn", default).GetAwaiter().GetResult(), default);
        Assert.True(await inside.WaitAsync(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task Code_and_environment_are_sealed_at_rest()
    {
        const string marker = "code-marker-5b7e1a";
        // Stored uncompressed so that the marker would be visible in the file if the package were not sealed.
        using var buffer = new MemoryStream();
        using (var archive = new ZipArchive(buffer, ZipArchiveMode.Create, leaveOpen: true))
        {
            using var w = new StreamWriter(archive.CreateEntry("app.py", CompressionLevel.NoCompression).Open());
            w.Write("# " + marker + "\n");
        }
        await CreateAsync("sealed", zip: buffer.ToArray(), environment: new Dictionary<string, string> { ["TOKEN"] = Canary });
        await _store.DisposeAsync();
        foreach (var file in Directory.GetFiles(_dir, "coffer.db*"))
        {
            var text = Encoding.Latin1.GetString(await File.ReadAllBytesAsync(file));
            Assert.DoesNotContain(Canary, text, StringComparison.Ordinal);
            Assert.DoesNotContain(marker, text, StringComparison.Ordinal);
        }
        _store = SqliteStore.Open(Path.Combine(_dir, "coffer.db"));
        var functions = new FunctionService(_store, _cipher, Account, Region, _time);
        Assert.Equal(Canary, (await functions.FindAsync("sealed", default))!.Configuration.Environment["TOKEN"]);
        // Another master key cannot open it.
        var stranger = new FunctionService(_store, new EnvelopeCipher(MasterKey.Generate()), Account, Region, _time);
        await Assert.ThrowsAnyAsync<Exception>(() => stranger.FindAsync("sealed", default));
    }

    [Fact]
    public async Task Requests_are_validated_before_anything_is_written()
    {
        await Refused("InvalidParameterValueException", () => CreateAsync("f1", runtime: "java21"));
        await Refused("InvalidParameterValueException", () => CreateAsync("f1", runtime: "python2.7"));
        await Refused("InvalidParameterValueException", () => CreateAsync("f1", runtime: null));
        await Refused("InvalidParameterValueException", () => CreateAsync("f1", zip: "not a zip"u8.ToArray()));
        await Refused("ValidationException", () => CreateAsync("bad name"));
        await Refused("ValidationException", () => CreateAsync(new string('a', 65)));
        await Refused("ValidationException", () => CreateAsync("f1", role: "not-an-arn"));
        var e = await Refused("InvalidParameterValueException", () => CreateAsync("f1", role: $"arn:aws:iam::{Account}:role/missing"));
        Assert.Equal(FunctionErrors.RoleCannotBeAssumed, e.Message);
        var ec2 = await _iam.CreateRoleAsync(As(Admin), "ec2-only", null, Trust("ec2.amazonaws.com"), null, null, null, default);
        await Refused("InvalidParameterValueException", () => CreateAsync("f1", role: ec2.Arn));
        e = await Refused("InvalidParameterValueException", () => CreateAsync("f1", environment: new Dictionary<string, string> { ["AWS_REGION"] = "x" }));
        Assert.Contains("AWS_REGION", e.Message, StringComparison.Ordinal);
        e = await Refused("InvalidParameterValueException", () => CreateAsync("f1", environment: new Dictionary<string, string> { ["BIG"] = new string('x', 5000) }));
        Assert.DoesNotContain("xxxx", e.Message, StringComparison.Ordinal);
        await Refused("ValidationException", () => _functions.CreateFunctionAsync(As(Admin),
            new CreateFunctionRequest { FunctionName = "f1", Runtime = "python3.11", Role = _role, Handler = "app.handler", ZipFile = Zip(), Timeout = 0 }, default));
        await Refused("ValidationException", () => _functions.CreateFunctionAsync(As(Admin),
            new CreateFunctionRequest { FunctionName = "f1", Runtime = "python3.11", Role = _role, Handler = "app.handler", ZipFile = Zip(), MemorySize = 10241 }, default));
        Assert.Null(await _functions.FindAsync("f1", default));

        // Every runtime family the runner knows is accepted.
        foreach (var runtime in new[] { "python3.9", "python3.12", "nodejs20.x", "nodejs", "provided", "provided.al2", "provided.al2023" })
            await CreateAsync("rt-" + runtime.Replace('.', '-'), runtime: runtime);

        await CreateAsync("dup");
        e = await Refused("ResourceConflictException", () => CreateAsync("dup"));
        Assert.Equal("Function already exist: dup", e.Message);
    }

    [Fact]
    public async Task Updates_change_the_revision_and_a_stale_revision_is_refused()
    {
        var created = await CreateAsync("upd", environment: new Dictionary<string, string> { ["KEEP"] = "1" });
        _time.Advance(TimeSpan.FromMinutes(1));
        var zip2 = Zip("def handler(e, c):\n    return 2\n");
        var code = await _functions.UpdateFunctionCodeAsync(As(Admin), new UpdateFunctionCodeRequest { FunctionName = "upd", ZipFile = zip2 }, default);
        Assert.NotEqual(created.RevisionId, code.RevisionId);
        Assert.Equal(Convert.ToBase64String(SHA256.HashData(zip2)), code.CodeSha256);
        Assert.Equal("1", code.Environment["KEEP"]);
        Assert.True(code.LastModified > created.LastModified);

        var config = await _functions.UpdateFunctionConfigurationAsync(As(Admin),
            new UpdateFunctionConfigurationRequest { FunctionName = "upd", Timeout = 900, MemorySize = 10240, Description = "d" }, default);
        Assert.Equal((900, 10240, "d"), (config.Timeout, config.MemorySize, config.Description));
        Assert.Equal("1", config.Environment["KEEP"]);
        Assert.Equal(zip2, (await _functions.FindAsync("upd", default))!.ZipFile.ToArray());

        await Refused("PreconditionFailedException", () => _functions.UpdateFunctionConfigurationAsync(As(Admin),
            new UpdateFunctionConfigurationRequest { FunctionName = "upd", Timeout = 5, RevisionId = created.RevisionId }, default));
        await Refused("ResourceNotFoundException", () => _functions.UpdateFunctionCodeAsync(As(Admin),
            new UpdateFunctionCodeRequest { FunctionName = "nope", ZipFile = zip2 }, default));
    }

    [Fact]
    public async Task List_pages_in_name_order()
    {
        foreach (var n in new[] { "c", "a", "b", "d", "e" }) await CreateAsync("list-" + n);
        var names = new List<string>();
        string? marker = null;
        var pages = 0;
        do
        {
            var page = await _functions.ListFunctionsAsync(As(Admin), new ListFunctionsRequest(marker, 2), default);
            Assert.True(page.Functions.Count <= 2);
            names.AddRange(page.Functions.Select(f => f.FunctionName));
            marker = page.NextMarker;
            pages++;
        } while (marker is not null);
        Assert.Equal(["list-a", "list-b", "list-c", "list-d", "list-e"], names);
        Assert.Equal(3, pages);
        // Another region has its own functions.
        var elsewhere = await _functions.ListFunctionsAsync(As(Admin) with { Region = "eu-west-1" }, new ListFunctionsRequest(null, null), default);
        Assert.Empty(elsewhere.Functions);
    }

    [Fact]
    public async Task Access_needs_lambda_permissions_and_pass_role()
    {
        await CreateAsync("guarded");
        var nobody = As(await UserAsync("nobody"));
        var e = await Refused("AccessDeniedException", () => _functions.GetFunctionAsync(nobody, new FunctionRef("guarded"), default));
        Assert.Contains("lambda:GetFunction", e.Message, StringComparison.Ordinal);
        // A missing function is not revealed to someone who may not see it.
        await Refused("AccessDeniedException", () => _functions.GetFunctionAsync(nobody, new FunctionRef("missing"), default));
        await Refused("AccessDeniedException", () => _functions.ListFunctionsAsync(nobody, new ListFunctionsRequest(null, null), default));

        var deployer = As(await UserAsync("deployer", """{"Effect":"Allow","Action":"lambda:*","Resource":"*"}"""));
        e = await Refused("AccessDeniedException", () => CreateAsync("mine", deployer));
        Assert.Contains("iam:PassRole", e.Message, StringComparison.Ordinal);
        await _iam.PutInlinePolicyAsync(As(Admin), "user", "deployer", "pass",
            $$"""{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:PassRole","Resource":"{{_role}}"}]}""", default);
        await CreateAsync("mine", deployer);
        await Refused("ResourceNotFoundException", () => _functions.GetFunctionAsync(deployer, new FunctionRef("missing"), default));
    }

    [Fact]
    public async Task The_resource_policy_grants_invoke_and_nothing_else()
    {
        var fn = await CreateAsync("shared");
        var caller = await UserAsync("caller");
        var ctx = As(caller);
        var dryRun = new InvokeRequest("shared", null, InvocationType.DryRun, false, ReadOnlyMemory<byte>.Empty);
        await Refused("AccessDeniedException", () => _functions.InvokeAsync(ctx, dryRun, default));

        var added = await _functions.AddPermissionAsync(As(Admin), new AddPermissionRequest
        {
            FunctionName = "shared", StatementId = "caller", Action = "lambda:InvokeFunction", Principal = caller.Arn,
        }, default);
        Assert.Contains(fn.FunctionArn, added.Statement, StringComparison.Ordinal);
        await _functions.AddPermissionAsync(As(Admin), new AddPermissionRequest
        {
            FunctionName = "shared", StatementId = "sm", Action = "lambda:InvokeFunction", Principal = "secretsmanager.amazonaws.com",
            SourceAccount = Account,
        }, default);
        Assert.Equal(204, (await _functions.InvokeAsync(ctx, dryRun, default)).StatusCode);
        await Refused("AccessDeniedException", () => _functions.GetFunctionAsync(ctx, new FunctionRef("shared"), default));

        var policy = await _functions.GetPolicyAsync(As(Admin), new FunctionRef("shared"), default);
        Assert.Contains("\"Service\":\"secretsmanager.amazonaws.com\"", policy.Policy, StringComparison.Ordinal);
        Assert.Contains("\"AWS:SourceAccount\"", policy.Policy, StringComparison.Ordinal);
        await Refused("ResourceConflictException", () => _functions.AddPermissionAsync(As(Admin), new AddPermissionRequest
        {
            FunctionName = "shared", StatementId = "caller", Action = "lambda:InvokeFunction", Principal = caller.Arn,
        }, default));
        await Refused("InvalidParameterValueException", () => _functions.AddPermissionAsync(As(Admin), new AddPermissionRequest
        {
            FunctionName = "shared", StatementId = "x", Action = "lambda:InvokeFunction", Principal = "somebody",
        }, default));

        await _functions.RemovePermissionAsync(As(Admin), new RemovePermissionRequest("shared", "caller", null, null), default);
        await Refused("AccessDeniedException", () => _functions.InvokeAsync(ctx, dryRun, default));
        await Refused("ResourceNotFoundException", () => _functions.RemovePermissionAsync(As(Admin), new RemovePermissionRequest("shared", "caller", null, null), default));
        await _functions.RemovePermissionAsync(As(Admin), new RemovePermissionRequest("shared", "sm", null, null), default);
        await Refused("ResourceNotFoundException", () => _functions.GetPolicyAsync(As(Admin), new FunctionRef("shared"), default));
    }

    [Fact]
    public async Task Invoke_hands_the_function_to_the_runner_and_maps_its_result()
    {
        await CreateAsync("echo", environment: new Dictionary<string, string> { ["MODE"] = "x" });
        var request = new InvokeRequest("echo", null, InvocationType.RequestResponse, true, """{"Step":"createSecret"}"""u8.ToArray());
        var e = await Refused("ServiceException", () => _functions.InvokeAsync(As(Admin), request, default));
        Assert.Contains("runtime is not available", e.Message, StringComparison.Ordinal);

        var runner = new StubRunner();
        _functions.Runner = runner;
        var result = await _functions.InvokeAsync(As(Admin), request, default);
        Assert.Equal((200, null, "$LATEST"), (result.StatusCode, result.FunctionError, result.ExecutedVersion));
        Assert.Equal("""{"Step":"createSecret"}""", Encoding.UTF8.GetString(result.Payload));
        Assert.Equal("log line", Encoding.UTF8.GetString(Convert.FromBase64String(result.LogResult!)));
        var seen = Assert.Single(runner.Invocations);
        Assert.Equal("echo", seen.Function.Configuration.FunctionName);
        Assert.Equal("x", seen.Function.Configuration.Environment["MODE"]);
        Assert.Equal("req-1", seen.RequestId);

        runner.Error = "Unhandled";
        result = await _functions.InvokeAsync(As(Admin), request with { LogTail = false }, default);
        Assert.Equal((200, "Unhandled"), (result.StatusCode, result.FunctionError));
        Assert.Null(result.LogResult);

        var empty = await _functions.InvokeAsync(As(Admin), request with { Payload = ReadOnlyMemory<byte>.Empty }, default);
        Assert.Equal("{}", Encoding.UTF8.GetString(empty.Payload));
        await Refused("InvalidRequestContentException", () => _functions.InvokeAsync(As(Admin), request with { Payload = "not json"u8.ToArray() }, default));
        await Refused("RequestTooLargeException", () => _functions.InvokeAsync(As(Admin), request with { Payload = new byte[FunctionLimits.MaxPayloadBytes + 1] }, default));
        await Refused("ResourceNotFoundException", () => _functions.InvokeAsync(As(Admin), request with { Qualifier = "1" }, default));
    }

    [Fact]
    public async Task Code_links_expire_and_follow_the_current_code()
    {
        var zip = Zip();
        await CreateAsync("linked", zip: zip);
        var got = await _functions.GetFunctionAsync(As(Admin), new FunctionRef("linked"), default);
        var (arn, downloaded) = await _functions.DownloadCodeAsync(Region, "linked", got.CodeToken, default);
        Assert.Equal(got.Configuration.FunctionArn, arn);
        Assert.Equal(zip, downloaded);
        await Refused("AccessDeniedException", () => _functions.DownloadCodeAsync(Region, "other", got.CodeToken, default));
        await Refused("AccessDeniedException", () => _functions.DownloadCodeAsync(Region, "linked", got.CodeToken + "0", default));
        await Refused("AccessDeniedException", () => _functions.DownloadCodeAsync(Region, "linked", null, default));

        await _functions.UpdateFunctionCodeAsync(As(Admin), new UpdateFunctionCodeRequest { FunctionName = "linked", ZipFile = Zip("x = 1\n") }, default);
        await Refused("AccessDeniedException", () => _functions.DownloadCodeAsync(Region, "linked", got.CodeToken, default));
        var fresh = await _functions.GetFunctionAsync(As(Admin), new FunctionRef("linked"), default);
        _time.Advance(TimeSpan.FromMinutes(11));
        await Refused("AccessDeniedException", () => _functions.DownloadCodeAsync(Region, "linked", fresh.CodeToken, default));
    }

    [Fact]
    public async Task Delete_removes_the_function()
    {
        await CreateAsync("gone");
        await _functions.DeleteFunctionAsync(As(Admin), new FunctionRef("gone"), default);
        Assert.Null(await _functions.FindAsync("gone", default));
        var e = await Refused("ResourceNotFoundException", () => _functions.DeleteFunctionAsync(As(Admin), new FunctionRef("gone"), default));
        Assert.Equal($"Function not found: arn:aws:lambda:{Region}:{Account}:function:gone", e.Message);
        await CreateAsync("gone");   // the name is free again
    }

    [Fact]
    public async Task A_stored_document_of_this_format_still_reads()
    {
        // Golden: the configuration document as migration 006's first writer stores it. Renaming a member breaks this.
        const string document = """
            {"Runtime":"python3.11","Handler":"app.handler","Role":"arn:aws:iam::111111111111:role/lambda-exec","Timeout":30,
             "MemorySize":256,"Description":"golden","CodeSha256":"n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=","CodeSize":4,
             "LastModified":"2026-03-01T12:00:00+00:00","PolicyStatements":[
              "{\"Sid\":\"sm\",\"Effect\":\"Allow\",\"Principal\":{\"Service\":\"secretsmanager.amazonaws.com\"},\"Action\":\"lambda:InvokeFunction\",\"Resource\":\"arn:aws:lambda:us-east-1:111111111111:function:golden\"}"]}
            """;
        const string arn = "arn:aws:lambda:us-east-1:111111111111:function:golden";
        var code = _cipher.Seal("test"u8, Encoding.UTF8.GetBytes("lambda-code\n" + arn + "\nn4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg="));
        var env = _cipher.Seal("""{"K1":"v"}"""u8, Encoding.UTF8.GetBytes("lambda-environment\n" + arn));
        Assert.True(await _store.InsertFunctionAsync(new FunctionRecord(Region, "golden", arn, "rev-1", document, env, code), default));

        var config = await _functions.GetFunctionConfigurationAsync(As(Admin), new FunctionRef("golden"), default);
        Assert.Equal(("python3.11", "app.handler", 30, 256, "golden", 4L, "rev-1"),
            (config.Runtime, config.Handler, config.Timeout, config.MemorySize, config.Description, config.CodeSize, config.RevisionId));
        Assert.Equal("v", config.Environment["K1"]);
        Assert.Equal("test"u8.ToArray(), (await _functions.FindAsync(arn, default))!.ZipFile.ToArray());
        Assert.Contains("secretsmanager.amazonaws.com", (await _functions.GetPolicyAsync(As(Admin), new FunctionRef("golden"), default)).Policy, StringComparison.Ordinal);
    }

    private sealed class StubRunner : IFunctionRunner
    {
        public List<FunctionInvocation> Invocations { get; } = [];
        public string? Error { get; set; }

        public Task<FunctionInvocationResult> InvokeAsync(FunctionInvocation invocation, CancellationToken ct)
        {
            Invocations.Add(invocation);
            return Task.FromResult(new FunctionInvocationResult(invocation.Payload.ToArray(), Error, "log line"));
        }
    }
}
