using System.Buffers;
using System.Collections.Frozen;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Coffer.Core.Audit;

/// <summary>
/// Which request and response members an audit record may carry, per action: an allow-list, not a deny-list,
/// so a member added later (or an unknown member a client sends) is left out until someone decides it is safe.
/// Secret values, generated passwords, rotation tokens, secret access keys and session tokens are never on a
/// list; the members an auditor may need to match (<see cref="ActionFields.Hashed"/>) are kept as HMACs.
/// Member names are written in CloudTrail's camelCase (SecretId → secretId).
/// </summary>
public static class AuditFields
{
    /// <summary>The allow-lists of one action.</summary>
    public sealed record ActionFields(string[] Request, string[] Hashed, string[] Response)
    {
        internal FrozenSet<string> RequestSet { get; } = Request.ToFrozenSet(StringComparer.Ordinal);
        internal FrozenSet<string> HashedSet { get; } = Hashed.ToFrozenSet(StringComparer.Ordinal);
        internal FrozenSet<string> ResponseSet { get; } = Response.ToFrozenSet(StringComparer.Ordinal);

        // Member name → its camelCase record name, looked up by the name's characters, so that reading a body
        // allocates no string per member.
        internal FrozenDictionary<string, string>.AlternateLookup<ReadOnlySpan<char>> RequestNames { get; } = CamelNames(Request);
        internal FrozenDictionary<string, string>.AlternateLookup<ReadOnlySpan<char>> HashedNames { get; } = CamelNames(Hashed);
        internal FrozenDictionary<string, string>.AlternateLookup<ReadOnlySpan<char>> ResponseNames { get; } = CamelNames(Response);

        private static FrozenDictionary<string, string>.AlternateLookup<ReadOnlySpan<char>> CamelNames(string[] names) =>
            names.Distinct(StringComparer.Ordinal).ToFrozenDictionary(n => n, CamelCase, StringComparer.Ordinal).GetAlternateLookup<ReadOnlySpan<char>>();
    }

    private static readonly string[] None = [];
    private static readonly string[] Identity = ["ARN", "Name", "VersionId"];
    private static readonly ActionFields Unknown = new(None, None, None);

    /// <summary>Secrets Manager (spec §3) and CloudTrail LookupEvents. Reads answer no response elements, as in CloudTrail.</summary>
    public static readonly FrozenDictionary<string, ActionFields> SecretsManager = new Dictionary<string, ActionFields>
    {
        ["CreateSecret"] = new(["Name", "Description", "KmsKeyId", "ClientRequestToken", "Tags", "AddReplicaRegions", "ForceOverwriteReplicaSecret"], ["SecretString", "SecretBinary"], Identity),
        ["PutSecretValue"] = new(["SecretId", "ClientRequestToken", "VersionStages"], ["SecretString", "SecretBinary"], [.. Identity, "VersionStages"]),
        ["GetSecretValue"] = new(["SecretId", "VersionId", "VersionStage"], None, None),
        ["BatchGetSecretValue"] = new(["SecretIdList", "Filters", "MaxResults", "NextToken"], None, None),
        ["DescribeSecret"] = new(["SecretId"], None, None),
        ["ListSecrets"] = new(["IncludePlannedDeletion", "MaxResults", "NextToken", "Filters", "SortOrder"], None, None),
        ["ListSecretVersionIds"] = new(["SecretId", "MaxResults", "NextToken", "IncludeDeprecated"], None, None),
        ["UpdateSecret"] = new(["SecretId", "ClientRequestToken", "Description", "KmsKeyId"], ["SecretString", "SecretBinary"], Identity),
        ["UpdateSecretVersionStage"] = new(["SecretId", "VersionStage", "RemoveFromVersionId", "MoveToVersionId"], None, ["ARN", "Name"]),
        ["DeleteSecret"] = new(["SecretId", "RecoveryWindowInDays", "ForceDeleteWithoutRecovery"], None, ["ARN", "Name", "DeletionDate"]),
        ["RestoreSecret"] = new(["SecretId"], None, ["ARN", "Name"]),
        ["GetRandomPassword"] = new(["PasswordLength", "ExcludeCharacters", "ExcludeNumbers", "ExcludePunctuation", "ExcludeUppercase", "ExcludeLowercase", "IncludeSpace", "RequireEachIncludedType"], None, None),
        ["TagResource"] = new(["SecretId", "Tags"], None, None),
        ["UntagResource"] = new(["SecretId", "TagKeys"], None, None),
        ["PutResourcePolicy"] = new(["SecretId", "ResourcePolicy", "BlockPublicPolicy"], None, ["ARN", "Name"]),
        ["GetResourcePolicy"] = new(["SecretId"], None, None),
        ["DeleteResourcePolicy"] = new(["SecretId"], None, ["ARN", "Name"]),
        ["ValidateResourcePolicy"] = new(["SecretId", "ResourcePolicy"], None, None),
        ["RotateSecret"] = new(["SecretId", "ClientRequestToken", "RotationLambdaARN", "RotationRules", "RotateImmediately"], None, Identity),
        ["CancelRotateSecret"] = new(["SecretId"], None, Identity),
        ["ReplicateSecretToRegions"] = new(["SecretId", "AddReplicaRegions", "ForceOverwriteReplicaSecret"], None, ["ARN"]),
        ["RemoveRegionsFromReplication"] = new(["SecretId", "RemoveReplicaRegions"], None, ["ARN"]),
        ["StopReplicationToReplica"] = new(["SecretId"], None, ["ARN"]),
        ["LookupEvents"] = new(["LookupAttributes", "StartTime", "EndTime", "MaxResults", "NextToken", "EventCategory"], None, None),
    }.ToFrozenDictionary(StringComparer.Ordinal);

