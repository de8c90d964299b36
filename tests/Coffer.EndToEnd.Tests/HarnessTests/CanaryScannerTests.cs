using System.Security.Cryptography;
using System.Text;
using Coffer.EndToEnd.Tests.Harness;

namespace Coffer.EndToEnd.Tests.HarnessTests;

/// <summary>The scanner finds a deliberately seeded leak in every form it claims to cover, and nothing in clean data.</summary>
public sealed class CanaryScannerTests
{
    private static byte[] Noise(int n) => Encoding.ASCII.GetBytes(RandomNumberGenerator.GetString("abcdefghij klmnop\n", n));

    public static TheoryData<string> Forms() =>
    [
        "raw", "substring", "base64-0", "base64-1", "base64-2", "hex", "HEX", "sha256-hex", "sha256-base64", "sha1-hex",
        "md5-hex", "md5-raw", "value-sha256", "json-escaped", "url-encoded",
    ];

    [Theory]
    [MemberData(nameof(Forms))]
    public void Finds_a_seeded_leak_in_a_file(string form)
    {
        var canary = Canary.Special();
        byte[] core = Encoding.UTF8.GetBytes(canary.Core);
        byte[] leak = form switch
        {
            "raw" => core,
            "substring" => core[20..36],
            "base64-0" => Encoding.ASCII.GetBytes(Convert.ToBase64String(core)),
            "base64-1" => Encoding.ASCII.GetBytes(Convert.ToBase64String([.. "x"u8, .. core, .. "yz"u8])),
            "base64-2" => Encoding.ASCII.GetBytes(Convert.ToBase64String([.. "xy"u8, .. core, .. "z"u8])),
            "hex" => Encoding.ASCII.GetBytes(Convert.ToHexStringLower(core)),
            "HEX" => Encoding.ASCII.GetBytes(Convert.ToHexString(core)),
            "sha256-hex" => Encoding.ASCII.GetBytes(Convert.ToHexStringLower(SHA256.HashData(core))),
            "sha256-base64" => Encoding.ASCII.GetBytes(Convert.ToBase64String(SHA256.HashData(core))),
            "sha1-hex" => Encoding.ASCII.GetBytes(Convert.ToHexStringLower(SHA1.HashData(core))),
            "md5-hex" => Encoding.ASCII.GetBytes(Convert.ToHexStringLower(MD5.HashData(core))),
            "md5-raw" => MD5.HashData(core),
            "value-sha256" => Encoding.ASCII.GetBytes(Convert.ToHexStringLower(SHA256.HashData(canary.Bytes))),
            "json-escaped" => Encoding.UTF8.GetBytes(System.Text.Json.JsonSerializer.Serialize(canary.Text)),
            "url-encoded" => Encoding.ASCII.GetBytes(Uri.EscapeDataString(canary.Text!)),
            _ => throw new ArgumentOutOfRangeException(nameof(form)),
        };

        string dir = Directory.CreateTempSubdirectory("coffer-scanner-").FullName;
        try
        {
            File.WriteAllBytes(Path.Combine(dir, "clean.log"), Noise(100_000));
            File.WriteAllBytes(Path.Combine(dir, "leaky.log"), [.. Noise(5_000), .. leak, .. Noise(5_000)]);
            var findings = new CanaryScanner([canary, Canary.Plain()]).ScanDirectory(dir, "tmp");
            Assert.NotEmpty(findings);
            Assert.All(findings, f => Assert.Equal("tmp/leaky.log", f.Source));
            Assert.All(findings, f => Assert.StartsWith("special", f.Canary, StringComparison.Ordinal));
            Assert.Contains(findings, f => f.Offset >= 5_000);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Finds_nothing_in_clean_data_or_a_fifteen_character_fragment()
    {
        var canary = Canary.Plain();
        byte[] fragment = Encoding.ASCII.GetBytes(canary.Core[10..25]);
        var scanner = new CanaryScanner([canary]);
        // Spaces around the fragment: the noise shares letters with the GUID in the core ('a'–'f'), so a noise
        // character on either side could extend it to a real 16-character substring (about 4 % of runs failed so). No
        // core has a space.
        Assert.Empty(scanner.Scan("noise", [.. Noise(200_000), (byte)' ', .. fragment, (byte)' ', .. Noise(100)]));
    }

    [Fact]
    public void Finds_the_canary_in_the_middle_of_a_64KiB_value_and_its_base64()
    {
        var canary = Canary.Large();
        Assert.Equal(65_536, canary.Bytes.Length);
        var scanner = new CanaryScanner([canary]);
        byte[] b64 = Encoding.ASCII.GetBytes(Convert.ToBase64String([.. "{"u8, .. canary.Bytes]));
        Assert.NotEmpty(scanner.Scan("base64 of the whole value, shifted", b64));
    }

    [Fact]
    public void Canary_cores_have_the_specified_shape()
    {
        string core = Canary.NewCore();
        Assert.Matches("^CNRY-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}-[0-9A-Za-z]{22}$", core);
    }

    [Fact]
    public void Seeded_values_are_reproducible_and_never_need_the_disk()
    {
        var a = new SeededValues(7);
        var b = new SeededValues(7);
        string token = Guid.NewGuid().ToString();
        Assert.Equal(a.For(token).Hash, b.For(token).Hash);
        Assert.NotEqual(a.For(token).Hash, new SeededValues(8).For(token).Hash);
        Assert.NotEqual(a.For(token).Hash, a.Other(token).Hash);
        Assert.Contains(Enumerable.Range(0, 200), i => a.For($"t-{i}").Binary is not null);
    }
}
