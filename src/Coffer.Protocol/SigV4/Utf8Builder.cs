using System.Buffers;
using System.Text;

namespace Coffer.Protocol.SigV4;

/// <summary>A growable UTF-8 buffer on pooled arrays, so building a canonical request allocates nothing per call.</summary>
internal struct Utf8Builder(int capacity) : IDisposable
{
    private byte[] _buffer = ArrayPool<byte>.Shared.Rent(capacity);
    private int _length;

    public readonly ReadOnlySpan<byte> Written => _buffer.AsSpan(0, _length);

    public void Append(byte b)
    {
        if (_length == _buffer.Length) Grow(1);
        _buffer[_length++] = b;
    }

    public void Append(ReadOnlySpan<byte> bytes)
    {
        if (_length + bytes.Length > _buffer.Length) Grow(bytes.Length);
        bytes.CopyTo(_buffer.AsSpan(_length));
        _length += bytes.Length;
    }

    public void Append(ReadOnlySpan<char> chars)
    {
        var max = Encoding.UTF8.GetMaxByteCount(chars.Length);
        if (_length + max > _buffer.Length) Grow(max);
        _length += Encoding.UTF8.GetBytes(chars, _buffer.AsSpan(_length));
    }

    /// <summary>Lower-case hex of <paramref name="bytes"/>.</summary>
    public void AppendHex(ReadOnlySpan<byte> bytes)
    {
        if (_length + 2 * bytes.Length > _buffer.Length) Grow(2 * bytes.Length);
        const string digits = "0123456789abcdef";
        foreach (var b in bytes)
        {
            _buffer[_length++] = (byte)digits[b >> 4];
            _buffer[_length++] = (byte)digits[b & 0xF];
        }
    }

    private void Grow(int needed)
    {
        var bigger = ArrayPool<byte>.Shared.Rent(Math.Max(_buffer.Length * 2, _length + needed));
        _buffer.AsSpan(0, _length).CopyTo(bigger);
        ArrayPool<byte>.Shared.Return(_buffer);
        _buffer = bigger;
    }

    public void Dispose()
    {
        if (_buffer.Length > 0) ArrayPool<byte>.Shared.Return(_buffer);
        _buffer = [];
    }
}
