using Coffer.Core.Secrets;

namespace Coffer.Core.Tests.Secrets;

public sealed class RetentionTests
{
    private static readonly DateTimeOffset Now = new(2026, 1, 10, 0, 0, 0, TimeSpan.Zero);

    private static Secret WithVersions(int count, Func<int, DateTimeOffset> created, Func<int, string[]> stages)
    {
        var s = new Secret { Region = "r", Name = "n", Arn = "a", PrimaryRegion = "r" };
        for (var i = 0; i < count; i++)
            s.Versions.Add(new SecretVersion { VersionId = $"v{i:D3}", CreatedDate = created(i), Stages = [.. stages(i)] });
        return s;
    }

    [Fact]
    public void Keeps_everything_up_to_the_limit()
    {
        var s = WithVersions(100, _ => Now.AddDays(-5), _ => []);
        Assert.Empty(Retention.SelectForDeletion(s, Now, new SecretsOptions()));
    }

    [Fact]
    public void Deletes_oldest_unlabelled_old_versions_beyond_the_limit()
    {
        var s = WithVersions(103, _ => Now.AddDays(-5), i => i == 1 ? ["AWSPREVIOUS"] : i == 102 ? ["AWSCURRENT"] : []);
        var doomed = Retention.SelectForDeletion(s, Now, new SecretsOptions()).Select(v => v.VersionId).ToList();
        Assert.Equal(["v000", "v002", "v003"], doomed);
    }

    [Fact]
    public void Never_deletes_versions_younger_than_a_day()
    {
        var s = WithVersions(150, i => i < 10 ? Now.AddDays(-2) : Now.AddHours(-1), _ => []);
        var doomed = Retention.SelectForDeletion(s, Now, new SecretsOptions());
        Assert.Equal(10, doomed.Count);
        Assert.All(doomed, v => Assert.True(v.CreatedDate < Now.AddDays(-1)));
    }
}
