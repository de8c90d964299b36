using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using Coffer.Core;
using Coffer.Core.Functions;
using Coffer.Core.Policies;
using Coffer.Core.Principals;
using Coffer.Crypto;
using Coffer.Storage.Sqlite;

namespace Coffer.Functions.Tests;

/// <summary>Deployment packages built in the test, with Unix modes in the external attributes as `zip` writes them.</summary>
internal static class Zips
{
    public static byte[] Of(params (string Path, string Content)[] files) =>
        Build(files.Select(f => (f.Path, f.Content, f.Path == "bootstrap" ? 0b111_101_101 : 0b110_100_100)).ToArray());

    public static byte[] Build(params (string Path, string Content, int Mode)[] files)
    {
        using var ms = new MemoryStream();
        using (var zip = new ZipArchive(ms, ZipArchiveMode.Create, leaveOpen: true))
            foreach (var (path, content, mode) in files)
            {
                var entry = zip.CreateEntry(path);
                entry.ExternalAttributes = ((mode & 0xF000) == 0 ? 0x8000 | mode : mode) << 16;
                using var s = entry.Open();
                s.Write(Encoding.UTF8.GetBytes(content));
            }
        return ms.ToArray();
    }
}

/// <summary>A real IAM directory on a SQLite file and a runner whose data directory is a temp dir.</summary>
internal sealed class RunnerRig : IAsyncDisposable
{
    public const string Account = "111122223333";
    public const string LambdaTrust = """{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}""";
    public static readonly RequestContext Admin = new(
        new Principal($"arn:aws:iam::{Account}:user/coffer-admin", Account, "AIDAADMIN", "coffer-admin", "AKIAADMIN", true), "us-east-1", "req");

    private readonly SqliteStore _store;

    private RunnerRig(SqliteStore store, IamService iam, SessionTokens sessions, FunctionRunnerOptions options)
    {
        _store = store;
        Iam = iam;
        Sessions = sessions;
        Options = options;
        Runner = new ProcessFunctionRunner(options, iam);
    }

    public IamService Iam { get; }
    public SessionTokens Sessions { get; }
    public FunctionRunnerOptions Options { get; }
    public ProcessFunctionRunner Runner { get; }

    public static async Task<RunnerRig> CreateAsync(string? endpointUrl = null, string? runAsUser = "nobody")
    {
        var dir = Directory.CreateTempSubdirectory("coffer-fn-data-").FullName;
        var store = SqliteStore.Open(Path.Combine(dir, "coffer.db"));
        var cipher = new EnvelopeCipher(MasterKey.Generate());
        var directory = await IamDirectory.LoadAsync(store, Account, TimeProvider.System, default);
        var access = new AccessControl(directory, TimeProvider.System);
        var sessions = new SessionTokens(cipher, TimeProvider.System);
        var keys = new AccessKeyService(store, cipher, Account, TimeProvider.System) { Sessions = sessions };
        var iam = new IamService(directory, access, keys, store, sessions);
        return new RunnerRig(store, iam, sessions, new FunctionRunnerOptions { DataDir = dir, EndpointUrl = endpointUrl, RunAsUser = runAsUser });
    }

    public async Task<string> RoleAsync(string name, string trust = LambdaTrust) =>
        (await Iam.CreateRoleAsync(Admin, name, null, trust, null, null, null, default)).Arn;

    public static StoredFunction Function(string name, string runtime, string handler, byte[] zip, string role,
        int timeout = 10, int memory = 128, Dictionary<string, string>? env = null) =>
        new(new FunctionConfiguration(name, $"arn:aws:lambda:us-east-1:{Account}:function:{name}", runtime, handler, role, timeout, memory,
            env ?? [], null, Convert.ToBase64String(SHA256.HashData(zip)), zip.Length, Guid.NewGuid().ToString(), DateTimeOffset.UtcNow), zip);

    public Task<FunctionInvocationResult> InvokeAsync(StoredFunction f, string payload = "{}", CancellationToken ct = default) =>
        Runner.InvokeAsync(new FunctionInvocation(f, Encoding.UTF8.GetBytes(payload), Guid.NewGuid().ToString()), ct);

    public async ValueTask DisposeAsync()
    {
        Runner.Dispose();
        await _store.DisposeAsync();
        try { Directory.Delete(Options.DataDir, recursive: true); } catch (IOException) { }
    }
}
