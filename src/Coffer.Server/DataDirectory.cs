using System.Security.Cryptography;
using System.Text;
using Coffer.Core.Functions;
using Coffer.Core.Policies;
using Coffer.Core.Principals;
using Coffer.Core.Secrets;
using Coffer.Crypto;
using Coffer.Storage.Sqlite;
using Microsoft.Extensions.Logging;

namespace Coffer.Server;

/// <summary>A refusal to start, with a message for the operator (no stack trace).</summary>
public sealed class StartupException(string message) : Exception(message);

/// <summary>The opened data directory: store, keys and the services built on them.</summary>
internal sealed class DataDirectory : IAsyncDisposable
{
    public const string DatabaseFile = "coffer.db";
    public const string CredentialsFile = "admin-credentials";
    private const string MasterKeyCheckSetting = "master-key-check";
    private const string AccountIdSetting = "account-id";
    private const string BootstrapKeySetting = "bootstrap-access-key-id";
    private static ReadOnlySpan<byte> CheckPlaintext => "coffer master key check v1"u8;
    private static ReadOnlySpan<byte> CheckAad => "setting:master-key-check"u8;

    private DataDirectory(string path, SqliteStore store, MasterKey masterKey, EnvelopeCipher cipher, string accountId, IamDirectory iamDirectory, string region)
    {
        Path = path;
        Store = store;
        MasterKey = masterKey;
        Cipher = cipher;
        AccountId = accountId;
        // Identity and access (docs/access-control.md): temporary credentials, policies, enforcement on every action.
        var sessions = new SessionTokens(cipher, TimeProvider.System) { LifetimeOverride = TestSessionLifetime() };
        AccessKeys = new AccessKeyService(store, cipher, accountId, TimeProvider.System) { Sessions = sessions };
        Access = new AccessControl(iamDirectory, TimeProvider.System);
        Iam = new IamService(iamDirectory, Access, AccessKeys, store, sessions);
        Secrets = new SecretService(store, cipher, accountId, TimeProvider.System, new SecretsOptions()) { Access = Access };
        // An IAM change may revoke what a caching agent serves: the change feed tells it to re-check everything.
        Iam.AnnounceChangesTo(Secrets.Changes);
        // The Lambda API's control plane (docs/functions.md); its runner is attached by the server when there is one.
        Functions = new FunctionService(store, cipher, accountId, region, TimeProvider.System) { Access = Access };
    }

    /// <summary>
    /// COFFER_TEST_SESSION_LIFETIME_SECONDS (tests only): every issued session lasts this many seconds, whatever
    /// DurationSeconds asked for, so that expiry can be tested end to end without waiting 15 minutes.
    /// </summary>
    private static TimeSpan? TestSessionLifetime() =>
        int.TryParse(Environment.GetEnvironmentVariable("COFFER_TEST_SESSION_LIFETIME_SECONDS"), out var s) && s > 0 ? TimeSpan.FromSeconds(s) : null;

    public AccessControl Access { get; }
    public IamService Iam { get; }

    public string Path { get; }
    public SqliteStore Store { get; }
    public MasterKey MasterKey { get; }
    public EnvelopeCipher Cipher { get; }
    public string AccountId { get; }
    public AccessKeyService AccessKeys { get; }
    public SecretService Secrets { get; }
    public FunctionService Functions { get; }
    public string CredentialsPath => System.IO.Path.Combine(Path, CredentialsFile);
    /// <summary>True when this start created the bootstrap administrator key.</summary>
    public bool CreatedBootstrapKey { get; private set; }

