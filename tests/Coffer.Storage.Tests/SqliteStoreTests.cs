using Coffer.Core.Secrets;
using Coffer.Storage.Sqlite;
using Microsoft.Data.Sqlite;

namespace Coffer.Storage.Tests;

/// <summary>The contract suite on a real SQLite file in a temp directory, plus SQLite-specific checks.</summary>
public sealed class SqliteStoreTests : SecretStoreContract, IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("coffer-storage-").FullName;
    private string DatabasePath => Path.Combine(_directory, "coffer.db");
    private SqliteStore? _store;

    protected override Task<OpenedStore> OpenFreshAsync() => ReopenAsync();

    protected override Task<OpenedStore> ReopenAsync()
    {
        _store = SqliteStore.Open(DatabasePath);
        return Task.FromResult(new OpenedStore(_store, _store, _store));
    }

    private SqliteStore Store => _store!;

    public void Dispose()
    {
        try { Directory.Delete(_directory, recursive: true); }
        catch (IOException) { }
    }

    [Fact]
    public async Task Connections_use_wal_full_sync_foreign_keys_and_a_busy_timeout()
    {
        foreach (var run in new Func<string, Task<object?>>[] { Store.ExecuteOnWriterAsync, Store.ExecuteOnReaderAsync })
        {
            Assert.Equal("wal", await run("PRAGMA journal_mode"));
            Assert.Equal(2L, await run("PRAGMA synchronous")); // FULL
            Assert.Equal(1L, await run("PRAGMA foreign_keys"));
            Assert.True((long)(await run("PRAGMA busy_timeout"))! > 0);
        }
        Assert.Equal(1L, await Store.ExecuteOnReaderAsync("PRAGMA query_only"));

        // WAL mode is a property of the file, seen by any other connection too.
        await using var raw = new SqliteConnection($"Data Source={DatabasePath};Pooling=False");
        await raw.OpenAsync();
        await using var command = raw.CreateCommand();
        command.CommandText = "PRAGMA journal_mode";
        Assert.Equal("wal", await command.ExecuteScalarAsync());
    }

    [Fact]
    public async Task Migration_5_moves_values_out_of_version_rows_and_keeps_them_readable()
    {
        // A database as schema version 1 left it: the value in the version row.
        var path = Path.Combine(_directory, "v1.db");
        var blob = Blob(4096);
        await using (var v1 = new SqliteConnection($"Data Source={path};Pooling=False"))
        {
            await v1.OpenAsync();
            await using var command = v1.CreateCommand();
            using var script = new StreamReader(typeof(SqliteStore).Assembly.GetManifestResourceStream("Coffer.Storage.Sqlite.Migrations.001_initial.sql")!);
            command.CommandText = "PRAGMA journal_mode = WAL; " + await script.ReadToEndAsync() +
                "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_ms INTEGER NOT NULL); " +
                "INSERT INTO schema_version VALUES (1, 0); " +
                "INSERT INTO secrets (id, region, name, arn, created_ms, last_changed_ms, primary_region) " +
                "VALUES (7, 'us-east-1', 'old', 'arn:aws:secretsmanager:us-east-1:111111111111:secret:old-AbCdEf', 1, 1, 'us-east-1'); " +
                "INSERT INTO versions (secret_id, version_id, seq, stages, created_ms, has_value, blob) VALUES (7, 'v1', 1, '[\"AWSCURRENT\"]', 1, 1, $blob);";
            command.Parameters.AddWithValue("$blob", blob);
            await command.ExecuteNonQueryAsync();
        }
        await using var store = SqliteStore.Open(path);
        Assert.Equal(blob, await store.ReadBlobAsync(7, "v1", default));
        Assert.Equal(0L, await store.ExecuteOnReaderAsync("SELECT count(*) FROM pragma_table_info('versions') WHERE name = 'blob'"));
        var secret = await store.FindByNameAsync("us-east-1", "old", default);
        Assert.Equal(["AWSCURRENT"], secret!.Versions.Single().Stages);
        // The value goes with its version, and with its secret.
        await store.WriteAsync(tx => { tx.DeleteVersion(7, "v1"); return 0; }, default);
        Assert.Null(await store.ReadBlobAsync(7, "v1", default));
        Assert.Equal(0L, await store.ExecuteOnReaderAsync("SELECT count(*) FROM version_blobs"));
    }

    [Fact]
    public async Task Database_files_are_readable_by_their_owner_only()
    {
        await CreateAsync("mode-check", Blob());
        const UnixFileMode ownerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        Assert.Equal(ownerOnly, File.GetUnixFileMode(DatabasePath));
        Assert.Equal(ownerOnly, File.GetUnixFileMode(DatabasePath + "-wal"));
        Assert.Equal(ownerOnly, File.GetUnixFileMode(DatabasePath + "-shm"));
    }

    [Fact]
    public async Task Migrations_are_recorded_and_not_applied_twice()
    {
        Assert.Equal((long)SqliteMigrations.LatestVersion, await Store.ExecuteOnReaderAsync("SELECT max(version) FROM schema_version"));
        await Reopen();
        Assert.Equal((long)SqliteMigrations.All.Count, await Store.ExecuteOnReaderAsync("SELECT count(*) FROM schema_version"));
        Assert.Equal("ok", await Store.ExecuteOnReaderAsync("PRAGMA integrity_check"));
    }

    [Fact]
    public async Task A_database_from_a_newer_coffer_is_refused()
    {
        await Store.ExecuteOnWriterAsync("INSERT INTO schema_version (version, applied_ms) VALUES (9999, 0)");
        await Store.DisposeAsync();
        Assert.Throws<InvalidOperationException>(() => SqliteStore.Open(DatabasePath));
        _store = SqliteStore.Open(Path.Combine(_directory, "fresh.db")); // so the fixture has something to dispose
    }

    [Fact]
    public async Task After_dispose_writes_throw_ObjectDisposedException_and_queued_writes_were_committed()
    {
        var queued = Enumerable.Range(0, 50)
            .Select(i => Store.WriteAsync(tx => { tx.InsertSecret(NewSecret($"queued-{i}")); return i; }, None))
            .ToList();
        await Store.DisposeAsync();
        Assert.All(queued, t => Assert.True(t.IsCompletedSuccessfully));
        await Assert.ThrowsAsync<ObjectDisposedException>(() => Store.WriteAsync(_ => 0, None));
        await Assert.ThrowsAsync<ObjectDisposedException>(() => Store.GetOrAddSettingAsync("x", "y", None));
        await Assert.ThrowsAsync<ObjectDisposedException>(() => Store.FindByNameAsync(Region, "queued-1", None));

        await Reopen();
        Assert.Equal(50, (await Secrets.ListAsync(Region, None)).Count);
    }

    [Fact]
    public async Task A_transaction_kept_past_its_work_cannot_be_used()
    {
        var kept = await Store.WriteAsync(tx => tx, None);
        Assert.Throws<InvalidOperationException>(() => kept.InsertSecret(NewSecret("late")));
    }

    [Fact]
    public async Task Disk_full_surfaces_as_an_exception_and_the_store_recovers_without_a_restart()
    {
        var (kept, _) = await CreateAsync("before-full", Blob());
        // Cap the file at its current size: the next write that needs a new page fails with SQLITE_FULL,
        // the same error a full disk gives.
        var pages = await Store.ExecuteOnWriterAsync("PRAGMA page_count");
        await Store.ExecuteOnWriterAsync($"PRAGMA max_page_count = {pages}");

        var tasks = Enumerable.Range(0, 8).Select(i => Store.WriteAsync(tx =>
        {
            var s = NewSecret($"while-full-{i}");
            tx.InsertSecret(s);
            tx.UpsertVersion(s.Id, NewVersion("v", "AWSCURRENT"), Blob(64 * 1024));
            return 0;
        }, None)).ToList();
        foreach (var task in tasks)
        {
            var error = await Assert.ThrowsAsync<SqliteException>(() => task);
            Assert.Equal(13, error.SqliteErrorCode); // SQLITE_FULL
        }
        Assert.NotNull(await Secrets.FindByArnAsync(kept.Arn, None));

        // "Free the disk": lift the cap. Writes work again on the same store.
        await Store.ExecuteOnWriterAsync("PRAGMA max_page_count = 1073741823");
        var (after, version) = await CreateAsync("after-full", Blob(64 * 1024));
        Assert.NotNull(await Secrets.ReadBlobAsync(after.Id, version.VersionId, None));

        await Reopen();
        Assert.Equal(["before-full", "after-full"], (await Secrets.ListAsync(Region, None)).Select(s => s.Name));
        Assert.Equal("ok", await Store.ExecuteOnReaderAsync("PRAGMA integrity_check"));
    }

    [Fact]
    public async Task Purged_blobs_do_not_linger_in_the_database_file()
    {
        var marker = "PURGE-MARKER-0123456789abcdef"u8.ToArray();
        var blob = Blob(4096);
        marker.CopyTo(blob, 100);
        var (secret, _) = await CreateAsync("shredded", blob);
        await Secrets.WriteAsync(tx => { tx.PurgeSecret(secret.Id); return 0; }, None);
        await Store.ExecuteOnWriterAsync("SELECT 1"); // another commit
        await Store.DisposeAsync(); // last connection closes: WAL checkpointed into the main file and removed

        var bytes = await File.ReadAllBytesAsync(DatabasePath);
        Assert.Equal(-1, bytes.AsSpan().IndexOf(marker));
        await Reopen();
    }
}
