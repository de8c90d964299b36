using System.Security.Cryptography;

namespace Coffer.Core;

/// <summary>
/// Random (version 4) UUIDs for request and audit event ids, in <see cref="Guid"/>'s "D" form.
/// <see cref="Guid.NewGuid"/> costs a read of /dev/urandom per call on Linux (the runtime's native shim is built
/// without arc4random), and every served call needs two ids; here each thread draws 16 ids at a time from the
/// cryptographic generator (OpenSSL's DRBG, no system call per draw). The ids stay unpredictable.
/// </summary>
public static class RequestIds
{
    private const int IdsPerRefill = 16;

    [ThreadStatic] private static byte[]? _pool;
    [ThreadStatic] private static int _next;

    public static string New() => NewGuid().ToString();

    public static Guid NewGuid()
    {
        var pool = _pool;
        if (pool is null || _next == IdsPerRefill)
        {
            pool ??= _pool = new byte[16 * IdsPerRefill];
            RandomNumberGenerator.Fill(pool);
            _next = 0;
        }
        var bytes = pool.AsSpan(16 * _next++, 16);
        // RFC 9562 §5.4 in Guid's little-endian byte layout: the version nibble is the high half of byte 7,
        // the variant bits the top of byte 8.
        bytes[7] = (byte)((bytes[7] & 0x0F) | 0x40);
        bytes[8] = (byte)((bytes[8] & 0x3F) | 0x80);
        return new Guid(bytes);
    }
}
