using System.Buffers;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Coffer.Core.Secrets;

namespace Coffer.Protocol.Json;

/// <summary>
/// The JSON 1.1 rules of spec §1.2 in one place: member names verbatim, nulls omitted, timestamps as epoch
/// seconds, blobs as standard base64, unknown members ignored, at most 64 levels deep, and duplicate keys
/// refused (no "last one wins", so that two parsers cannot read one body differently).
/// </summary>
[JsonSourceGenerationOptions(
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    MaxDepth = 64,
    AllowDuplicateProperties = false,
    Converters = [typeof(EpochSecondsConverter)])]
[JsonSerializable(typeof(CreateSecretRequest))]
[JsonSerializable(typeof(CreateSecretResult))]
[JsonSerializable(typeof(PutSecretValueRequest))]
[JsonSerializable(typeof(PutSecretValueResult))]
[JsonSerializable(typeof(GetSecretValueRequest))]
[JsonSerializable(typeof(GetSecretValueResult))]
[JsonSerializable(typeof(BatchGetSecretValueRequest))]
[JsonSerializable(typeof(BatchGetSecretValueResult))]
[JsonSerializable(typeof(DescribeSecretRequest))]
[JsonSerializable(typeof(DescribeSecretResult))]
[JsonSerializable(typeof(ListSecretsRequest))]
[JsonSerializable(typeof(ListSecretsResult))]
[JsonSerializable(typeof(ListSecretVersionIdsRequest))]
[JsonSerializable(typeof(ListSecretVersionIdsResult))]
[JsonSerializable(typeof(UpdateSecretRequest))]
[JsonSerializable(typeof(SecretIdentityResult))]
[JsonSerializable(typeof(UpdateSecretVersionStageRequest))]
[JsonSerializable(typeof(DeleteSecretRequest))]
[JsonSerializable(typeof(DeleteSecretResult))]
[JsonSerializable(typeof(SecretIdRequest))]
[JsonSerializable(typeof(GetRandomPasswordRequest))]
[JsonSerializable(typeof(GetRandomPasswordResult))]
[JsonSerializable(typeof(TagResourceRequest))]
[JsonSerializable(typeof(UntagResourceRequest))]
[JsonSerializable(typeof(PutResourcePolicyRequest))]
[JsonSerializable(typeof(GetResourcePolicyResult))]
[JsonSerializable(typeof(ValidateResourcePolicyRequest))]
[JsonSerializable(typeof(ValidateResourcePolicyResult))]
[JsonSerializable(typeof(RotateSecretRequest))]
internal sealed partial class ProtocolJsonContext : JsonSerializerContext;

internal static class ProtocolJson
{
    private static readonly byte[] EmptyObject = "{}"u8.ToArray();

    /// <summary>Values are written as they are (no \u escaping of '+', '&lt;' or non-ASCII): this is an API, not HTML.</summary>
    public static readonly JsonWriterOptions WriterOptions = new()
    {
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        SkipValidation = true,
    };

    private static readonly JsonDocumentOptions DocumentOptions = new() { AllowDuplicateProperties = false, MaxDepth = 64 };

    /// <summary>
    /// Reads a request body. An empty body means <c>{}</c> (spec §1.1). Anything that is not one JSON object of
    /// the request's shape is a <c>SerializationException</c> whose message names at most the member path,
    /// never a value.
    /// </summary>
    public static T Read<T>(ReadOnlyMemory<byte> body, JsonTypeInfo<T> typeInfo)
    {
        if (body.IsEmpty) body = EmptyObject;
        var span = body.Span;
        // A UTF-8 byte order mark is not JSON text (RFC 8259 §8.1); refuse it rather than guess.
        if (span.Length >= 3 && span[0] == 0xEF && span[1] == 0xBB && span[2] == 0xBF)
            throw ProtocolErrors.Serialization();
        T? value;
        try
        {
            // The typed reader skips unknown members without looking inside them; this pass refuses duplicate
            // keys and excess depth anywhere in the document, known member or not.
            using (JsonDocument.Parse(body, DocumentOptions)) { }
            value = JsonSerializer.Deserialize(span, typeInfo);
        }
        catch (JsonException e)
        {
            throw ProtocolErrors.Serialization(SafePath(e.Path));
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException or ArgumentException or OverflowException)
        {
            // e.g. an invalid surrogate escape in a string; the reader's message could quote input.
            throw ProtocolErrors.Serialization();
        }
        return value ?? throw ProtocolErrors.Serialization();
    }

    public static void Write<T>(IBufferWriter<byte> output, T value, JsonTypeInfo<T> typeInfo)
    {
        using var writer = new Utf8JsonWriter(output, WriterOptions);
        JsonSerializer.Serialize(writer, value, typeInfo);
    }

    /// <summary>Only member paths made of model names ("$.Tags[0].Key") are echoed; anything else is dropped.</summary>
    private static string? SafePath(string? path)
    {
        if (string.IsNullOrEmpty(path) || path.Length > 128) return null;
        foreach (var c in path)
            if (!(char.IsAsciiLetterOrDigit(c) || c is '$' or '.' or '[' or ']'))
                return null;
        return path;
    }
}
