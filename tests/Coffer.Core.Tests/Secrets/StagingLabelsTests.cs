using Coffer.Core.Secrets;

namespace Coffer.Core.Tests.Secrets;

public sealed class StagingLabelsTests
{
    private static Secret SecretWith(params string[][] stagesPerVersion)
    {
        var s = new Secret { Region = "us-east-1", Name = "n", Arn = "arn:aws:secretsmanager:us-east-1:111111111111:secret:n-abcdef", PrimaryRegion = "us-east-1" };
        for (var i = 0; i < stagesPerVersion.Length; i++)
            s.Versions.Add(new SecretVersion { VersionId = $"v{i}", Stages = [.. stagesPerVersion[i]], HasValue = true });
        return s;
    }

    [Fact]
    public void Moving_current_moves_previous_to_the_old_current()
    {
        var s = SecretWith(["AWSPREVIOUS"], ["AWSCURRENT"], []);
        var changed = StagingLabels.Move(s, "AWSCURRENT", s.Versions[2]);
        Assert.Empty(s.Versions[0].Stages);
        Assert.Equal(["AWSPREVIOUS"], s.Versions[1].Stages);
        Assert.Equal(["AWSCURRENT"], s.Versions[2].Stages);
        Assert.Equal(3, changed.Count);
    }

    [Fact]
    public void Moving_current_keeps_the_targets_other_labels()
    {
        var s = SecretWith(["AWSCURRENT"], ["AWSPENDING"]);
        StagingLabels.Move(s, "AWSCURRENT", s.Versions[1]);
        Assert.Equal(["AWSPENDING", "AWSCURRENT"], s.Versions[1].Stages);
        Assert.Equal(["AWSPREVIOUS"], s.Versions[0].Stages);
    }

    [Fact]
    public void Rolling_back_to_previous_swaps_current_and_previous()
    {
        var s = SecretWith(["AWSPREVIOUS"], ["AWSCURRENT"]);
        StagingLabels.Move(s, "AWSCURRENT", s.Versions[0]);
        Assert.Equal(["AWSCURRENT"], s.Versions[0].Stages);
        Assert.Equal(["AWSPREVIOUS"], s.Versions[1].Stages);
    }

    [Fact]
    public void Moving_a_custom_label_leaves_current_alone()
    {
        var s = SecretWith(["AWSCURRENT", "blue"], []);
        StagingLabels.Move(s, "blue", s.Versions[1]);
        Assert.Equal(["AWSCURRENT"], s.Versions[0].Stages);
        Assert.Equal(["blue"], s.Versions[1].Stages);
    }

    [Fact]
    public void Moving_onto_the_holder_changes_nothing()
    {
        var s = SecretWith(["AWSCURRENT"]);
        Assert.Empty(StagingLabels.Move(s, "AWSCURRENT", s.Versions[0]));
        Assert.Equal(["AWSCURRENT"], s.Versions[0].Stages);
    }

    [Fact]
    public void Every_label_stays_on_at_most_one_version_under_random_moves()
    {
        var rng = new Random(42);
        var s = SecretWith(["AWSCURRENT"], [], [], [], []);
        string[] labels = ["AWSCURRENT", "AWSPENDING", "AWSPREVIOUS", "a", "b"];
        for (var i = 0; i < 5_000; i++)
        {
            var label = labels[rng.Next(labels.Length)];
            if (label == "AWSPREVIOUS") continue; // moved only as a consequence of AWSCURRENT
            StagingLabels.Move(s, label, s.Versions[rng.Next(s.Versions.Count)]);
            foreach (var l in labels)
                Assert.True(s.Versions.Count(v => v.Stages.Contains(l)) <= 1, l);
            Assert.Equal(1, s.Versions.Count(v => v.Stages.Contains("AWSCURRENT")));
            Assert.All(s.Versions, v => Assert.Equal(v.Stages.Count, v.Stages.Distinct().Count()));
        }
    }
}
