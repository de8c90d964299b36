using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Coffer.Core.Audit;

/// <summary>
/// The JSON-lines form of the trail, one object per line:
/// <c>{"seq":N,"prevHash":"…","hash":"…","event":{CloudTrail record}}</c>, and checkpoints as
/// <c>{"checkpoint":{"seq":N,"hash":"…","time":ms,"signature":"…"}}</c>.
/// </summary>
public static class AuditLines
{
    public static void Append(ArrayBufferWriter<byte> output, IReadOnlyList<AuditRecord> records, AuditCheckpoint? checkpoint)
    {
        foreach (var r in records)
        {
            Ascii(output, "{\"seq\":" + r.Seq.ToString(CultureInfo.InvariantCulture) + ",\"prevHash\":\"" + r.PrevHash + "\",\"hash\":\"" + r.Hash + "\",\"event\":");
            output.Write(r.EventJson);
            Ascii(output, "}\n");
        }
        if (checkpoint is not null)
            Ascii(output, "{\"checkpoint\":{\"seq\":" + checkpoint.Seq.ToString(CultureInfo.InvariantCulture) + ",\"hash\":\"" + checkpoint.Hash +
                "\",\"time\":" + checkpoint.Time.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture) + ",\"signature\":\"" + checkpoint.Signature + "\"}}\n");
    }

    private static void Ascii(ArrayBufferWriter<byte> output, string s)
    {
        var span = output.GetSpan(s.Length);
        var n = Encoding.ASCII.GetBytes(s, span);
        output.Advance(n);
    }

    /// <summary>One parsed line: a record (chain fields and raw event JSON) or a checkpoint.</summary>
    public sealed record Line(long Seq, string? PrevHash, string? Hash, byte[]? EventJson, AuditCheckpoint? Checkpoint);

    /// <summary>Parses one line; null when it is not a trail line (e.g. a log line on stdout).</summary>
    public static Line? Parse(string text)
    {
        if (!text.StartsWith('{')) return null;
        try
        {
            using var doc = JsonDocument.Parse(text);
            var root = doc.RootElement;
            if (root.TryGetProperty("checkpoint", out var c))
            {
                var cp = new AuditCheckpoint(c.GetProperty("seq").GetInt64(), c.GetProperty("hash").GetString()!,
                    DateTimeOffset.FromUnixTimeMilliseconds(c.GetProperty("time").GetInt64()), c.GetProperty("signature").GetString()!);
                return new Line(cp.Seq, null, null, null, cp);
            }
            if (!root.TryGetProperty("seq", out var seq) || !root.TryGetProperty("event", out var ev)) return null;
            // The event's bytes exactly as written: hashes are over them.
            var start = text.IndexOf("\"event\":", StringComparison.Ordinal) + 8;
            var json = Encoding.UTF8.GetBytes(text[start..^1]);
            _ = ev;
            return new Line(seq.GetInt64(), root.GetProperty("prevHash").GetString(), root.GetProperty("hash").GetString(), json, null);
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            return null;
        }
    }
}

/// <summary>
/// Appends the trail to a JSON-lines file (mode 0600). The file is opened for each batch, so a rotated, removed
/// or replaced file is noticed at once (a kept handle would write on into an unlinked file) and a repaired
/// path is used again without a restart.
/// </summary>
public sealed class JsonLinesFileSink(string path) : IAuditSink
{
    private readonly ArrayBufferWriter<byte> _buffer = new(64 * 1024);

    public string Path { get; } = System.IO.Path.GetFullPath(path);
    public string Name => "file:" + Path;

    public void Write(IReadOnlyList<AuditRecord> records, AuditCheckpoint? checkpoint, bool durable)
    {
        _buffer.ResetWrittenCount();
        AuditLines.Append(_buffer, records, checkpoint);
        using var stream = Open();
        stream.Write(_buffer.WrittenSpan);
        if (durable) stream.Flush(flushToDisk: true);
    }

    public void Probe()
    {
        using var _ = Open();
    }

    private FileStream Open() => new(Path, new FileStreamOptions
    {
        Mode = FileMode.Append,
        Access = FileAccess.Write,
        Share = FileShare.ReadWrite,
        BufferSize = 0,
        UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
    });

    public AuditChainHead? ReadHead()
    {
        if (!File.Exists(Path)) return null;
        using var stream = new FileStream(Path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        var tail = Math.Min(stream.Length, 256 * 1024);
        stream.Seek(-tail, SeekOrigin.End);
        var bytes = new byte[tail];
        stream.ReadExactly(bytes);
        var lines = Encoding.UTF8.GetString(bytes).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        for (var i = lines.Length - 1; i >= 0; i--)
            if (AuditLines.Parse(lines[i]) is { Hash: not null } line) return new AuditChainHead(line.Seq, line.Hash);
        return null;
    }

    public void Dispose() { }
}

/// <summary>Writes the trail's JSON lines to standard output (for a log collector). It cannot be read back.</summary>
public sealed class StdoutSink(Stream? output = null) : IAuditSink
{
    private readonly Stream _out = output ?? Console.OpenStandardOutput();
    private readonly ArrayBufferWriter<byte> _buffer = new(64 * 1024);

    public string Name => "stdout";

    public void Write(IReadOnlyList<AuditRecord> records, AuditCheckpoint? checkpoint, bool durable)
    {
        _buffer.ResetWrittenCount();
        AuditLines.Append(_buffer, records, checkpoint);
        _out.Write(_buffer.WrittenSpan);
        _out.Flush();
    }

    public void Probe() { }

    public AuditChainHead? ReadHead() => null;

    public void Dispose() { }
}
