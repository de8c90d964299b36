using System.Buffers;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Coffer.Core.Audit;

/// <summary>Writes an <see cref="AuditEvent"/> as a CloudTrail record (eventVersion 1.08 member names).</summary>
public static class AuditJson
{
    private static readonly JsonWriterOptions Options = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, SkipValidation = true };

    // The writer and its buffer are reused per thread (the trail serialises on its one writer flow): a record is
    // ~1.5 KB, and a fresh buffer grew twice and was copied out once for every record, ~7 KB of garbage per call.
    [ThreadStatic] private static ArrayBufferWriter<byte>? t_buffer;
    [ThreadStatic] private static Utf8JsonWriter? t_writer;

    public static byte[] Serialize(AuditEvent e)
    {
        var buffer = t_buffer ??= new ArrayBufferWriter<byte>(4096);
        buffer.ResetWrittenCount();
        var w = t_writer ??= new Utf8JsonWriter(buffer, Options);
        w.Reset(buffer);
        try
        {
            Write(w, e);
            w.Flush();
            return buffer.WrittenSpan.ToArray();
        }
        finally
        {
            // A record that failed half-way leaves nothing behind for the next one; an unusually large one
            // (many resources or tags) does not keep its buffer.
            w.Reset(buffer);
            if (buffer.Capacity > 64 * 1024) t_buffer = null;
            buffer.ResetWrittenCount();
        }
    }

    /// <summary>
    /// The (ARN, type) of every entry of a record's <c>resources</c>, in order; none when it has none, or when the
    /// stored text is not JSON (an edited record: <c>coffer audit verify</c> reports it, reading must not fail).
    /// </summary>
    public static IReadOnlyList<(string Arn, string? Type)> ReadResources(ReadOnlySpan<byte> eventJson)
    {
        try
        {
            return Resources(eventJson);
        }
        catch (JsonException)
        {
            return [];
        }
    }

    /// <summary>A record's top-level <c>awsRegion</c>; null when it has none or the stored text is not JSON.</summary>
    public static string? ReadRegion(ReadOnlySpan<byte> eventJson)
    {
        try
        {
            var reader = new Utf8JsonReader(eventJson);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject) return null;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var isRegion = reader.ValueTextEquals("awsRegion"u8);
                reader.Read();
                if (isRegion) return reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
                reader.Skip();
            }
            return null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static List<(string Arn, string? Type)> Resources(ReadOnlySpan<byte> eventJson)
    {
        var reader = new Utf8JsonReader(eventJson);
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject) return [];
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var isResources = reader.ValueTextEquals("resources"u8);
            reader.Read();
            if (!isResources || reader.TokenType != JsonTokenType.StartArray)
            {
                reader.Skip();
                continue;
            }
            var list = new List<(string Arn, string? Type)>();
            while (reader.Read() && reader.TokenType == JsonTokenType.StartObject)
            {
                string? arn = null, type = null;
                while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                {
                    var member = reader.ValueTextEquals("ARN"u8) ? 1 : reader.ValueTextEquals("type"u8) ? 2 : 0;
                    reader.Read();
                    if (member == 1 && reader.TokenType == JsonTokenType.String) arn = reader.GetString();
                    else if (member == 2 && reader.TokenType == JsonTokenType.String) type = reader.GetString();
                    else reader.Skip();
                }
                if (arn is not null) list.Add((arn, type));
            }
            return list;
        }
        return [];
    }

    private static void Write(Utf8JsonWriter w, AuditEvent e)
    {
        {
            w.WriteStartObject();
            w.WriteString("eventVersion", "1.08");
            w.WritePropertyName("userIdentity");
            WriteIdentity(w, e.UserIdentity);
            Span<char> time = stackalloc char[32];
            e.EventTime.UtcDateTime.TryFormat(time, out var timeLength, "yyyy-MM-ddTHH:mm:ss.fffZ", System.Globalization.CultureInfo.InvariantCulture);
            w.WriteString("eventTime", time[..timeLength]);
            w.WriteString("eventSource", e.EventSource);
            w.WriteString("eventName", e.EventName);
            w.WriteString("awsRegion", e.AwsRegion);
            w.WriteString("sourceIPAddress", e.SourceIPAddress);
            w.WriteString("userAgent", e.UserAgent);
            if (e.ErrorCode is not null)
            {
                w.WriteString("errorCode", e.ErrorCode);
                w.WriteString("errorMessage", e.ErrorMessage);
            }
            w.WritePropertyName("requestParameters");
            if (e.RequestParameters is { } p) w.WriteRawValue(p, skipInputValidation: true); else w.WriteNullValue();
            w.WritePropertyName("responseElements");
            if (e.ResponseElements is { } r) w.WriteRawValue(r, skipInputValidation: true); else w.WriteNullValue();
            if (e.Hmacs is { Count: > 0 } hmacs)
            {
                w.WriteStartObject("additionalEventData");
                w.WriteStartObject("hmac");
                foreach (var (k, v) in hmacs.OrderBy(kv => kv.Key, StringComparer.Ordinal)) w.WriteString(k, v);
                w.WriteEndObject();
                w.WriteEndObject();
            }
            w.WriteString("requestID", e.RequestId);
            w.WriteString("eventID", e.EventId);
            w.WriteBoolean("readOnly", e.ReadOnly);
            if (e.Resources.Count > 0)
            {
                w.WriteStartArray("resources");
                foreach (var res in e.Resources)
                {
                    w.WriteStartObject();
                    w.WriteString("ARN", res.Arn);
                    if (res.AccountId is not null) w.WriteString("accountId", res.AccountId);
                    w.WriteString("type", res.Type);
                    if (res.VersionId is not null) w.WriteString("versionId", res.VersionId);
                    if (res.StagingLabel is not null) w.WriteString("stagingLabel", res.StagingLabel);
                    w.WriteEndObject();
                }
                w.WriteEndArray();
            }
            w.WriteString("eventType", e.EventType);
            w.WriteBoolean("managementEvent", true);
            if (e.RecipientAccountId is not null) w.WriteString("recipientAccountId", e.RecipientAccountId);
            w.WriteString("eventCategory", "Management");
            w.WriteEndObject();
        }
    }

    private static void WriteIdentity(Utf8JsonWriter w, AuditIdentity id)
    {
        w.WriteStartObject();
        w.WriteString("type", id.Type);
        if (id.PrincipalId is not null) w.WriteString("principalId", id.PrincipalId);
        if (id.Arn is not null) w.WriteString("arn", id.Arn);
        if (id.AccountId is not null) w.WriteString("accountId", id.AccountId);
        if (id.AccessKeyId is not null) w.WriteString("accessKeyId", id.AccessKeyId);
        if (id.UserName is not null) w.WriteString("userName", id.UserName);
        if (id.SessionContext is { } s)
        {
            w.WriteStartObject("sessionContext");
            w.WriteStartObject("sessionIssuer");
            w.WriteString("type", s.IssuerType);
            w.WriteString("principalId", s.IssuerPrincipalId);
            w.WriteString("arn", s.IssuerArn);
            if (s.IssuerUserName is not null) w.WriteString("userName", s.IssuerUserName);
            w.WriteEndObject();
            w.WriteStartObject("attributes");
            if (s.CreationDate is { } created) w.WriteString("creationDate", created.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", System.Globalization.CultureInfo.InvariantCulture));
            w.WriteString("mfaAuthenticated", s.MfaAuthenticated ? "true" : "false");
            w.WriteEndObject();
            if (s.SourceIdentity is not null) w.WriteString("sourceIdentity", s.SourceIdentity);
            w.WriteEndObject();
        }
        w.WriteEndObject();
    }
}
