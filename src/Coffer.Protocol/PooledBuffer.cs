using System.Buffers;

namespace Coffer.Protocol;

/// <summary>An <see cref="IBufferWriter{T}"/> on pooled arrays for request and response bodies. Dispose returns the array.</summary>
internal sealed class PooledBuffer(int initialCapacity = 4096) : IBufferWriter<byte>, IDisposable
{
    private byte[] _buffer = ArrayPool<byte>.Shared.Rent(initialCapacity);
    private int _length;

    public int Length => _length;
    public ReadOnlyMemory<byte> WrittenMemory => _buffer.AsMemory(0, _length);

    public void Advance(int count) => _length += count;

    public Memory<byte> GetMemory(int sizeHint = 0)
    {
        Ensure(sizeHint);
        return _buffer.AsMemory(_length);
    }

    public Span<byte> GetSpan(int sizeHint = 0)
    {
        Ensure(sizeHint);
        return _buffer.AsSpan(_length);
    }

    private void Ensure(int sizeHint)
    {
        if (sizeHint < 1) sizeHint = 256;
        if (_buffer.Length - _length >= sizeHint) return;
        var bigger = ArrayPool<byte>.Shared.Rent(Math.Max(_buffer.Length * 2, _length + sizeHint));
        _buffer.AsSpan(0, _length).CopyTo(bigger);
        Return();
        _buffer = bigger;
    }

    private void Return()
    {
        // Bodies can hold secret values: clear before the array goes back to the shared pool.
        _buffer.AsSpan(0, _length).Clear();
        ArrayPool<byte>.Shared.Return(_buffer);
    }

    public void Dispose()
    {
        if (_buffer.Length == 0) return;
        Return();
        _buffer = [];
        _length = 0;
    }
}