    /// <summary>
    /// Opens (first start: creates) the data directory. Refuses to start when the master key does not open
    /// the data, or the account id does not match: serving with the wrong key would mean failing every read.
    /// </summary>
    public static async Task<DataDirectory> OpenAsync(CofferServerOptions options, ILogger log, CancellationToken ct)
    {
        var path = System.IO.Path.GetFullPath(options.DataDir);
        if (!Directory.Exists(path))
            Directory.CreateDirectory(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        else if ((File.GetUnixFileMode(path) & (UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute)) != 0)
            log.LogWarning("The data directory {Path} is accessible to other users; chmod 700 it.", path);

        var store = SqliteStore.Open(System.IO.Path.Combine(path, DatabaseFile));
        MasterKey? masterKey = null;
        try
        {
            var keyFile = options.ResolvedMasterKeyFile;
            var check = await store.GetSettingAsync(MasterKeyCheckSetting, ct).ConfigureAwait(false);
            if (check is not null && !File.Exists(keyFile))
                throw new StartupException(
                    $"The data in {path} was created with a master key, but the master key file {keyFile} does not exist. " +
                    "Point --master-key-file (or COFFER_MASTER_KEY_FILE) at the key this data was written with.");
            try
            {
                masterKey = MasterKeyFile.LoadOrCreate(keyFile, out var created);
                if (created) log.LogInformation("Created a new master key in {KeyFile}; keep a copy apart from the data.", keyFile);
            }
            catch (MasterKeyException e) { throw new StartupException(e.Message); }
            catch (IOException e) { throw new StartupException($"The master key file {keyFile} cannot be read or created: {e.GetType().Name}."); }
            catch (UnauthorizedAccessException) { throw new StartupException($"The master key file {keyFile} cannot be read or created: permission denied."); }

            var cipher = new EnvelopeCipher(masterKey);
            check ??= await store.GetOrAddSettingAsync(MasterKeyCheckSetting,
                Convert.ToBase64String(cipher.Seal(CheckPlaintext, CheckAad)), ct).ConfigureAwait(false);
            if (!Opens(cipher, check))
                throw new StartupException(
                    $"The master key in {keyFile} does not open the data in {path}. Coffer will not serve with the wrong key; " +
                    "point --master-key-file (or COFFER_MASTER_KEY_FILE) at the key this data was written with.");

            var accountId = await AccountIdAsync(store, options.AccountId, ct).ConfigureAwait(false);
            var iamDirectory = await IamDirectory.LoadAsync(store, accountId, TimeProvider.System, ct).ConfigureAwait(false);
            var data = new DataDirectory(path, store, masterKey, cipher, accountId, iamDirectory, options.Region);
            await data.BootstrapAdministratorAsync(options, log, ct).ConfigureAwait(false);
            return data;
        }
        catch
        {
            masterKey?.Dispose();
            await store.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private static bool Opens(EnvelopeCipher cipher, string check)
    {
        try
        {
            var plain = cipher.Open(Convert.FromBase64String(check), CheckAad);
            return CryptographicOperations.FixedTimeEquals(plain, CheckPlaintext);
        }
        catch (Exception e) when (e is EnvelopeException or FormatException)
        {
            return false;
        }
    }

    private static async Task<string> AccountIdAsync(SqliteStore store, string? fixedId, CancellationToken ct)
    {
        var proposed = fixedId ?? RandomNumberGenerator.GetString("0123456789", 12);
        var stored = await store.GetOrAddSettingAsync(AccountIdSetting, proposed, ct).ConfigureAwait(false);
        if (fixedId is not null && stored != fixedId)
            throw new StartupException($"This data directory belongs to account {stored}; --account-id {fixedId} does not match it.");
        return stored;
    }

    /// <summary>
    /// First start only: create the administrator's access key (from COFFER_BOOTSTRAP_* when given, test/test
    /// in dev mode, otherwise random) and write it once to &lt;data-dir&gt;/admin-credentials (mode 0600).
    /// The key is recorded as done only after the file is written, so a crash in between repeats the step.
    /// </summary>
    private async Task BootstrapAdministratorAsync(CofferServerOptions options, ILogger log, CancellationToken ct)
    {
        var done = await Store.GetSettingAsync(BootstrapKeySetting, ct).ConfigureAwait(false);
        if (done is not null)
        {
            if (options.BootstrapAccessKeyId is not null && options.BootstrapAccessKeyId != done)
                log.LogWarning("COFFER_BOOTSTRAP_ACCESS_KEY_ID is used at the first start only; this data directory was bootstrapped already.");
            return;
        }
        var (id, secret) = options.BootstrapAccessKeyId is { } givenId
            ? (givenId, options.BootstrapSecretAccessKey!)
            : options.Dev ? ("test", "test") : AccessKeyService.NewKeyPair();
        await AccessKeys.AddAdministratorKeyAsync(id, secret, ct).ConfigureAwait(false);
        WriteCredentials(CredentialsPath, id, secret, options.Region);
        await Store.GetOrAddSettingAsync(BootstrapKeySetting, id, ct).ConfigureAwait(false);
        CreatedBootstrapKey = true;
        log.LogInformation("Created the bootstrap administrator access key {AccessKeyId}; its secret is in {CredentialsFile}.", id, CredentialsPath);
    }

    private static void WriteCredentials(string path, string id, string secret, string region)
    {
        var text = new StringBuilder()
            .Append("# Coffer bootstrap administrator, written once at first start. Keep this file secret.\n")
            .Append("# Use it with any region, e.g. ").Append(region).Append(".\n")
            .Append("[default]\n")
            .Append("aws_access_key_id = ").Append(id).Append('\n')
            .Append("aws_secret_access_key = ").Append(secret).Append('\n')
            .ToString();
        var temp = path + ".tmp";
        File.Delete(temp);
        var fileOptions = new FileStreamOptions
        {
            Mode = FileMode.CreateNew,
            Access = FileAccess.Write,
            UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
        };
        using (var stream = new FileStream(temp, fileOptions))
        {
            stream.Write(Encoding.UTF8.GetBytes(text));
            stream.Flush(flushToDisk: true);
        }
        File.Move(temp, path, overwrite: true);
    }

    /// <summary>Ready means the store answers and the master key is loaded.</summary>
    public async Task<bool> IsReadyAsync(CancellationToken ct)
    {
        try
        {
            return await Store.GetSettingAsync(AccountIdSetting, ct).ConfigureAwait(false) is not null;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return false;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Store.DisposeAsync().ConfigureAwait(false);
        MasterKey.Dispose();
    }
}
