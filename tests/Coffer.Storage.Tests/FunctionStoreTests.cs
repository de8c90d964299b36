using Coffer.Core.Functions;
using Coffer.Storage.Sqlite;

namespace Coffer.Storage.Tests;

/// <summary>
/// <see cref="IFunctionStore"/> on a real SQLite file (migration 006): unique names per region, compare-and-swap on
/// the revision, code kept unless replaced, listings without code in name order, durability across a reopen.
/// </summary>
public sealed class FunctionStoreTests : IAsyncLifetime
{
    private readonly string _directory = Directory.CreateTempSubdirectory("coffer-fnstore-").FullName;
    private SqliteStore _store = null!;

    private string DatabasePath => Path.Combine(_directory, "coffer.db");

    public Task InitializeAsync()
    {
        _store = SqliteStore.Open(DatabasePath);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _store.DisposeAsync();
        try { Directory.Delete(_directory, recursive: true); }
        catch (IOException) { }
    }

    private static FunctionRecord Record(string name, string region = "us-east-1", string revision = "r1", byte[]? code = null, byte[]? env = null) =>
        new(region, name, $"arn:aws:lambda:{region}:111111111111:function:{name}", revision, "{\"Runtime\":\"python3.11\"}", env, code ?? [1, 2, 3]);

    [Fact]
    public async Task Insert_find_and_refuse_a_duplicate_name_in_the_same_region()
    {
        Assert.True(await _store.InsertFunctionAsync(Record("f", env: [9]), default));
        Assert.False(await _store.InsertFunctionAsync(Record("f", revision: "r2"), default));
        Assert.True(await _store.InsertFunctionAsync(Record("f", region: "eu-west-1"), default));
        Assert.True(await _store.InsertFunctionAsync(Record("F"), default));   // names are case-sensitive

        var found = await _store.FindFunctionAsync("us-east-1", "f", withCode: true, default);
        Assert.NotNull(found);
        Assert.Equal("r1", found.RevisionId);
        Assert.Equal([1, 2, 3], found.CodeBlob!);
        Assert.Equal([9], found.EnvironmentBlob!);
        Assert.Null((await _store.FindFunctionAsync("us-east-1", "f", withCode: false, default))!.CodeBlob);
        Assert.Null(await _store.FindFunctionAsync("us-east-1", "g", withCode: false, default));
    }

    [Fact]
    public async Task Replace_is_a_compare_and_swap_on_the_revision_and_keeps_code_unless_given()
    {
        await _store.InsertFunctionAsync(Record("f"), default);
        Assert.True(await _store.ReplaceFunctionAsync(Record("f", revision: "r2") with { CodeBlob = null, EnvironmentBlob = [7] }, "r1", default));
        var found = await _store.FindFunctionAsync("us-east-1", "f", withCode: true, default);
        Assert.Equal("r2", found!.RevisionId);
        Assert.Equal([1, 2, 3], found.CodeBlob!);
        Assert.Equal([7], found.EnvironmentBlob!);

        Assert.False(await _store.ReplaceFunctionAsync(Record("f", revision: "r3", code: [4]), "r1", default));
        Assert.True(await _store.ReplaceFunctionAsync(Record("f", revision: "r3", code: [4]), "r2", default));
        found = await _store.FindFunctionAsync("us-east-1", "f", withCode: true, default);
        Assert.Equal("r3", found!.RevisionId);
        Assert.Equal([4], found.CodeBlob!);
        Assert.Null(found.EnvironmentBlob);
        Assert.False(await _store.ReplaceFunctionAsync(Record("missing", revision: "r2"), "r1", default));
    }

    [Fact]
    public async Task List_pages_by_name_within_a_region_without_code()
    {
        foreach (var n in new[] { "b", "a", "c", "B" }) await _store.InsertFunctionAsync(Record(n), default);
        await _store.InsertFunctionAsync(Record("z", region: "eu-west-1"), default);
        var first = await _store.ListFunctionsAsync("us-east-1", null, 2, default);
        Assert.Equal(["B", "a"], first.Select(r => r.Name));
        Assert.All(first, r => Assert.Null(r.CodeBlob));
        var rest = await _store.ListFunctionsAsync("us-east-1", "a", 10, default);
        Assert.Equal(["b", "c"], rest.Select(r => r.Name));
        Assert.Equal(["z"], (await _store.ListFunctionsAsync("eu-west-1", null, 10, default)).Select(r => r.Name));
    }

    [Fact]
    public async Task Delete_and_durability_across_a_reopen()
    {
        await _store.InsertFunctionAsync(Record("keep"), default);
        await _store.InsertFunctionAsync(Record("drop"), default);
        Assert.True(await _store.DeleteFunctionAsync("us-east-1", "drop", default));
        Assert.False(await _store.DeleteFunctionAsync("us-east-1", "drop", default));
        await _store.DisposeAsync();
        _store = SqliteStore.Open(DatabasePath);
        Assert.NotNull(await _store.FindFunctionAsync("us-east-1", "keep", withCode: true, default));
        Assert.Null(await _store.FindFunctionAsync("us-east-1", "drop", withCode: false, default));
    }
}
