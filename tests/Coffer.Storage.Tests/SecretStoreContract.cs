using System.Security.Cryptography;
using Coffer.Core.Principals;
using Coffer.Core.Secrets;

namespace Coffer.Storage.Tests;

/// <summary>
/// The behaviour every <see cref="ISecretStore"/>/<see cref="IAccountStore"/> must have, written against the
/// interfaces only. Each store (SQLite now, PostgreSQL later) derives from this class and supplies a real
/// store on a fresh location.
/// </summary>
public abstract class SecretStoreContract : IAsyncLifetime
{
    protected sealed record OpenedStore(ISecretStore Secrets, IAccountStore Accounts, IAsyncDisposable Lifetime);

    /// <summary>Opens a store on a new, empty location; later <see cref="ReopenAsync"/> calls open that location again.</summary>
    protected abstract Task<OpenedStore> OpenFreshAsync();

    /// <summary>Opens the location of the last <see cref="OpenFreshAsync"/> again (the previous store is disposed first).</summary>
    protected abstract Task<OpenedStore> ReopenAsync();

    protected const string Region = "us-east-1";
    protected const string OtherRegion = "eu-west-1";
    protected static readonly CancellationToken None = CancellationToken.None;

    private OpenedStore? _current;

    protected ISecretStore Secrets => _current!.Secrets;
    protected IAccountStore Accounts => _current!.Accounts;
    protected IAsyncDisposable Lifetime => _current!.Lifetime;

    public async Task InitializeAsync() => _current = await OpenFreshAsync();

    public async Task DisposeAsync()
    {
        if (_current is not null) await _current.Lifetime.DisposeAsync();
        _current = null;
    }

    /// <summary>Closes the store and opens the same location again, as a restart would.</summary>
    protected async Task Reopen()
    {
        await _current!.Lifetime.DisposeAsync();
        _current = null;
        _current = await ReopenAsync();
    }

    // ---- helpers ----

    private static readonly DateTimeOffset T0 = new(2024, 5, 6, 7, 8, 9, 123, TimeSpan.Zero);

    protected static Secret NewSecret(string name, string region = Region) => new()
    {
        Region = region,
        Name = name,
        Arn = $"arn:aws:secretsmanager:{region}:123456789012:secret:{name}-{Suffix(name)}",
        PrimaryRegion = region,
        CreatedDate = T0,
        LastChangedDate = T0,
    };

