using System.Collections.Frozen;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Coffer.Core;
using Coffer.Core.Audit;
using Coffer.Protocol.Json;

namespace Coffer.Protocol;

/// <summary>
/// CloudTrail's rows of the dispatch table: LookupEvents over Coffer's own audit trail, so that
/// <c>aws cloudtrail lookup-events --endpoint-url …</c> works. Target prefix and shapes as in CloudTrail's
/// service model (2013-11-01): one LookupAttribute at most, StartTime/EndTime, MaxResults 1–50 (default 50),
/// NextToken; events newest first, <c>CloudTrailEvent</c> is the JSON text of the record.
/// </summary>
internal static class CloudTrailOperations
{
    public const string SigningName = "cloudtrail";
    public const string TargetPrefix = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.";

    public static readonly FrozenDictionary<string, Operation> ByTarget = new Dictionary<string, Operation>
    {
        [TargetPrefix + "LookupEvents"] = new(TargetPrefix + "LookupEvents", SigningName, LookupEventsAsync),
    }.ToFrozenDictionary(StringComparer.Ordinal);

    private static async Task LookupEventsAsync(AwsJsonServices services, RequestContext context, ReadOnlyMemory<byte> body,
        System.Buffers.IBufferWriter<byte> output, CancellationToken ct)
    {
        // Reading the trail is a permission of its own (resource "*"); the bootstrap administrator always has it.
        services.Secrets.Authorize(context, "cloudtrail:LookupEvents");
        var request = ProtocolJson.Read(body, CloudTrailJsonContext.Default.LookupEventsRequest);
        var max = request.MaxResults ?? 50;
        if (max is < 1 or > 50)
            throw new ServiceException("InvalidMaxResultsException", "MaxResults must be between 1 and 50.");
        if (request.StartTime is { } s && request.EndTime is { } e && s > e)
            throw new ServiceException("InvalidTimeRangeException", "Start time must be equal to or less than end time.");
        // EventCategory has one value, "insight": Insights events only, of which Coffer has none (the trail holds
        // management events). Any other value is refused as CloudTrail does.
        var insights = request.EventCategory switch
        {
            null => false,
            "insight" => true,
            _ => throw new ServiceException("InvalidEventCategoryException", "The event category is not valid."),
        };
        // CloudTrail answers the events of the Region the call is made in (IAM's, a global service's, are us-east-1's).
        var query = new AuditQuery { From = request.StartTime, To = request.EndTime, Region = context.Region, Limit = max };
        if (request.LookupAttributes is { Count: > 0 } attributes)
        {
            if (attributes.Count > 1)
                throw new ServiceException("InvalidLookupAttributesException", "You cannot specify more than one lookup attribute.");
            // A JSON null entry ([null]) is no attribute: refused like a malformed one, not a NullReferenceException.
            if (attributes[0] is not { } attribute)
                throw new ServiceException("InvalidLookupAttributesException", "The lookup attribute is not valid.");
            var (key, value) = (attribute.AttributeKey, attribute.AttributeValue);
            if (string.IsNullOrEmpty(value) || value.Length > 2000)
                throw new ServiceException("InvalidLookupAttributesException", "The attribute value must be 1 to 2000 characters.");
            query = key switch
            {
                "EventId" => query with { EventId = value },
                "EventName" => query with { EventName = value },
                "ReadOnly" => query with { ReadOnly = string.Equals(value, "true", StringComparison.OrdinalIgnoreCase) },
                "Username" => query with { Principal = value },
                "ResourceName" => query with { Secret = value },
                "ResourceType" => query with { ResourceType = value },
                "EventSource" => query with { EventSource = value },
                "AccessKeyId" => query with { AccessKeyId = value },
                _ => throw new ServiceException("InvalidLookupAttributesException", "The lookup attribute key is not valid."),
            };
        }
        if (request.NextToken is { } token)
            query = query with { BeforeSeq = ParseToken(token) };

        var records = services.AuditReader is { } reader && !insights
            ? await reader.QueryAsync(query, ct).ConfigureAwait(false)
            : [];
        var result = new LookupEventsResult
        {
            Events = [.. records.Select(ToEvent)],
            NextToken = records.Count == max ? "seq-" + records[^1].Seq.ToString(CultureInfo.InvariantCulture) : null,
        };
        ProtocolJson.Write(output, result, CloudTrailJsonContext.Default.LookupEventsResult);
    }

    private static long ParseToken(string token)
    {
        if (token.StartsWith("seq-", StringComparison.Ordinal) &&
            long.TryParse(token.AsSpan(4), NumberStyles.None, CultureInfo.InvariantCulture, out var seq) && seq > 0)
            return seq;
        throw new ServiceException("InvalidNextTokenException", "The NextToken is not valid.");
    }

    private static LookupEvent ToEvent(AuditRecord r) => new()
    {
        EventId = r.EventId,
        EventName = r.EventName,
        ReadOnly = r.ReadOnly ? "true" : "false",
        AccessKeyId = r.AccessKeyId,
        EventTime = r.EventTime,
        EventSource = r.EventSource,
        Username = r.UserName,
        // Every resource with its own type (a role for AssumeRole, a function for Lambda, several secrets for
        // BatchGetSecretValue), as the record names them.
        Resources = [.. AuditJson.ReadResources(r.EventJson).Select(x => new LookupResource { ResourceType = x.Type, ResourceName = x.Arn })],
        CloudTrailEvent = Encoding.UTF8.GetString(r.EventJson),
    };
}

internal sealed class LookupEventsRequest
{
    public List<LookupAttribute>? LookupAttributes { get; set; }
    public DateTimeOffset? StartTime { get; set; }
    public DateTimeOffset? EndTime { get; set; }
    public string? EventCategory { get; set; }
    public int? MaxResults { get; set; }
    public string? NextToken { get; set; }
}

internal sealed class LookupAttribute
{
    public string? AttributeKey { get; set; }
    public string? AttributeValue { get; set; }
}

internal sealed class LookupEventsResult
{
    public List<LookupEvent> Events { get; set; } = [];
    public string? NextToken { get; set; }
}

internal sealed class LookupEvent
{
    public string? EventId { get; set; }
    public string? EventName { get; set; }
    public string? ReadOnly { get; set; }
    public string? AccessKeyId { get; set; }
    public DateTimeOffset EventTime { get; set; }
    public string? EventSource { get; set; }
    public string? Username { get; set; }
    public List<LookupResource> Resources { get; set; } = [];
    public string? CloudTrailEvent { get; set; }
}

internal sealed class LookupResource
{
    public string? ResourceType { get; set; }
    public string? ResourceName { get; set; }
}

[JsonSourceGenerationOptions(
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    MaxDepth = 64,
    AllowDuplicateProperties = false,
    Converters = [typeof(EpochSecondsConverter)])]
[JsonSerializable(typeof(LookupEventsRequest))]
[JsonSerializable(typeof(LookupEventsResult))]
internal sealed partial class CloudTrailJsonContext : JsonSerializerContext;
