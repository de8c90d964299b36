using System.Security.Cryptography;
using System.Text;

namespace Coffer.EndToEnd.Tests.Harness;

/// <summary>
/// A planted value (reliability-matrix §3.7): its canary core <c>CNRY-&lt;uuid&gt;-&lt;22 base62&gt;</c> and the
/// full value that carries it. The scanner looks for both.
/// </summary>
internal sealed class Canary
{
    private const string Base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

    private Canary(string shape, string core, string? text, byte[]? binary)
    {
        Shape = shape;
        Core = core;
        Text = text;
        Binary = binary;
    }

    /// <summary>What kind of value this is, e.g. "plain" or "64KiB"; findings name it.</summary>
    public string Shape { get; }
    public string Core { get; }
    /// <summary>The SecretString, or null for a binary value.</summary>
    public string? Text { get; }
    public byte[]? Binary { get; }
    public byte[] Bytes => Binary ?? Encoding.UTF8.GetBytes(Text!);

    public static string NewCore() => $"CNRY-{Guid.NewGuid()}-{RandomNumberGenerator.GetString(Base62, 22)}";

    public static Canary Plain() => Of("plain", c => c);

    public static Canary JsonField() =>
        Of("json-field", c => $"{{\"engine\":\"postgres\",\"username\":\"app\",\"password\":\"{c}\",\"port\":5432}}");

    /// <summary>Quotes, backslashes, newlines, tabs and non-ASCII (two- to four-byte UTF-8) around the canary.</summary>
    public static Canary Special() =>
        Of("special", c => $"q\"uo'te\\back\\\\slash\nnew\r\nline\ttab ümlaut € 日本 😀 {c} end\"\\\n");

    public static Canary Binary64() // named for the wire form: SecretBinary is base64 in JSON
    {
        string core = NewCore();
        byte[] head = RandomNumberGenerator.GetBytes(37);
        byte[] tail = RandomNumberGenerator.GetBytes(41);
        return new Canary("binary", core, null, [.. head, .. Encoding.UTF8.GetBytes(core), .. tail]);
    }

    /// <summary>A value of exactly 65,536 bytes (the limit) with the canary in the middle.</summary>
    public static Canary Large() => OfSize("64KiB", 65_536);

    /// <summary>A value of 65,537 bytes, one over the limit, for the oversize error path.</summary>
    public static Canary Oversize() => OfSize("oversize", 65_537);

    public static Canary Of(string shape, Func<string, string> wrap)
    {
        string core = NewCore();
        return new Canary(shape, core, wrap(core), null);
    }

    private static Canary OfSize(string shape, int size)
    {
        string core = NewCore();
        int before = (size - core.Length) / 2;
        string text = new string('.', before) + core + new string('~', size - core.Length - before);
        return new Canary(shape, core, text, null);
    }
}
