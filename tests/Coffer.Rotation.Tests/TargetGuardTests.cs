using System.Net;
using System.Text.Json;
using Coffer.Core.Secrets;
using Coffer.Rotation.Database;

namespace Coffer.Rotation.Tests;

/// <summary>Rotation targets (reliability matrix "R" rows): metadata and link-local addresses are refused before any packet.</summary>
public sealed class TargetGuardTests
{
    [Theory]
    [InlineData("169.254.169.254", true)]
    [InlineData("::ffff:169.254.169.254", true)]
    [InlineData("fd00:ec2::254", true)]
    [InlineData("fe80::1", true)]
    [InlineData("0.0.0.0", true)]
    [InlineData("::", true)]
    [InlineData("224.0.0.1", true)]
    [InlineData("127.0.0.1", false)]
    [InlineData("10.1.2.3", false)]
    [InlineData("::1", false)]
    public void Blocked_addresses(string address, bool blocked) =>
        Assert.Equal(blocked, TargetGuard.IsBlocked(IPAddress.Parse(address)));

    [Theory]
    [InlineData("169.254.169.254")]
    [InlineData("2852039166")]          // 169.254.169.254 as one decimal number
    [InlineData("[fd00:ec2::254]")]
    [InlineData("[::ffff:169.254.169.254]")]
    [InlineData("0.0.0.0")]
    public async Task A_rotation_towards_a_blocked_host_fails_as_target_not_allowed(string host)
    {
        await using var rig = new RotationRig();
        BuiltInRotators.Register(rig.Catalog, rig.Secrets, new DatabaseRotatorOptions());
        var value = JsonSerializer.Serialize(new { engine = "postgres", host, port = 5432, username = "app", password = "x" });
        var arn = await rig.CreateAsync("ssrf-" + Guid.NewGuid().ToString("N")[..6], value);
        await rig.RotateAsync(arn, "coffer-postgresql-single-user");
        await rig.TickAsync();
        var status = await rig.StatusAsync(arn);
        Assert.Equal(("failed", "setSecret", TargetGuard.NotAllowed), (status.Status, status.LastFailure!.Step, status.LastFailure.Reason));
        Assert.Equal(value, await rig.ValueAsync(arn));
    }
}