    private static string Suffix(string name) =>
        Convert.ToHexString(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(name)))[..6];

    protected static SecretVersion NewVersion(string? id = null, params string[] stages) => new()
    {
        VersionId = id ?? Guid.NewGuid().ToString(),
        Stages = [.. stages],
        CreatedDate = T0,
        HasValue = true,
        KeyId = "mk-0011223344556677",
    };

    protected static byte[] Blob(int size = 64) => RandomNumberGenerator.GetBytes(size);

    /// <summary>Creates a secret with one AWSCURRENT version holding <paramref name="blob"/>.</summary>
    protected async Task<(Secret Secret, SecretVersion Version)> CreateAsync(string name, byte[] blob, string region = Region)
    {
        var secret = NewSecret(name, region);
        var version = NewVersion(null, "AWSCURRENT");
        await Secrets.WriteAsync(tx =>
        {
            tx.InsertSecret(secret);
            tx.UpsertVersion(secret.Id, version, blob);
            return 0;
        }, None);
        return (secret, version);
    }

    // ---- find and insert ----

    [Fact]
    public async Task Inserted_secret_is_found_by_arn_and_by_name_in_its_region_only()
    {
        var blob = Blob();
        var (secret, version) = await CreateAsync("db/password", blob);
        Assert.True(secret.Id > 0);

        var byArn = await Secrets.FindByArnAsync(secret.Arn, None);
        var byName = await Secrets.FindByNameAsync(Region, "db/password", None);
        Assert.NotNull(byArn);
        Assert.NotNull(byName);
        Assert.Equal(secret.Id, byArn.Id);
        Assert.Equal(secret.Id, byName.Id);
        Assert.Equal(version.VersionId, Assert.Single(byArn.Versions).VersionId);
        Assert.Equal(["AWSCURRENT"], byArn.Versions[0].Stages);
        Assert.Equal(blob, await Secrets.ReadBlobAsync(secret.Id, version.VersionId, None));

        Assert.Null(await Secrets.FindByNameAsync(OtherRegion, "db/password", None));
        Assert.Empty(await Secrets.ListAsync(OtherRegion, None));
    }

    [Fact]
    public async Task Missing_things_are_null_not_errors()
    {
        Assert.Null(await Secrets.FindByArnAsync("arn:aws:secretsmanager:us-east-1:123456789012:secret:nope-abcdef", None));
        Assert.Null(await Secrets.FindByNameAsync(Region, "nope", None));
        Assert.Null(await Secrets.ReadBlobAsync(12345, "nope", None));
        Assert.Empty(await Secrets.ListAsync(Region, None));
        Assert.Empty(await Secrets.ListDueForPurgeAsync(T0, None));
    }

    [Fact]
    public async Task Same_name_may_exist_in_two_regions()
    {
        var (east, _) = await CreateAsync("shared", Blob(), Region);
        var (west, _) = await CreateAsync("shared", Blob(), OtherRegion);
        Assert.NotEqual(east.Id, west.Id);
        Assert.Equal(east.Id, (await Secrets.FindByNameAsync(Region, "shared", None))!.Id);
        Assert.Equal(west.Id, (await Secrets.FindByNameAsync(OtherRegion, "shared", None))!.Id);
    }

    [Fact]
    public async Task Duplicate_name_in_a_region_or_duplicate_arn_is_rejected_and_leaves_the_first()
    {
        var (first, _) = await CreateAsync("unique", Blob());

        var sameName = NewSecret("unique");
        var sameNameDifferentArn = new Secret
        {
            Region = Region, Name = "unique", Arn = sameName.Arn + "x", PrimaryRegion = Region,
        };
        await Assert.ThrowsAnyAsync<Exception>(() => Secrets.WriteAsync(tx => { tx.InsertSecret(sameNameDifferentArn); return 0; }, None));

        var sameArn = new Secret { Region = Region, Name = "other", Arn = first.Arn, PrimaryRegion = Region };
        await Assert.ThrowsAnyAsync<Exception>(() => Secrets.WriteAsync(tx => { tx.InsertSecret(sameArn); return 0; }, None));

        var all = await Secrets.ListAsync(Region, None);
        Assert.Equal(first.Id, Assert.Single(all).Id);
        Assert.Null(await Secrets.FindByNameAsync(Region, "other", None));
    }

    // ---- update round trips ----

    private static void AssertSameSecret(Secret expected, Secret actual)
    {
        Assert.Equal(expected.Id, actual.Id);
        Assert.Equal(expected.Region, actual.Region);
        Assert.Equal(expected.Name, actual.Name);
        Assert.Equal(expected.Arn, actual.Arn);
        Assert.Equal(expected.Description, actual.Description);
        Assert.Equal(expected.KmsKeyId, actual.KmsKeyId);
        Assert.Equal(expected.Type, actual.Type);
        Assert.Equal(expected.Tags, actual.Tags);
        Assert.Equal(expected.ResourcePolicy, actual.ResourcePolicy);
        Assert.Equal(expected.CreatedDate, actual.CreatedDate);
        Assert.Equal(expected.LastChangedDate, actual.LastChangedDate);
        Assert.Equal(expected.LastAccessedDate, actual.LastAccessedDate);
        Assert.Equal(expected.DeletedDate, actual.DeletedDate);
        Assert.Equal(expected.DeletionDate, actual.DeletionDate);
        Assert.Equal(expected.RotationEnabled, actual.RotationEnabled);
        Assert.Equal(expected.RotationLambdaArn, actual.RotationLambdaArn);
        Assert.Equal(expected.RotationRules?.AutomaticallyAfterDays, actual.RotationRules?.AutomaticallyAfterDays);
        Assert.Equal(expected.RotationRules?.Duration, actual.RotationRules?.Duration);
        Assert.Equal(expected.RotationRules?.ScheduleExpression, actual.RotationRules?.ScheduleExpression);
        Assert.Equal(expected.RotationRules is null, actual.RotationRules is null);
        Assert.Equal(expected.LastRotatedDate, actual.LastRotatedDate);
        Assert.Equal(expected.NextRotationDate, actual.NextRotationDate);
        Assert.Equal(expected.OwningService, actual.OwningService);
        Assert.Equal(expected.PrimaryRegion, actual.PrimaryRegion);
        Assert.Equal(expected.Versions.Count, actual.Versions.Count);
        for (var i = 0; i < expected.Versions.Count; i++)
        {
            var e = expected.Versions[i];
            var a = actual.Versions[i];
            Assert.Equal(e.VersionId, a.VersionId);
            Assert.Equal(e.Stages, a.Stages);
            Assert.Equal(e.CreatedDate, a.CreatedDate);
            Assert.Equal(e.LastAccessedDate, a.LastAccessedDate);
            Assert.Equal(e.HasValue, a.HasValue);
            Assert.Equal(e.KeyId, a.KeyId);
        }
    }

    [Fact]
    public async Task Every_field_round_trips_through_insert_update_and_reopen()
    {
        var secret = NewSecret("all/fields");
        secret.Description = "first description";
        secret.KmsKeyId = "alias/aws/secretsmanager";
        secret.Type = null;
        secret.Tags = [new Tag("env", "prod"), new Tag("team", "payments \"quoted\" ü")];
        secret.ResourcePolicy = """{"Version":"2012-10-17","Statement":[]}""";
        await Secrets.WriteAsync(tx => { tx.InsertSecret(secret); return 0; }, None);
        secret.Versions = [];
        AssertSameSecret(secret, (await Secrets.FindByArnAsync(secret.Arn, None))!);

        // Every mutable field changed, dates with millisecond precision, every nullable set.
        var ms = T0.AddDays(3).AddMilliseconds(457);
        secret.Description = "second";
        secret.KmsKeyId = "arn:aws:kms:us-east-1:123456789012:key/abc";
        secret.Type = "json";
        secret.Tags = [new Tag("a", ""), new Tag("b", "2")];
        secret.ResourcePolicy = """{"Version":"2012-10-17"}""";
        secret.LastChangedDate = ms;
        secret.LastAccessedDate = new DateTimeOffset(2024, 5, 9, 0, 0, 0, TimeSpan.Zero);
        secret.DeletedDate = ms.AddMilliseconds(1);
        secret.DeletionDate = ms.AddDays(7).AddMilliseconds(999);
        secret.RotationEnabled = true;
        secret.RotationLambdaArn = "arn:aws:lambda:us-east-1:123456789012:function:rotate";
        secret.RotationRules = new RotationRules { AutomaticallyAfterDays = 30, Duration = "2h", ScheduleExpression = "rate(10 days)" };
        secret.LastRotatedDate = ms.AddMilliseconds(-321);
        secret.NextRotationDate = ms.AddDays(30);
        secret.OwningService = "rds";
        var v1 = NewVersion("v-1", "AWSPREVIOUS");
        v1.LastAccessedDate = new DateTimeOffset(2024, 5, 8, 0, 0, 0, TimeSpan.Zero);
        var v2 = NewVersion("v-2", "AWSCURRENT", "custom-label");
        v2.HasValue = false;
        v2.KeyId = null;
        await Secrets.WriteAsync(tx =>
        {
            tx.UpdateSecret(secret);
            tx.UpsertVersion(secret.Id, v1, Blob());
            tx.UpsertVersion(secret.Id, v2, null);
            return 0;
        }, None);
        secret.Versions = [v1, v2];
        AssertSameSecret(secret, (await Secrets.FindByArnAsync(secret.Arn, None))!);
        AssertSameSecret(secret, (await Secrets.FindByNameAsync(Region, secret.Name, None))!);
        AssertSameSecret(secret, Assert.Single(await Secrets.ListAsync(Region, None)));

        await Reopen();
        AssertSameSecret(secret, (await Secrets.FindByArnAsync(secret.Arn, None))!);

        // And back to nulls: every optional field can be cleared.
        secret.Description = null;
        secret.KmsKeyId = null;
        secret.Type = null;
        secret.Tags = [];
        secret.ResourcePolicy = null;
        secret.LastAccessedDate = null;
        secret.DeletedDate = null;
        secret.DeletionDate = null;
        secret.RotationEnabled = false;
        secret.RotationLambdaArn = null;
        secret.RotationRules = null;
        secret.LastRotatedDate = null;
        secret.NextRotationDate = null;
        secret.OwningService = null;
        await Secrets.WriteAsync(tx => { tx.UpdateSecret(secret); return 0; }, None);
        AssertSameSecret(secret, (await Secrets.FindByArnAsync(secret.Arn, None))!);
        Assert.NotNull((await Secrets.FindByArnAsync(secret.Arn, None))!.Tags); // emptied, not never-tagged

        secret.Tags = null;
        await Secrets.WriteAsync(tx => { tx.UpdateSecret(secret); return 0; }, None);
        Assert.Null((await Secrets.FindByArnAsync(secret.Arn, None))!.Tags);
    }

    [Fact]
    public async Task Returned_objects_are_private_copies()
    {
        var (secret, _) = await CreateAsync("copies", Blob());
        var first = (await Secrets.FindByArnAsync(secret.Arn, None))!;
        first.Description = "changed locally";
        first.Tags = [new Tag("k", "v")];
        first.Versions[0].Stages.Clear();
        first.Versions.Clear();

        var again = (await Secrets.FindByArnAsync(secret.Arn, None))!;
        Assert.Null(again.Description);
        Assert.Null(again.Tags);
        Assert.Equal(["AWSCURRENT"], Assert.Single(again.Versions).Stages);
    }

    // ---- versions ----

    [Fact]
    public async Task Upsert_version_keeps_the_blob_when_null_and_replaces_it_otherwise()
    {
        var original = Blob(100);
        var (secret, version) = await CreateAsync("blobs", original);

        version.Stages = ["AWSPREVIOUS"];
        version.LastAccessedDate = new DateTimeOffset(2024, 6, 1, 0, 0, 0, TimeSpan.Zero);
        version.KeyId = "mk-ffeeddccbbaa9988";
        await Secrets.WriteAsync(tx => { tx.UpsertVersion(secret.Id, version, null); return 0; }, None);
        Assert.Equal(original, await Secrets.ReadBlobAsync(secret.Id, version.VersionId, None));
        var stored = Assert.Single((await Secrets.FindByArnAsync(secret.Arn, None))!.Versions);
        Assert.Equal(["AWSPREVIOUS"], stored.Stages);
        Assert.Equal(version.LastAccessedDate, stored.LastAccessedDate);
        Assert.Equal("mk-ffeeddccbbaa9988", stored.KeyId);

        var replacement = Blob(200);
        await Secrets.WriteAsync(tx => { tx.UpsertVersion(secret.Id, version, replacement); return 0; }, None);
        Assert.Equal(replacement, await Secrets.ReadBlobAsync(secret.Id, version.VersionId, None));
    }

    [Fact]
    public async Task Versions_come_back_in_creation_order_even_after_updates()
    {
        var (secret, first) = await CreateAsync("ordered", Blob());
        var ids = new List<string> { first.VersionId };
        for (var i = 0; i < 6; i++)
        {
            // Ids deliberately not in sorted order.
            var version = NewVersion($"{(char)('z' - i * 3)}-{Guid.NewGuid()}");
            ids.Add(version.VersionId);
            await Secrets.WriteAsync(tx => { tx.UpsertVersion(secret.Id, version, Blob()); return 0; }, None);
        }
        // Touch the first version again: updating must not move it to the end.
        first.Stages = [];
        await Secrets.WriteAsync(tx => { tx.UpsertVersion(secret.Id, first, null); return 0; }, None);

        Assert.Equal(ids, (await Secrets.FindByArnAsync(secret.Arn, None))!.Versions.Select(v => v.VersionId));
        Assert.Equal(ids, Assert.Single(await Secrets.ListAsync(Region, None)).Versions.Select(v => v.VersionId));
        await Reopen();
        Assert.Equal(ids, (await Secrets.FindByNameAsync(Region, "ordered", None))!.Versions.Select(v => v.VersionId));
    }

    [Fact]
    public async Task Deleting_a_version_removes_it_and_its_blob_and_a_missing_one_is_not_an_error()
    {
        var (secret, current) = await CreateAsync("deletions", Blob());
        var old = NewVersion("old");
        await Secrets.WriteAsync(tx => { tx.UpsertVersion(secret.Id, old, Blob()); return 0; }, None);

        await Secrets.WriteAsync(tx =>
        {
            tx.DeleteVersion(secret.Id, "old");
            tx.DeleteVersion(secret.Id, "never-existed");
            tx.DeleteVersion(987654, "old");
            return 0;
        }, None);

        Assert.Null(await Secrets.ReadBlobAsync(secret.Id, "old", None));
        Assert.Equal(current.VersionId, Assert.Single((await Secrets.FindByArnAsync(secret.Arn, None))!.Versions).VersionId);
        Assert.NotNull(await Secrets.ReadBlobAsync(secret.Id, current.VersionId, None));
    }

    [Fact]
    public async Task Value_less_version_reads_as_null_blob()
    {
        var (secret, _) = await CreateAsync("pending", Blob());
        var pending = NewVersion("pending", "AWSPENDING");
        pending.HasValue = false;
        await Secrets.WriteAsync(tx => { tx.UpsertVersion(secret.Id, pending, null); return 0; }, None);
        Assert.Null(await Secrets.ReadBlobAsync(secret.Id, "pending", None));
        Assert.False((await Secrets.FindByArnAsync(secret.Arn, None))!.FindVersion("pending")!.HasValue);
    }

    [Fact]
    public async Task Purge_removes_the_secret_its_versions_and_blobs_and_frees_the_name()
    {
        var (secret, version) = await CreateAsync("purged", Blob());
        var second = NewVersion("second", "AWSPREVIOUS");
        await Secrets.WriteAsync(tx => { tx.UpsertVersion(secret.Id, second, Blob()); return 0; }, None);

        await Secrets.WriteAsync(tx =>
        {
            tx.PurgeSecret(secret.Id);
            tx.PurgeSecret(secret.Id);
            tx.PurgeSecret(424242);
            return 0;
        }, None);

        Assert.Null(await Secrets.FindByArnAsync(secret.Arn, None));
        Assert.Null(await Secrets.FindByNameAsync(Region, "purged", None));
        Assert.Null(await Secrets.ReadBlobAsync(secret.Id, version.VersionId, None));
        Assert.Null(await Secrets.ReadBlobAsync(secret.Id, "second", None));
        Assert.Empty(await Secrets.ListAsync(Region, None));

        var (again, againVersion) = await CreateAsync("purged", Blob());
        Assert.NotEqual(secret.Id, again.Id);
        Assert.Null(await Secrets.ReadBlobAsync(secret.Id, againVersion.VersionId, None));
    }

    // ---- transactions ----

    [Fact]
    public async Task Work_sees_its_own_changes_and_returns_its_result()
    {
        var secret = NewSecret("own-writes");
        var version = NewVersion("v", "AWSCURRENT");
        var blob = Blob();
        var seen = await Secrets.WriteAsync(tx =>
        {
            tx.InsertSecret(secret);
            tx.UpsertVersion(secret.Id, version, blob);
            var found = tx.FindByArn(secret.Arn)!;
            var byName = tx.FindByName(Region, "own-writes")!;
            return (found.Id, byName.Versions.Count, tx.ReadBlob(secret.Id, "v"));
        }, None);
        Assert.Equal(secret.Id, seen.Id);
        Assert.Equal(1, seen.Count);
        Assert.Equal(blob, seen.Item3);
    }

    [Fact]
    public async Task An_exception_in_work_rolls_back_that_work_only_while_others_commit()
    {
        using var gate = new ManualResetEventSlim();
        // Hold the writer so the next writes queue up together (a batch, in a store that batches).
        var blocker = Secrets.WriteAsync(tx =>
        {
            gate.Wait(TimeSpan.FromSeconds(10));
            tx.InsertSecret(NewSecret("a"));
            return "a";
        }, None);
        var ok1 = Secrets.WriteAsync(tx =>
        {
            var s = NewSecret("b");
            tx.InsertSecret(s);
            tx.UpsertVersion(s.Id, NewVersion("vb", "AWSCURRENT"), Blob());
            return "b";
        }, None);
        var boom = new InvalidOperationException("work failed on purpose");
        long failedId = 0;
        var failing = Secrets.WriteAsync<string>(tx =>
        {
            var s = NewSecret("c");
            tx.InsertSecret(s);
            failedId = s.Id;
            tx.UpsertVersion(s.Id, NewVersion("vc", "AWSCURRENT"), Blob());
            throw boom;
        }, None);
        var duplicate = Secrets.WriteAsync(tx =>
        {
            var s = NewSecret("d");
            tx.InsertSecret(s);
            tx.UpsertVersion(s.Id, NewVersion("vd", "AWSCURRENT"), Blob());
            tx.InsertSecret(NewSecret("b")); // violates uniqueness after two successful statements
            return "d";
        }, None);
        var ok2 = Secrets.WriteAsync(tx => { tx.InsertSecret(NewSecret("e")); return "e"; }, None);
        gate.Set();

        Assert.Equal("a", await blocker);
        Assert.Equal("b", await ok1);
        Assert.Same(boom, await Assert.ThrowsAsync<InvalidOperationException>(() => failing));
        await Assert.ThrowsAnyAsync<Exception>(() => duplicate);
        Assert.Equal("e", await ok2);

        await Reopen();
        var names = (await Secrets.ListAsync(Region, None)).Select(s => s.Name).ToList();
        Assert.Equal(["a", "b", "e"], names);
        Assert.Null(await Secrets.ReadBlobAsync(failedId, "vc", None));
        Assert.NotNull(await Secrets.ReadBlobAsync((await Secrets.FindByNameAsync(Region, "b", None))!.Id, "vb", None));
    }

    [Fact]
    public async Task Sixty_four_concurrent_writers_are_all_durable_after_reopen()
    {
        const int writers = 64;
        const int writesEach = 5;
        var expected = new Dictionary<string, (string VersionId, byte[] Blob)>[writers];
        await Task.WhenAll(Enumerable.Range(0, writers).Select(w => Task.Run(async () =>
        {
            var mine = new Dictionary<string, (string, byte[])>();
            var (secret, first) = await CreateAsync($"writer-{w}", Blob(32));
            var current = first;
            for (var i = 0; i < writesEach; i++)
            {
                var next = NewVersion($"w{w}-v{i}");
                var blob = Blob(48);
                var previous = current;
                await Secrets.WriteAsync(tx =>
                {
                    // PutSecretValue's shape: read, add the version, move the labels.
                    var s = tx.FindByArn(secret.Arn)!;
                    foreach (var old in s.Versions.Where(v => v.Stages.Remove("AWSPREVIOUS")))
                        tx.UpsertVersion(s.Id, old, null);
                    var demoted = s.FindVersion(previous.VersionId)!;
                    demoted.Stages = ["AWSPREVIOUS"];
                    next.Stages = ["AWSCURRENT"];
                    tx.UpsertVersion(s.Id, demoted, null);
                    tx.UpsertVersion(s.Id, next, blob);
                    s.LastChangedDate = s.LastChangedDate.AddSeconds(1);
                    tx.UpdateSecret(s);
                    return 0;
                }, None);
                mine[next.VersionId] = (next.VersionId, blob);
                current = next;
            }
            expected[w] = mine;
        })));

        await Reopen();
        for (var w = 0; w < writers; w++)
        {
            var secret = (await Secrets.FindByNameAsync(Region, $"writer-{w}", None))!;
            Assert.Equal(writesEach + 1, secret.Versions.Count);
            Assert.Equal($"w{w}-v{writesEach - 1}", Assert.Single(secret.Versions, v => v.Stages.Contains("AWSCURRENT")).VersionId);
            Assert.Single(secret.Versions, v => v.Stages.Contains("AWSPREVIOUS"));
            foreach (var (versionId, blob) in expected[w].Values)
                Assert.Equal(blob, await Secrets.ReadBlobAsync(secret.Id, versionId, None));
        }
    }

    [Fact]
    public async Task Reads_racing_a_writer_see_whole_commits_only()
    {
        var (secret, first) = await CreateAsync("labels", Blob());
        var versions = new List<SecretVersion> { first };
        for (var i = 0; i < 3; i++)
        {
            var v = NewVersion($"v{i}");
            versions.Add(v);
            await Secrets.WriteAsync(tx => { tx.UpsertVersion(secret.Id, v, Blob()); return 0; }, None);
        }

        using var stop = new CancellationTokenSource();
        var readers = Enumerable.Range(0, 2).Select(_ => Task.Run(async () =>
        {
            var reads = 0;
            while (!stop.IsCancellationRequested || reads == 0)
            {
                var s = (await Secrets.FindByArnAsync(secret.Arn, None))!;
                Assert.Single(s.Versions, v => v.Stages.Contains("AWSCURRENT"));
                reads++;
                await Task.Yield(); // reads may complete synchronously; leave the pool to the writer's callers too
            }
            return reads;
        })).ToList();

        for (var i = 0; i < 200; i++)
        {
            var target = versions[(i + 1) % versions.Count];
            await Secrets.WriteAsync(tx =>
            {
                var s = tx.FindByArn(secret.Arn)!;
                // Remove the label first, then add it: only the commit may be seen.
                foreach (var v in s.Versions.Where(v => v.Stages.Remove("AWSCURRENT")))
                    tx.UpsertVersion(s.Id, v, null);
                var t = s.FindVersion(target.VersionId)!;
                t.Stages.Add("AWSCURRENT");
                tx.UpsertVersion(s.Id, t, null);
                return 0;
            }, None);
            // A read after an acknowledged write sees it.
            Assert.Contains("AWSCURRENT", (await Secrets.FindByArnAsync(secret.Arn, None))!.FindVersion(target.VersionId)!.Stages);
        }
        stop.Cancel();
        foreach (var reads in await Task.WhenAll(readers)) Assert.True(reads > 0);
    }

    [Fact]
    public async Task A_write_cancelled_before_it_starts_is_not_applied()
    {
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
            Secrets.WriteAsync(tx => { tx.InsertSecret(NewSecret("cancelled")); return 0; }, cancelled.Token));
        Assert.Null(await Secrets.FindByNameAsync(Region, "cancelled", None));
    }

    // ---- listing ----

    [Fact]
    public async Task List_returns_the_regions_secrets_in_creation_order_including_scheduled_deletions()
    {
        foreach (var name in new[] { "zeta", "alpha", "mid" }) await CreateAsync(name, Blob());
        await CreateAsync("elsewhere", Blob(), OtherRegion);
        var alpha = (await Secrets.FindByNameAsync(Region, "alpha", None))!;
        alpha.DeletedDate = T0;
        alpha.DeletionDate = T0.AddDays(7);
        await Secrets.WriteAsync(tx => { tx.UpdateSecret(alpha); return 0; }, None);

        var list = await Secrets.ListAsync(Region, None);
        Assert.Equal(["zeta", "alpha", "mid"], list.Select(s => s.Name));
        Assert.All(list, s => Assert.Single(s.Versions));
        Assert.True(list[1].IsScheduledForDeletion);
        Assert.Equal(["elsewhere"], (await Secrets.ListAsync(OtherRegion, None)).Select(s => s.Name));
    }

    [Fact]
    public async Task List_due_for_purge_returns_secrets_whose_deletion_date_has_come_in_any_region()
    {
        var now = T0.AddDays(10);
        async Task Schedule(string name, string region, DateTimeOffset? deletion)
        {
            var (s, _) = await CreateAsync(name, Blob(), region);
            if (deletion is null) return;
            s.DeletedDate = deletion.Value.AddDays(-7);
            s.DeletionDate = deletion;
            await Secrets.WriteAsync(tx => { tx.UpdateSecret(s); return 0; }, None);
        }
        await Schedule("past", Region, now.AddDays(-1));
        await Schedule("exactly-now", OtherRegion, now);
        await Schedule("future", Region, now.AddMilliseconds(1));
        await Schedule("not-deleted", Region, null);

        var due = await Secrets.ListDueForPurgeAsync(now, None);
        Assert.Equal(["exactly-now", "past"], due.Select(s => s.Name).Order());
        Assert.All(due, s => Assert.Single(s.Versions));
    }

    // ---- settings and access keys ----

    [Fact]
    public async Task Settings_are_first_writer_wins_and_survive_reopen()
    {
        Assert.Null(await Accounts.GetSettingAsync("account-id", None));
        Assert.Equal("111111111111", await Accounts.GetOrAddSettingAsync("account-id", "111111111111", None));
        Assert.Equal("111111111111", await Accounts.GetOrAddSettingAsync("account-id", "222222222222", None));

        var racers = await Task.WhenAll(Enumerable.Range(0, 16).Select(i =>
            Task.Run(() => Accounts.GetOrAddSettingAsync("raced", $"value-{i}", None))));
        Assert.Single(racers.Distinct());

        await Reopen();
        Assert.Equal("111111111111", await Accounts.GetSettingAsync("account-id", None));
        Assert.Equal(racers[0], await Accounts.GetSettingAsync("raced", None));
    }

    [Fact]
    public async Task Access_keys_insert_once_and_are_found_after_reopen()
    {
        var key = new AccessKeyRecord("AKIAEXAMPLE000000001", Blob(80), "admin",
            "arn:aws:iam::123456789012:user/admin", "Active", T0);
        Assert.Null(await Accounts.FindAccessKeyAsync(key.AccessKeyId, None));
        Assert.True(await Accounts.InsertAccessKeyAsync(key, None));

        var other = key with { SecretBlob = Blob(80), UserName = "intruder", Status = "Inactive" };
        Assert.False(await Accounts.InsertAccessKeyAsync(other, None));

        await Reopen();
        var found = await Accounts.FindAccessKeyAsync(key.AccessKeyId, None);
        Assert.NotNull(found);
        Assert.Equal(key.SecretBlob, found.SecretBlob);
        Assert.Equal(key.UserName, found.UserName);
        Assert.Equal(key.PrincipalArn, found.PrincipalArn);
        Assert.Equal(key.Status, found.Status);
        Assert.Equal(key.CreatedDate, found.CreatedDate);
        Assert.Null(await Accounts.FindAccessKeyAsync("AKIAUNKNOWN", None));
    }

    // ---- faults (reliability matrix §3.2) ----

    [Fact]
    public async Task A_fault_in_the_middle_of_work_is_seen_by_the_caller_and_nothing_is_half_written()
    {
        // Calls in the work below: InsertSecret (1), UpsertVersion (2), UpsertVersion (3), UpdateSecret (4).
        for (var nth = 1; nth <= 4; nth++)
        {
            var faulty = new FaultInjectingSecretStore(Secrets, Accounts,
                new FaultPlan { FailNthCall = nth, Scope = FaultScope.TransactionCalls, Kind = FaultKind.DiskFull });
            var secret = NewSecret($"half-{nth}");
            var error = await Assert.ThrowsAnyAsync<Exception>(() => faulty.WriteAsync(tx =>
            {
                tx.InsertSecret(secret);
                tx.UpsertVersion(secret.Id, NewVersion("v1", "AWSPREVIOUS"), Blob());
                tx.UpsertVersion(secret.Id, NewVersion("v2", "AWSCURRENT"), Blob());
                secret.Description = "complete";
                tx.UpdateSecret(secret);
                return 0;
            }, None));
            Assert.True(FaultInjectingSecretStore.IsInjected(error));
            Assert.Equal(1, faulty.InjectedFaults);
            Assert.Null(await Secrets.FindByNameAsync(Region, secret.Name, None));
            if (secret.Id != 0)
            {
                Assert.Null(await Secrets.ReadBlobAsync(secret.Id, "v1", None));
                Assert.Null(await Secrets.ReadBlobAsync(secret.Id, "v2", None));
            }
        }
        // The store is still fine afterwards.
        await CreateAsync("after-faults", Blob());
        Assert.Equal(["after-faults"], (await Secrets.ListAsync(Region, None)).Select(s => s.Name));
    }

    [Fact]
    public async Task Under_random_faults_every_write_is_all_or_nothing_and_acknowledged_ones_survive_reopen()
    {
        var faulty = new FaultInjectingSecretStore(Secrets, Accounts,
            new FaultPlan { FailPercentage = 15, Seed = 42, Kind = FaultKind.Io });
        var outcomes = await Task.WhenAll(Enumerable.Range(0, 48).Select(i => Task.Run(async () =>
        {
            var secret = NewSecret($"random-{i}");
            try
            {
                await faulty.WriteAsync(tx =>
                {
                    tx.InsertSecret(secret);
                    tx.UpsertVersion(secret.Id, NewVersion("v1", "AWSPREVIOUS"), Blob());
                    tx.UpsertVersion(secret.Id, NewVersion("v2", "AWSCURRENT"), Blob());
                    tx.UpdateSecret(secret);
                    return 0;
                }, None);
                return (secret.Name, Acknowledged: true);
            }
            catch (Exception error) when (FaultInjectingSecretStore.IsInjected(error))
            {
                return (secret.Name, Acknowledged: false);
            }
        })));
        Assert.Contains(outcomes, o => !o.Acknowledged);
        Assert.Contains(outcomes, o => o.Acknowledged);

        await Reopen();
        foreach (var (name, acknowledged) in outcomes)
        {
            var stored = await Secrets.FindByNameAsync(Region, name, None);
            if (acknowledged)
            {
                Assert.NotNull(stored);
                Assert.Equal(["v1", "v2"], stored.Versions.Select(v => v.VersionId));
                Assert.NotNull(await Secrets.ReadBlobAsync(stored.Id, "v2", None));
            }
            else if (stored is not null)
            {
                // A fault after the commit (none in this plan) could leave it present, but then complete.
                Assert.Equal(2, stored.Versions.Count);
            }
        }
    }

    [Fact]
    public async Task A_lost_acknowledgement_leaves_the_write_whole_and_latency_only_delays()
    {
        var faulty = new FaultInjectingSecretStore(Secrets, Accounts,
            new FaultPlan { FailNthCall = 1, Scope = FaultScope.StoreCalls, Timing = FaultTiming.After, Latency = TimeSpan.FromMilliseconds(20) });
        var secret = NewSecret("ack-lost");
        var started = TimeProvider.System.GetTimestamp();
        await Assert.ThrowsAnyAsync<Exception>(() => faulty.WriteAsync(tx =>
        {
            tx.InsertSecret(secret);
            tx.UpsertVersion(secret.Id, NewVersion("v1", "AWSCURRENT"), Blob());
            return 0;
        }, None));
        Assert.True(TimeProvider.System.GetElapsedTime(started) >= TimeSpan.FromMilliseconds(20));

        // The caller saw an error, yet the write committed, and wholly.
        var stored = await faulty.FindByNameAsync(Region, "ack-lost", None);
        Assert.NotNull(stored);
        Assert.NotNull(await faulty.ReadBlobAsync(stored.Id, "v1", None));
    }

    // ---- rotation state (migration 002) ----

    [Fact]
    public async Task Rotation_state_round_trips_with_the_secret_and_lists_rotating_secrets_across_regions()
    {
        var (plain, _) = await CreateAsync("rot-none", Blob());
        var (a, _) = await CreateAsync("rot-a", Blob());
        var (b, _) = await CreateAsync("rot-b", Blob(), OtherRegion);
        var state = new Coffer.Core.Rotation.RotationState
        {
            WindowStart = T0.AddDays(30),
            Run = new Coffer.Core.Rotation.RotationRun
            {
                Token = "11111111-2222-3333-4444-555555555555", RotationToken = "rt", Function = "coffer-mysql-single-user",
                Step = "setSecret", Phase = "started", Status = "retrying", Attempt = 2, StartedDate = T0, UpdatedDate = T0,
                NextAttemptDate = T0.AddMinutes(2),
            },
            LastFailure = new Coffer.Core.Rotation.RotationFailure("setSecret", "could not connect", T0, "t", 1),
        };
        await Secrets.WriteAsync(tx =>
        {
            var s = tx.FindByArn(a.Arn)!;
            s.RotationEnabled = true;
            s.Rotation = state;
            tx.UpdateSecret(s);
            var o = tx.FindByArn(b.Arn)!;
            o.RotationEnabled = false;
            o.Rotation = new Coffer.Core.Rotation.RotationState { LastFailure = state.LastFailure };
            tx.UpdateSecret(o);
            return 0;
        }, None);
        await Reopen();
        var read = (await Secrets.FindByArnAsync(a.Arn, None))!.Rotation!;
        Assert.Equal(state.WindowStart, read.WindowStart);
        Assert.Equal(("setSecret", "started", "retrying", 2), (read.Run!.Step, read.Run.Phase, read.Run.Status, read.Run.Attempt));
        Assert.Equal(state.Run.NextAttemptDate, read.Run.NextAttemptDate);
        Assert.Equal(state.LastFailure, read.LastFailure);
        Assert.Null((await Secrets.FindByArnAsync(plain.Arn, None))!.Rotation);
        var rotating = await Secrets.ListRotatingAsync(None);
        Assert.Equal([a.Arn, b.Arn], rotating.Select(s => s.Arn).ToList());
    }
}
