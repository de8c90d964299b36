using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Coffer.EndToEnd.Tests.Harness;

internal sealed record CanaryFinding(string Source, string Canary, string Form, long Offset);

/// <summary>
/// Searches bytes for planted canaries in every form of reliability-matrix §3.7: raw, base64 (all three
/// alignments, standard and URL alphabets), hex, URL-encoded, JSON-escaped, SHA-1/SHA-256/MD5 as hex, base64 and
/// raw digest bytes, and every 16-character substring of the raw canary. Forms are computed for the canary core
/// and for the whole planted value. One pass per input: every needle is at least 16 bytes long, so candidates are
/// found through a table of 16-byte prefixes and then compared in full.
/// </summary>
internal sealed class CanaryScanner
{
    private const int Window = 16;
    private readonly Dictionary<(ulong, ulong), List<Needle>> _byPrefix = [];
    private readonly List<Needle> _needles = [];

    public CanaryScanner(IEnumerable<Canary> canaries)
    {
        foreach (var canary in canaries)
        {
            AddCore(canary);
            AddValue(canary);
        }
    }

    public int NeedleCount => _needles.Count;

    public IReadOnlyList<CanaryFinding> Scan(string source, ReadOnlySpan<byte> data, int maxFindings = 20)
    {
        var findings = new List<CanaryFinding>();
        for (int i = 0; i + Window <= data.Length; i++)
        {
            var key = (BinaryPrimitives.ReadUInt64LittleEndian(data[i..]), BinaryPrimitives.ReadUInt64LittleEndian(data[(i + 8)..]));
            if (!_byPrefix.TryGetValue(key, out var candidates))
            {
                continue;
            }

            foreach (var needle in candidates)
            {
                if (data[i..].StartsWith(needle.Bytes))
                {
                    findings.Add(new CanaryFinding(source, needle.Canary, needle.Form, i));
                    if (findings.Count >= maxFindings)
                    {
                        return findings;
                    }

                    break; // one report per position is enough
                }
            }
        }

        return findings;
    }

    public IReadOnlyList<CanaryFinding> Scan(string source, string text) => Scan(source, Encoding.UTF8.GetBytes(text));

    /// <summary>Reads the file as it is now (shared with a live writer) and scans it.</summary>
    public IReadOnlyList<CanaryFinding> ScanFile(string path, string? label = null)
    {
        byte[] data;
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            data = copy.ToArray();
        }
        catch (FileNotFoundException)
        {
            return [];
        }

        return Scan(label ?? path, data);
    }

    public IReadOnlyList<CanaryFinding> ScanDirectory(string directory, string label)
    {
        if (!Directory.Exists(directory))
        {
            return [];
        }

        return Directory.EnumerateFiles(directory, "*", SearchOption.AllDirectories)
            .SelectMany(f => ScanFile(f, $"{label}/{Path.GetRelativePath(directory, f)}"))
            .ToList();
    }

    private void AddCore(Canary canary)
    {
        string name = $"{canary.Shape} core";
        byte[] raw = Encoding.UTF8.GetBytes(canary.Core);
        for (int i = 0; i + Window <= raw.Length; i++)
        {
            Add(name, i == 0 && raw.Length == Window ? "raw" : $"16-char substring @{i}", raw[i..(i + Window)]);
        }

        AddEncodings(name, raw);
    }

    private void AddValue(Canary canary)
    {
        string name = $"{canary.Shape} value";
        byte[] value = canary.Bytes;
        AddEncodings(name, value);
        if (canary.Text is { } text)
        {
            Add(name, "JSON-escaped", Encoding.UTF8.GetBytes(JsonSerializer.Serialize(text)[1..^1]));
            Add(name, "JSON-escaped (relaxed)", Encoding.UTF8.GetBytes(
                JsonSerializer.Serialize(text, new JsonSerializerOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping })[1..^1]));
            Add(name, "URL-encoded", Encoding.UTF8.GetBytes(Uri.EscapeDataString(text)));
        }
    }

    /// <summary>Base64 in every alignment, hex, and the three digests, of one byte string.</summary>
    private void AddEncodings(string name, byte[] bytes)
    {
        for (int shift = 0; shift < 3; shift++)
        {
            // The part of base64(prefix ‖ bytes ‖ suffix) fixed by `bytes` alone, whatever surrounds them.
            byte[] shifted = [.. new byte[shift], .. bytes];
            string b64 = Convert.ToBase64String(shifted);
            int start = shift == 0 ? 0 : 4;
            int end = shifted.Length % 3 == 0 ? b64.Length : b64.Length - 4;
            if (end - start >= Window)
            {
                string stable = b64[start..end];
                Add(name, $"base64 (alignment {shift})", Encoding.ASCII.GetBytes(stable));
                Add(name, $"base64url (alignment {shift})", Encoding.ASCII.GetBytes(stable.Replace('+', '-').Replace('/', '_')));
            }
        }

        Add(name, "hex", Encoding.ASCII.GetBytes(Convert.ToHexStringLower(bytes)));
        Add(name, "HEX", Encoding.ASCII.GetBytes(Convert.ToHexString(bytes)));
        foreach (var (algorithm, digest) in new[]
                 {
                     ("SHA-1", SHA1.HashData(bytes)), ("SHA-256", SHA256.HashData(bytes)), ("MD5", MD5.HashData(bytes)),
                 })
        {
            Add(name, $"{algorithm} hex", Encoding.ASCII.GetBytes(Convert.ToHexStringLower(digest)));
            Add(name, $"{algorithm} HEX", Encoding.ASCII.GetBytes(Convert.ToHexString(digest)));
            Add(name, $"{algorithm} base64", Encoding.ASCII.GetBytes(Convert.ToBase64String(digest)));
            Add(name, $"{algorithm} base64 unpadded", Encoding.ASCII.GetBytes(Convert.ToBase64String(digest).TrimEnd('=')));
            Add(name, $"{algorithm} raw digest", digest);
        }
    }

    private void Add(string canary, string form, byte[] bytes)
    {
        if (bytes.Length < Window)
        {
            return; // every form of a 64-character canary is longer; shorter ones cannot be told from noise
        }

        var needle = new Needle(canary, form, bytes);
        _needles.Add(needle);
        var key = (BinaryPrimitives.ReadUInt64LittleEndian(bytes), BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(8)));
        (_byPrefix.TryGetValue(key, out var list) ? list : _byPrefix[key] = []).Add(needle);
    }

    private sealed record Needle(string Canary, string Form, byte[] Bytes);
}
