using System.Text.RegularExpressions;
using Coffer.Crypto;

namespace Coffer.Crypto.Tests;

public sealed partial class MasterKeyTests
{
    [Fact]
    public void Key_ids_are_derived_from_the_key_and_reveal_a_fixed_shape_only()
    {
        var bytes = new byte[32];
        bytes[0] = 7;
        using var a = MasterKey.FromBytes(bytes);
        using var b = MasterKey.FromBytes(bytes);
        using var c = MasterKey.Generate();
        Assert.Equal(a.KeyId, b.KeyId);
        Assert.NotEqual(a.KeyId, c.KeyId);
        Assert.Matches(KeyIdShape(), a.KeyId);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(16)]
    [InlineData(31)]
    [InlineData(33)]
    public void Keys_of_the_wrong_size_are_refused(int size)
    {
        Assert.Throws<ArgumentException>(() => MasterKey.FromBytes(new byte[size]));
    }

    [Fact]
    public void Derived_keys_are_deterministic_and_bound_to_their_purpose()
    {
        using var key = MasterKey.Generate();
        Assert.Equal(key.DeriveKey("audit-hmac"), key.DeriveKey("audit-hmac"));
        Assert.NotEqual(key.DeriveKey("audit-hmac"), key.DeriveKey("console-session"));
        Assert.Equal(64, key.DeriveKey("x", 64).Length);
    }

    [GeneratedRegex("^mk-[0-9a-f]{16}$")]
    private static partial Regex KeyIdShape();
}
