using System.Buffers.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Coffer.Protocol.Json;

/// <summary>
/// Timestamps on the wire are seconds since the Unix epoch as a JSON number, with a fractional part
/// (spec §1.2). Coffer writes millisecond precision (1523477145.713) and reads integers or fractions.
/// </summary>
internal sealed class EpochSecondsConverter : JsonConverter<DateTimeOffset>
{
    public override DateTimeOffset Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType != JsonTokenType.Number || !reader.TryGetDecimal(out var seconds))
            throw new JsonException("A timestamp must be a number of seconds since the epoch.");
        var milliseconds = decimal.Round(seconds * 1000m, MidpointRounding.AwayFromZero);
        if (milliseconds < -62_135_596_800_000m || milliseconds > 253_402_300_799_999m)
            throw new JsonException("The timestamp is out of range.");
        return DateTimeOffset.FromUnixTimeMilliseconds((long)milliseconds);
    }

    public override void Write(Utf8JsonWriter writer, DateTimeOffset value, JsonSerializerOptions options)
    {
        // decimal keeps exactly three fraction digits (no binary rounding noise such as .71299999).
        var seconds = value.ToUnixTimeMilliseconds() / 1000m;
        Span<byte> text = stackalloc byte[32];
        if (Utf8Formatter.TryFormat(seconds, text, out var written))
            writer.WriteRawValue(text[..written], skipInputValidation: true);
        else
            writer.WriteNumberValue(seconds);
    }
}
