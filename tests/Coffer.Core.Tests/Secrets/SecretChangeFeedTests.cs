using Coffer.Core.Secrets;

namespace Coffer.Core.Tests.Secrets;

public sealed class SecretChangeFeedTests
{
    [Fact]
    public async Task Readers_get_changes_after_their_sequence()
    {
        var feed = new SecretChangeFeed(capacity: 8);
        feed.Publish("a"); feed.Publish("b"); feed.Publish("a");
        var all = await feed.ReadAsync(0, TimeSpan.Zero, default);
        Assert.Equal(3, all.Sequence);
        Assert.Equal(["a", "b"], all.Arns.Order());
        var later = await feed.ReadAsync(2, TimeSpan.Zero, default);
        Assert.Equal(["a"], later.Arns);
    }

    [Fact]
    public async Task A_waiting_reader_wakes_on_publish()
    {
        var feed = new SecretChangeFeed();
        var read = feed.ReadAsync(0, TimeSpan.FromMinutes(1), default);
        Assert.False(read.IsCompleted);
        feed.Publish("x");
        var batch = await read;
        Assert.Equal(["x"], batch.Arns);
    }

    [Fact]
    public async Task A_reader_too_far_behind_or_from_another_epoch_is_told_to_reset()
    {
        var feed = new SecretChangeFeed(capacity: 4);
        for (var i = 0; i < 10; i++) feed.Publish($"s{i}");
        Assert.True((await feed.ReadAsync(1, TimeSpan.Zero, default)).Reset);
        Assert.True((await feed.ReadAsync(99, TimeSpan.Zero, default)).Reset);
        Assert.False((await feed.ReadAsync(8, TimeSpan.Zero, default)).Reset);
    }

    [Fact]
    public async Task An_iam_change_tells_readers_to_refresh_everything_and_says_why()
    {
        var feed = new SecretChangeFeed(capacity: 8);
        feed.Publish("a");
        var waiting = feed.ReadAsync(1, TimeSpan.FromMinutes(1), default);
        feed.PublishIamChange();
        feed.Publish("b");
        var woken = await waiting;
        Assert.Equal((true, true, 3L), (woken.Reset, woken.IamChanged, woken.Sequence));
        Assert.Empty(woken.Arns);
        // From before the change: reset, whatever else changed around it. After it: ARNs as usual.
        Assert.True((await feed.ReadAsync(0, TimeSpan.Zero, default)).IamChanged);
        var after = await feed.ReadAsync(2, TimeSpan.Zero, default);
        Assert.Equal((false, false), (after.Reset, after.IamChanged));
        Assert.Equal(["b"], after.Arns);
    }

    [Fact]
    public async Task A_reset_for_falling_behind_or_another_epoch_does_not_claim_an_iam_change()
    {
        var feed = new SecretChangeFeed(capacity: 2);
        feed.PublishIamChange();
        for (var i = 0; i < 5; i++) feed.Publish($"s{i}");
        var behind = await feed.ReadAsync(0, TimeSpan.Zero, default);
        Assert.Equal((true, false), (behind.Reset, behind.IamChanged));
    }
}
