using System.Collections.Concurrent;
using System.Text.RegularExpressions;
using Coffer.Core;
using Xunit;

namespace Coffer.Core.Tests;

public sealed partial class RequestIdsTests
{
    [GeneratedRegex("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")]
    private static partial Regex Version4();

    [Fact]
    public void Ids_are_version_4_uuids_in_the_d_form()
    {
        for (var i = 0; i < 100; i++)
        {
            var id = RequestIds.New();
            Assert.Matches(Version4(), id);
            Assert.Equal(4, Guid.Parse(id).Version);
        }
    }

    [Fact]
    public void Ids_do_not_repeat_across_threads_and_refills()
    {
        var seen = new ConcurrentDictionary<string, bool>();
        Parallel.For(0, 8, _ =>
        {
            for (var i = 0; i < 5_000; i++)
                Assert.True(seen.TryAdd(RequestIds.New(), true));
        });
        Assert.Equal(40_000, seen.Count);
    }
}