    /// <summary>CloudTrail's readOnly: actions that only read (Get*, Describe*, List*, BatchGet*, Validate*, Lookup*).</summary>
    public static bool IsReadOnly(string action) =>
        action.StartsWith("Get", StringComparison.Ordinal) || action.StartsWith("Describe", StringComparison.Ordinal) ||
        action.StartsWith("List", StringComparison.Ordinal) || action.StartsWith("BatchGet", StringComparison.Ordinal) ||
        action.StartsWith("Validate", StringComparison.Ordinal) || action.StartsWith("Lookup", StringComparison.Ordinal);

    public static ActionFields For(string action) => SecretsManager.GetValueOrDefault(action, Unknown);

    /// <summary>What was read from a request body: the filtered members, HMACs, and the addressed secret (SecretId, or CreateSecret's Name).</summary>
    public readonly record struct RequestView(byte[]? Parameters, Dictionary<string, string>? Hmacs, string? SecretId, string? VersionId, string? VersionStage);

    /// <summary>What was read from a response body: the filtered members and the secret ARNs and version it names.</summary>
    public readonly record struct ResponseView(byte[]? Elements, List<string>? Arns, string? VersionId);

    private static readonly JsonWriterOptions WriterOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, SkipValidation = true };
    private static readonly JsonReaderOptions ReaderOptions = new() { MaxDepth = 64 };

    /// <summary>
    /// Filters a JSON request body. A body that is not a JSON object (the call failed with SerializationException)
    /// gives no parameters. <paramref name="hash"/> turns a sensitive member's value into its HMAC.
    /// </summary>
    public static RequestView ReadRequest(ActionFields fields, ReadOnlySpan<byte> body, Func<string, string> hash)
    {
        if (body.IsEmpty) return default;
        var (output, writer) = Writer();
        try
        {
            var reader = new Utf8JsonReader(body, ReaderOptions);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject) return default;
            Dictionary<string, string>? hmacs = null;
            string? secretId = null, versionId = null, versionStage = null;
            var any = false;
            Span<char> nameBuffer = stackalloc char[MaxNameChars];
            writer.WriteStartObject();
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                ReadOnlySpan<char> name = nameBuffer[..Name(ref reader, nameBuffer)];
                if (!reader.Read()) return default;
                if (fields.HashedNames.TryGetValue(name, out var hashedName) && reader.TokenType == JsonTokenType.String)
                {
                    (hmacs ??= new(StringComparer.Ordinal))[hashedName] = hash(reader.GetString()!);
                    continue;
                }
                if (!fields.RequestNames.TryGetValue(name, out var recordName))
                {
                    reader.Skip();
                    continue;
                }
                if (reader.TokenType == JsonTokenType.String)
                {
                    var text = reader.GetString()!;
                    // CreateSecret names its secret with Name: a failed or denied CreateSecret is still about it.
                    if (name.SequenceEqual("SecretId") || name.SequenceEqual("Name")) secretId = text;
                    else if (name.SequenceEqual("VersionId")) versionId = text;
                    else if (name.SequenceEqual("VersionStage")) versionStage = text;
                    writer.WriteString(recordName, text);
                }
                else
                {
                    writer.WritePropertyName(recordName);
                    CopyValue(ref reader, body, writer);
                }
                any = true;
            }
            writer.WriteEndObject();
            writer.Flush();
            return new RequestView(any ? output.WrittenSpan.ToArray() : null, hmacs, secretId, versionId, versionStage);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or ArgumentException or FormatException)
        {
            // Not JSON, invalid UTF-8, a lone surrogate: the call fails with SerializationException and its
            // record carries no parameters.
            return default;
        }
        finally
        {
            Release(output, writer);
        }
    }

    /// <summary>
    /// Filters a JSON response body. Secret ARNs are collected from the top-level <c>ARN</c> and from the
    /// <c>ARN</c> of each entry of <c>SecretValues</c> (BatchGetSecretValue); nothing else is read, values included.
    /// </summary>
    public static ResponseView ReadResponse(ActionFields fields, ReadOnlySpan<byte> body)
    {
        if (body.IsEmpty) return default;
        var (output, writer) = Writer();
        try
        {
            var reader = new Utf8JsonReader(body, ReaderOptions);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject) return default;
            List<string>? arns = null;
            string? versionId = null;
            var any = false;
            Span<char> nameBuffer = stackalloc char[MaxNameChars];
            writer.WriteStartObject();
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                ReadOnlySpan<char> name = nameBuffer[..Name(ref reader, nameBuffer)];
                if (!reader.Read()) return default;
                if (name.SequenceEqual("ARN") && reader.TokenType == JsonTokenType.String) (arns ??= []).Add(reader.GetString()!);
                else if (name.SequenceEqual("VersionId") && reader.TokenType == JsonTokenType.String) versionId = reader.GetString();
                else if (name.SequenceEqual("SecretValues") && reader.TokenType == JsonTokenType.StartArray)
                {
                    CollectEntryArns(ref reader, ref arns);
                    continue;
                }
                if (!fields.ResponseNames.TryGetValue(name, out var recordName))
                {
                    reader.Skip();
                    continue;
                }
                writer.WritePropertyName(recordName);
                CopyValue(ref reader, body, writer);
                any = true;
            }
            writer.WriteEndObject();
            writer.Flush();
            return new ResponseView(any ? output.WrittenSpan.ToArray() : null, arns, versionId);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or ArgumentException or FormatException)
        {
            // Not JSON, invalid UTF-8, a lone surrogate: the call fails with SerializationException and its
            // record carries no parameters.
            return default;
        }
        finally
        {
            Release(output, writer);
        }
    }

    // A member name of more UTF-8 bytes than this is on no list (the longest listed name has 27 characters, 162
    // bytes even with every character escaped); it is read as "" and skipped, as any unlisted member is.
    private const int MaxNameChars = 256;

    /// <summary>Copies the member name the reader is on into <paramref name="buffer"/>; 0 when it is too long for any list.</summary>
    private static int Name(ref Utf8JsonReader reader, scoped Span<char> buffer) =>
        // Unescaped, a name has at most as many characters as its UTF-8 bytes, so it fits the buffer.
        reader.ValueSpan.Length > buffer.Length ? 0 : reader.CopyString(buffer);

    // One writer and buffer per thread for the filtered members: a record's few members do not need a fresh
    // writer and a growing buffer each time.
    [ThreadStatic] private static ArrayBufferWriter<byte>? t_output;
    [ThreadStatic] private static Utf8JsonWriter? t_writer;

    private static (ArrayBufferWriter<byte> Output, Utf8JsonWriter Writer) Writer()
    {
        var output = t_output ?? new ArrayBufferWriter<byte>(512);
        var writer = t_writer ?? new Utf8JsonWriter(output, WriterOptions);
        // Taken from the thread while in use: a nested use (none today) would get its own pair.
        t_output = null;
        t_writer = null;
        output.ResetWrittenCount();
        writer.Reset(output);
        return (output, writer);
    }

    private static void Release(ArrayBufferWriter<byte> output, Utf8JsonWriter writer)
    {
        if (output.Capacity > 64 * 1024) return;
        writer.Reset(output);
        output.ResetWrittenCount();
        t_output = output;
        t_writer = writer;
    }

    /// <summary>
    /// For form-encoded (AWS Query) requests such as IAM and STS: keeps the allowed pairs as a JSON object. A list
    /// named in <paramref name="lists"/> (sent as <c>Name.member.N</c>, or <c>Name.member.N.Key</c> and
    /// <c>.Value</c> for tags) is kept as one array in CloudTrail's form — <c>"tagKeys":["a"]</c>,
    /// <c>"tags":[{"key":"a","value":"1"}]</c> — in member order; any other member of an entry is left out.
    /// </summary>
    public static byte[]? FromPairs(IEnumerable<KeyValuePair<string, string>> pairs, IReadOnlySet<string> allowed, IReadOnlySet<string>? lists = null)
    {
        var output = new ArrayBufferWriter<byte>(128);
        var any = false;
        SortedDictionary<string, SortedDictionary<int, (string? Plain, string? Key, string? Value)>>? found = null;
        using (var writer = new Utf8JsonWriter(output, WriterOptions))
        {
            writer.WriteStartObject();
            foreach (var (key, value) in pairs)
            {
                if (lists is not null && ListEntry(key) is ({ } list, var index, var field) && lists.Contains(list))
                {
                    var entries = (found ??= new(StringComparer.Ordinal)).TryGetValue(list, out var e) ? e : found[list] = new();
                    var entry = entries.GetValueOrDefault(index);
                    entries[index] = field switch
                    {
                        null => entry with { Plain = value },
                        "Key" => entry with { Key = value },
                        "Value" => entry with { Value = value },
                        _ => entry,
                    };
                    continue;
                }
                if (!allowed.Contains(key)) continue;
                writer.WriteString(CamelCase(key), value);
                any = true;
            }
            foreach (var (list, entries) in found ?? [])
            {
                writer.WriteStartArray(CamelCase(list));
                foreach (var (_, entry) in entries)
                {
                    if (entry.Key is not null)
                    {
                        writer.WriteStartObject();
                        writer.WriteString("key", entry.Key);
                        writer.WriteString("value", entry.Value ?? "");
                        writer.WriteEndObject();
                    }
                    else if (entry.Plain is not null) writer.WriteStringValue(entry.Plain);
                }
                writer.WriteEndArray();
                any = true;
            }
            writer.WriteEndObject();
        }
        return any ? output.WrittenSpan.ToArray() : null;
    }

    /// <summary>Name.member.N or Name.member.N.Field → (Name, N, Field); default when the key is not of that form.</summary>
    private static (string? List, int Index, string? Field) ListEntry(string key)
    {
        var at = key.IndexOf(".member.", StringComparison.Ordinal);
        if (at <= 0) return default;
        var rest = key.AsSpan(at + ".member.".Length);
        var dot = rest.IndexOf('.');
        var number = dot < 0 ? rest : rest[..dot];
        if (!int.TryParse(number, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var index)) return default;
        return (key[..at], index, dot < 0 ? null : rest[(dot + 1)..].ToString());
    }

    private static void CollectEntryArns(ref Utf8JsonReader reader, ref List<string>? arns)
    {
        // reader is on StartArray; read entries, picking only their top-level ARN.
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            if (reader.TokenType != JsonTokenType.StartObject) { reader.Skip(); continue; }
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var isArn = reader.ValueTextEquals("ARN"u8);
                reader.Read();
                if (isArn && reader.TokenType == JsonTokenType.String) (arns ??= []).Add(reader.GetString()!);
                else reader.Skip();
            }
        }
    }

    /// <summary>
    /// The members an allowed member's objects may carry (Tags, AddReplicaRegions, Filters, RotationRules,
    /// LookupAttributes): the allow-list reaches inside them too, so an unknown member nested in an allowed one is
    /// left out like an unknown top-level member. Names are kept as the caller wrote them.
    /// </summary>
    private static readonly FrozenSet<string>.AlternateLookup<ReadOnlySpan<char>> NestedNames = new[]
    {
        "Key", "Value", "Values", "Region", "KmsKeyId", "AutomaticallyAfterDays", "Duration", "ScheduleExpression",
        "AttributeKey", "AttributeValue",
    }.ToFrozenSet(StringComparer.Ordinal).GetAlternateLookup<ReadOnlySpan<char>>();

    private static void CopyValue(ref Utf8JsonReader reader, ReadOnlySpan<byte> body, Utf8JsonWriter writer)
    {
        if (reader.TokenType == JsonTokenType.StartArray)
        {
            writer.WriteStartArray();
            while (reader.Read() && reader.TokenType != JsonTokenType.EndArray) CopyValue(ref reader, body, writer);
            writer.WriteEndArray();
        }
        else if (reader.TokenType == JsonTokenType.StartObject)
        {
            writer.WriteStartObject();
            Span<char> nameBuffer = stackalloc char[MaxNameChars];
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                ReadOnlySpan<char> name = nameBuffer[..Name(ref reader, nameBuffer)];
                reader.Read();
                if (name.IsEmpty || !NestedNames.Contains(name))
                {
                    reader.Skip();
                    continue;
                }
                writer.WritePropertyName(name);
                CopyValue(ref reader, body, writer);
            }
            writer.WriteEndObject();
        }
        else if (reader.TokenType == JsonTokenType.String)
        {
            writer.WriteStringValue(reader.GetString());
        }
        else
        {
            writer.WriteRawValue(reader.ValueSpan, skipInputValidation: true);
        }
    }

    private static string CamelCase(string name) =>
        name.Length == 0 || char.IsLower(name[0]) ? name
        : name.Length > 1 && char.IsUpper(name[1]) && name.All(c => !char.IsLower(c)) ? name.ToLowerInvariant()
        : string.Create(name.Length, name, static (span, n) => { n.AsSpan().CopyTo(span); span[0] = char.ToLowerInvariant(span[0]); });

    internal static string Utf8(ReadOnlySpan<byte> bytes) => Encoding.UTF8.GetString(bytes);
}
