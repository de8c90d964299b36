using System.Text;
using Coffer.Crypto;

namespace Coffer.Crypto.Tests;

/// <summary>
/// Blobs sealed once in format 1 and committed. They must open, with these plaintexts, in every later build:
/// stored secrets are sealed this way, so a change that breaks these breaks every existing installation.
/// Never regenerate them.
/// </summary>
public sealed class GoldenBlobTests
{
    private const string GoldenKeyId = "mk-2c521b00c8e7cc30";

    private static readonly byte[] Aad = Encoding.UTF8.GetBytes(
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:golden/format1-AbCdEf|EXAMPLE1-90ab-cdef-fedc-ba987EXAMPLE");

    private const string GoldenValueBlob =
        "01136d6b2d326335323162303063386537636333307f2accfab4a9ae50609279cf477b3e9830513f1b827c32f3c130d45776c9c982b283" +
        "907a1cede7395dbe832b565a193209e0ac7bd518b290e03b4fe60215d3a57511afa57bdc0689d87210b1148234654a9afdcc473936f308" +
        "ab0295bb0c528a4a08f7d4ce46afdacee473f63a589d79eaa7f05bc245e4832b3f2b86269246a15fc8414df4a1cd387ee7d694b959";

    private const string GoldenValue = "{\"username\":\"golden\",\"password\":\"format-1 pinned ✓\"}";

    private const string GoldenEmptyBlob =
        "01136d6b2d3263353231623030633865376363333037411e5deeef37bec3f4b4a462e120bd5c054143bdba5709e706b0b5b33a5438aabb" +
        "b57780e8b5df8eafe305a366d6387dc91b1a48d5329a4c8fa1498dcd9792166ed6c24f2394372440f26db4336fffb1de39624bc5e038";

    internal static MasterKey GoldenKey()
    {
        var text = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "TestData", "golden-format1.key")).Trim();
        return MasterKey.FromBytes(Convert.FromBase64String(text));
    }

    [Fact]
    public void The_key_id_derivation_is_pinned()
    {
        using var key = GoldenKey();
        Assert.Equal(GoldenKeyId, key.KeyId);
    }

    [Fact]
    public void The_golden_value_blob_opens_with_its_plaintext()
    {
        using var key = GoldenKey();
        var blob = Convert.FromHexString(GoldenValueBlob);
        Assert.Equal(EnvelopeCipher.Format1, blob[0]);
        Assert.Equal(GoldenKeyId, EnvelopeCipher.KeyIdOf(blob));
        var plaintext = new EnvelopeCipher(key).Open(blob, Aad);
        Assert.Equal(GoldenValue, Encoding.UTF8.GetString(plaintext));
        // Format 1 layout: header, 60 bytes of wrapped key, 28 bytes of value nonce and tag, then the ciphertext.
        Assert.Equal(2 + GoldenKeyId.Length + 60 + 28 + plaintext.Length, blob.Length);
    }

    [Fact]
    public void The_golden_empty_blob_opens_to_an_empty_value()
    {
        using var key = GoldenKey();
        Assert.Empty(new EnvelopeCipher(key).Open(Convert.FromHexString(GoldenEmptyBlob), Aad));
    }

    [Fact]
    public void The_golden_blob_opens_when_its_key_is_an_older_key()
    {
        using var golden = GoldenKey();
        using var current = MasterKey.Generate();
        var cipher = new EnvelopeCipher(current, golden);
        Assert.Equal(GoldenValue, Encoding.UTF8.GetString(cipher.Open(Convert.FromHexString(GoldenValueBlob), Aad)));
    }

    [Fact]
    public void The_golden_blob_is_bound_to_its_associated_data()
    {
        using var key = GoldenKey();
        var other = Encoding.UTF8.GetBytes("arn:aws:secretsmanager:us-east-1:123456789012:secret:golden/format1-AbCdEf|another-version");
        Assert.Throws<EnvelopeException>(() => new EnvelopeCipher(key).Open(Convert.FromHexString(GoldenValueBlob), other));
    }
}
