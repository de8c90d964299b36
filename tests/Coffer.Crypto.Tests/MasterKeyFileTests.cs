using System.Security.Cryptography;
using Coffer.Crypto;

namespace Coffer.Crypto.Tests;

public sealed class MasterKeyFileTests : IDisposable
{
    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    private readonly string _directory = Directory.CreateTempSubdirectory("coffer-key-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private string PathOf(string name) => Path.Combine(_directory, name);

    private string WriteKeyFile(string name, string content, UnixFileMode mode = OwnerOnly)
    {
        var path = PathOf(name);
        File.WriteAllText(path, content);
        File.SetUnixFileMode(path, mode);
        return path;
    }

    [Fact]
    public void A_created_key_file_has_mode_0600_and_holds_32_bytes_of_base64()
    {
        var path = PathOf("nested/dir/master.key");
        using var key = MasterKeyFile.LoadOrCreate(path, out var created);
        Assert.True(created);
        Assert.Equal(OwnerOnly, File.GetUnixFileMode(path));
        Assert.Equal(MasterKey.KeySizeBytes, Convert.FromBase64String(File.ReadAllText(path).Trim()).Length);

        using var again = MasterKeyFile.LoadOrCreate(path, out var createdAgain);
        Assert.False(createdAgain);
        Assert.Equal(key.KeyId, again.KeyId);
    }

    [Theory]
    [InlineData(UnixFileMode.OtherRead)]                          // 0604
    [InlineData(UnixFileMode.GroupRead | UnixFileMode.OtherRead)] // 0644
    [InlineData(UnixFileMode.GroupRead)]                          // 0640
    [InlineData(UnixFileMode.GroupWrite)]                         // 0620
    public void A_key_file_readable_by_group_or_others_is_refused(UnixFileMode extra)
    {
        var path = PathOf("master.key");
        using (MasterKeyFile.LoadOrCreate(path, out _)) { }
        File.SetUnixFileMode(path, OwnerOnly | extra);
        Assert.Throws<MasterKeyException>(() => MasterKeyFile.Load(path));
        Assert.Throws<MasterKeyException>(() => MasterKeyFile.LoadOrCreate(path, out _));
    }

    [Fact]
    public void Mode_0644_is_refused_even_for_a_valid_key()
    {
        var path = WriteKeyFile("loose.key", Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)),
            OwnerOnly | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        Assert.Throws<MasterKeyException>(() => MasterKeyFile.Load(path));
    }

    [Theory]
    [InlineData(16)]
    [InlineData(31)]
    [InlineData(33)]
    [InlineData(64)]
    public void Content_that_is_not_32_bytes_is_refused(int size)
    {
        var path = WriteKeyFile("short.key", Convert.ToBase64String(RandomNumberGenerator.GetBytes(size)) + "\n");
        Assert.Throws<MasterKeyException>(() => MasterKeyFile.Load(path));
    }

    [Theory]
    [InlineData("")]
    [InlineData("not base64 at all!")]
    [InlineData("0123456789abcdef0123456789abcdef")] // 32 characters, but hex, not base64 of 32 bytes
    public void Content_that_is_not_base64_of_a_key_is_refused_without_echoing_it(string content)
    {
        var path = WriteKeyFile("bad.key", content);
        var error = Assert.Throws<MasterKeyException>(() => MasterKeyFile.Load(path));
        if (content.Length > 0) Assert.DoesNotContain(content, error.Message);
    }

    [Fact]
    public void A_valid_key_file_written_by_hand_loads_and_trailing_whitespace_is_allowed()
    {
        var bytes = RandomNumberGenerator.GetBytes(32);
        var path = WriteKeyFile("hand.key", Convert.ToBase64String(bytes) + "\n");
        using var key = MasterKeyFile.Load(path);
        using var expected = MasterKey.FromBytes(bytes);
        Assert.Equal(expected.KeyId, key.KeyId);
    }
}
