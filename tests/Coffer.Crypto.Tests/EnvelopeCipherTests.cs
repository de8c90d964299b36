using System.Security.Cryptography;
using System.Text;
using Coffer.Crypto;

namespace Coffer.Crypto.Tests;

public sealed class EnvelopeCipherTests : IDisposable
{
    private readonly MasterKey _key = MasterKey.Generate();
    private readonly EnvelopeCipher _cipher;

    private static readonly byte[] AadA = Encoding.UTF8.GetBytes("arn:aws:secretsmanager:us-east-1:123456789012:secret:a-AbCdEf|v1");
    private static readonly byte[] AadB = Encoding.UTF8.GetBytes("arn:aws:secretsmanager:us-east-1:123456789012:secret:b-AbCdEf|v1");

    public EnvelopeCipherTests() => _cipher = new EnvelopeCipher(_key);

    public void Dispose() => _key.Dispose();

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(65_536)]
    public void Seal_then_open_round_trips(int size)
    {
        var plaintext = RandomNumberGenerator.GetBytes(size);
        var blob = _cipher.Seal(plaintext, AadA);
        Assert.Equal(plaintext, _cipher.Open(blob, AadA));
        Assert.Equal(_key.KeyId, EnvelopeCipher.KeyIdOf(blob));
        Assert.Equal(_cipher.CurrentKeyId, EnvelopeCipher.KeyIdOf(blob));
    }

    [Fact]
    public void Sealing_the_same_value_twice_gives_different_blobs()
    {
        var plaintext = "same"u8.ToArray();
        Assert.NotEqual(_cipher.Seal(plaintext, AadA), _cipher.Seal(plaintext, AadA));
    }

    [Fact]
    public void The_blob_does_not_contain_the_plaintext()
    {
        var plaintext = Encoding.UTF8.GetBytes("CNRY-plaintext-that-must-not-appear-0123456789");
        var blob = _cipher.Seal(plaintext, AadA);
        Assert.Equal(-1, blob.AsSpan().IndexOf(plaintext));
    }

    [Fact]
    public void Wrong_associated_data_fails()
    {
        var blob = _cipher.Seal("value"u8, AadA);
        Assert.Throws<EnvelopeException>(() => _cipher.Open(blob, AadB));
        Assert.Throws<EnvelopeException>(() => _cipher.Open(blob, ReadOnlySpan<byte>.Empty));
        Assert.Throws<EnvelopeException>(() => _cipher.Open(blob, AadA.AsSpan(0, AadA.Length - 1)));
    }

    [Fact]
    public void Blobs_swapped_between_two_places_fail()
    {
        var a = _cipher.Seal("value of a"u8, AadA);
        var b = _cipher.Seal("value of b"u8, AadB);
        Assert.Throws<EnvelopeException>(() => _cipher.Open(a, AadB));
        Assert.Throws<EnvelopeException>(() => _cipher.Open(b, AadA));
    }

    [Fact]
    public void Every_single_byte_change_fails_with_EnvelopeException_never_garbage()
    {
        var blob = _cipher.Seal(RandomNumberGenerator.GetBytes(40), AadA);
        foreach (byte mask in new byte[] { 0x01, 0x80, 0xFF })
        {
            for (var i = 0; i < blob.Length; i++)
            {
                var tampered = (byte[])blob.Clone();
                tampered[i] ^= mask;
                var error = Record.Exception(() => _cipher.Open(tampered, AadA));
                Assert.True(error is EnvelopeException, $"byte {i} ^ 0x{mask:x2}: {error?.GetType().Name ?? "opened"}");
            }
        }
    }

    [Fact]
    public void Truncated_or_extended_blobs_fail()
    {
        var blob = _cipher.Seal(RandomNumberGenerator.GetBytes(16), AadA);
        for (var length = 0; length < blob.Length; length++)
            Assert.Throws<EnvelopeException>(() => _cipher.Open(blob.AsSpan(0, length), AadA));
        Assert.Throws<EnvelopeException>(() => _cipher.Open([.. blob, 0], AadA));
    }

    [Fact]
    public void Unknown_master_key_id_fails()
    {
        using var otherKey = MasterKey.Generate();
        var blob = new EnvelopeCipher(otherKey).Seal("value"u8, AadA);
        Assert.Throws<EnvelopeException>(() => _cipher.Open(blob, AadA));
    }

    [Fact]
    public void Unknown_format_fails_and_has_no_key_id()
    {
        var blob = _cipher.Seal("value"u8, AadA);
        blob[0] = 2;
        Assert.Throws<EnvelopeException>(() => _cipher.Open(blob, AadA));
        Assert.Null(EnvelopeCipher.KeyIdOf(blob));
        Assert.Null(EnvelopeCipher.KeyIdOf([]));
    }

    [Fact]
    public void A_blob_under_an_old_key_opens_when_that_key_is_passed_as_older()
    {
        using var oldKey = MasterKey.Generate();
        var blob = new EnvelopeCipher(oldKey).Seal("old value"u8, AadA);

        var rotated = new EnvelopeCipher(_key, oldKey);
        Assert.Equal("old value"u8.ToArray(), rotated.Open(blob, AadA));
        Assert.Equal(_key.KeyId, rotated.CurrentKeyId);
        Assert.Throws<EnvelopeException>(() => _cipher.Open(blob, AadA)); // without the old key: refused
    }

    [Fact]
    public void Rewrap_moves_the_blob_to_the_current_key()
    {
        using var oldKey = MasterKey.Generate();
        var blob = new EnvelopeCipher(oldKey).Seal("rotate me"u8, AadA);

        var rewrapped = new EnvelopeCipher(_key, oldKey).Rewrap(blob, AadA);
        Assert.Equal(oldKey.KeyId, EnvelopeCipher.KeyIdOf(blob));
        Assert.Equal(_key.KeyId, EnvelopeCipher.KeyIdOf(rewrapped));
        Assert.Equal("rotate me"u8.ToArray(), _cipher.Open(rewrapped, AadA)); // the old key is no longer needed
        Assert.Throws<EnvelopeException>(() => _cipher.Open(rewrapped, AadB));
        Assert.Throws<EnvelopeException>(() => new EnvelopeCipher(_key, oldKey).Rewrap(blob, AadB));
    }

    [Fact]
    public void A_hundred_thousand_seals_never_repeat_a_nonce()
    {
        var headerLength = 2 + _key.KeyId.Length;
        var seen = new HashSet<UInt128>();
        for (var i = 0; i < 100_000; i++)
        {
            var blob = _cipher.Seal("x"u8, AadA);
            // Both nonces of format 1: the wrap nonce right after the header, the value nonce after the wrapped key.
            Assert.True(seen.Add(Nonce(blob, headerLength)), $"repeated wrap nonce at seal {i}");
            Assert.True(seen.Add(Nonce(blob, headerLength + 12 + 32 + 16)), $"repeated value nonce at seal {i}");
        }
    }

    private static UInt128 Nonce(byte[] blob, int offset)
    {
        Span<byte> padded = stackalloc byte[16];
        blob.AsSpan(offset, 12).CopyTo(padded);
        return System.Buffers.Binary.BinaryPrimitives.ReadUInt128LittleEndian(padded);
    }

    [Fact]
    public void Concurrent_seals_and_opens_are_safe()
    {
        Parallel.For(0, 2_000, i =>
        {
            var plaintext = BitConverter.GetBytes(i);
            Assert.Equal(plaintext, _cipher.Open(_cipher.Seal(plaintext, AadA), AadA));
        });
    }
}
