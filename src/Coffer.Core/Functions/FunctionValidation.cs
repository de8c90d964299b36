using System.IO.Compression;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Coffer.Core.Functions;

/// <summary>A function named by a request: bare name, <c>NAME:QUALIFIER</c>, partial or full ARN.</summary>
internal readonly record struct FunctionId(string? Region, string? AccountId, string Name, string? Qualifier);

/// <summary>
/// The Lambda API's input rules, checked before the first write: shape constraints answer ValidationException in
/// AWS's "1 validation error detected" form, semantic ones InvalidParameterValueException with AWS's wording.
/// Messages quote names, runtimes and roles, never environment values or code.
/// </summary>
internal static partial class FunctionValidation
{
    private const string NamePattern = @"(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\d{1}:)?(\d{12}:)?(function:)?([a-zA-Z0-9-_]+)(:(\$LATEST|[a-zA-Z0-9-_]+))?";

    [GeneratedRegex(@"^(?:arn:(?:aws[a-zA-Z-]*)?:lambda:)?(?:(?<region>[a-z]{2}(?:-gov)?-[a-z]+-\d{1}):)?(?:(?<account>\d{12}):)?(?:function:)?(?<name>[a-zA-Z0-9-_]+)(?::(?<qualifier>\$LATEST|[a-zA-Z0-9-_]+))?$")]
    private static partial Regex FunctionNameRegex();

    [GeneratedRegex(@"^arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+$")]
    private static partial Regex RoleRegex();

    [GeneratedRegex(@"^python3\.\d{1,2}$|^nodejs(\d{1,2}\.x)?$|^provided(\.al2|\.al2023)?$")]
    private static partial Regex RuntimeRegex();

    [GeneratedRegex(@"^[a-zA-Z]([a-zA-Z0-9_])+$")]
    private static partial Regex EnvironmentKeyRegex();

    [GeneratedRegex(@"^[a-zA-Z0-9-_]+$")]
    private static partial Regex StatementIdRegex();

    [GeneratedRegex(@"^(lambda:[*]|lambda:[a-zA-Z]+|[*])$")]
    private static partial Regex PermissionActionRegex();

    /// <summary>Keys Lambda sets itself (AWS refuses them in Environment.Variables).</summary>
    private static readonly HashSet<string> ReservedKeys = new(StringComparer.Ordinal)
    {
        "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_EXECUTION_ENV", "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION", "AWS_LAMBDA_INITIALIZATION_TYPE",
        "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME", "AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR",
    };

    public static FunctionId FunctionName(string? value, string member = "functionName")
    {
        if (string.IsNullOrEmpty(value))
            throw FunctionErrors.Validation("null", member, "Member must not be null");
        if (value.Length > 170)
            throw FunctionErrors.Validation(Shorten(value), member, "Member must have length less than or equal to 170");
        var m = FunctionNameRegex().Match(value);
        if (!m.Success)
            throw FunctionErrors.Validation(Shorten(value), member, "Member must satisfy regular expression pattern: " + NamePattern);
        var name = m.Groups["name"].Value;
        if (name.Length > 64)
            throw FunctionErrors.Validation(Shorten(value), member, "Member must have length less than or equal to 64");
        return new FunctionId(
            m.Groups["region"].Success ? m.Groups["region"].Value : null,
            m.Groups["account"].Success ? m.Groups["account"].Value : null,
            name,
            m.Groups["qualifier"].Success ? m.Groups["qualifier"].Value : null);
    }

    public static string Runtime(string? runtime)
    {
        if (string.IsNullOrEmpty(runtime))
            throw FunctionErrors.InvalidParameter("Runtime and Handler are mandatory parameters for functions created with Zip packages.");
        if (!RuntimeRegex().IsMatch(runtime))
            throw FunctionErrors.InvalidParameter(
                $"The runtime parameter of {Shorten(runtime)} is not supported by Coffer. Supported runtimes: python3.x, nodejs*, provided, provided.al2, provided.al2023.");
        return runtime;
    }

    public static string Handler(string? handler, string runtime)
    {
        if (string.IsNullOrEmpty(handler))
        {
            // A custom runtime runs its bootstrap whatever the handler says; AWS's own templates still send one.
            if (runtime.StartsWith("provided", StringComparison.Ordinal)) return "bootstrap";
            throw FunctionErrors.InvalidParameter("Runtime and Handler are mandatory parameters for functions created with Zip packages.");
        }
        if (handler.Length > 128)
            throw FunctionErrors.Validation(Shorten(handler), "handler", "Member must have length less than or equal to 128");
        if (handler.Any(char.IsWhiteSpace))
            throw FunctionErrors.Validation(Shorten(handler), "handler", @"Member must satisfy regular expression pattern: [^\s]+");
        return handler;
    }

    public static string RoleArn(string? role)
    {
        if (string.IsNullOrEmpty(role))
            throw FunctionErrors.Validation("null", "role", "Member must not be null");
        if (role.Length > 2048 || !RoleRegex().IsMatch(role))
            throw FunctionErrors.Validation(Shorten(role), "role",
                @"Member must satisfy regular expression pattern: arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+");
        return role;
    }

    public static int Timeout(int? timeout, int current)
    {
        var t = timeout ?? current;
        if (t < FunctionLimits.MinTimeout)
            throw FunctionErrors.Validation(t.ToString(System.Globalization.CultureInfo.InvariantCulture), "timeout", "Member must have value greater than or equal to 1");
        if (t > FunctionLimits.MaxTimeout)
            throw FunctionErrors.Validation(t.ToString(System.Globalization.CultureInfo.InvariantCulture), "timeout", "Member must have value less than or equal to 900");
        return t;
    }

    public static int MemorySize(int? memory, int current)
    {
        var m = memory ?? current;
        if (m < FunctionLimits.MinMemorySize)
            throw FunctionErrors.Validation(m.ToString(System.Globalization.CultureInfo.InvariantCulture), "memorySize", "Member must have value greater than or equal to 128");
        if (m > FunctionLimits.MaxMemorySize)
            throw FunctionErrors.Validation(m.ToString(System.Globalization.CultureInfo.InvariantCulture), "memorySize", "Member must have value less than or equal to 10240");
        return m;
    }

    public static string? Description(string? description)
    {
        if (description is { Length: > 256 })
            throw FunctionErrors.Validation(Shorten(description), "description", "Member must have length less than or equal to 256");
        return description;
    }

    /// <summary>Keys by AWS's pattern, no reserved keys, 4 KB in all. Never quotes a value.</summary>
    public static Dictionary<string, string> Environment(IReadOnlyDictionary<string, string>? variables)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        if (variables is null) return result;
        var size = 0;
        List<string>? reserved = null;
        foreach (var (key, value) in variables)
        {
            if (!EnvironmentKeyRegex().IsMatch(key))
                throw FunctionErrors.Validation("[sensitive]", "environment.variables",
                    "Map keys must satisfy constraint: [Member must satisfy regular expression pattern: [a-zA-Z]([a-zA-Z0-9_])+]");
            if (ReservedKeys.Contains(key)) (reserved ??= []).Add(key);
            size += Encoding.UTF8.GetByteCount(key) + Encoding.UTF8.GetByteCount(value ?? "");
            result[key] = value ?? "";
        }
        if (reserved is not null)
            throw FunctionErrors.InvalidParameter(
                "Lambda was unable to configure your environment variables because the environment variables you have provided contains reserved keys that are currently not supported for modification. Reserved keys used in this request: "
                + string.Join(", ", reserved));
        if (size > FunctionLimits.MaxEnvironmentBytes)
            throw FunctionErrors.InvalidParameter(
                "Lambda was unable to configure your environment variables because the environment variables you have provided exceeded the 4KB limit. String measured: [sensitive]");
        return result;
    }

    public static void PackageType(string? packageType, IReadOnlyList<string>? architectures)
    {
        if (packageType is not (null or "Zip"))
            throw FunctionErrors.InvalidParameter($"Coffer stores Zip packages only; PackageType {Shorten(packageType)} is not supported.");
        if (architectures is { Count: > 0 } && (architectures.Count != 1 || architectures[0] != "x86_64"))
            throw FunctionErrors.InvalidParameter("Coffer runs functions on the host's processor; Architectures must be [\"x86_64\"] or left out.");
    }

    /// <summary>The package must be a readable zip of at most 50 MB zipped and 250 MB unzipped.</summary>
    public static byte[] ZipFile(byte[]? zip, bool codeFromElsewhere, string operation)
    {
        if (codeFromElsewhere)
            throw FunctionErrors.InvalidParameter("Coffer stores deployment packages uploaded directly (ZipFile); S3 locations and container images are not supported.");
        if (zip is null || zip.Length == 0)
            throw FunctionErrors.InvalidParameter("Please provide a source for function code.");
        if (zip.Length > FunctionLimits.MaxZipBytes)
            throw new ServiceException("RequestEntityTooLargeException",
                $"Request must be smaller than {FunctionLimits.MaxCodeRequestBytes} bytes for the {operation} operation");
        const string unreadable = "Could not unzip uploaded file. Please check your file, then try to upload again.";
        try
        {
            using var archive = new ZipArchive(new MemoryStream(zip, writable: false), ZipArchiveMode.Read);
            long total = 0;
            foreach (var entry in archive.Entries)
            {
                total += entry.Length;
                if (total > FunctionLimits.MaxUnzippedBytes)
                    throw FunctionErrors.InvalidParameter($"Unzipped size must be smaller than {FunctionLimits.MaxUnzippedBytes} bytes");
            }
        }
        catch (InvalidDataException) { throw FunctionErrors.InvalidParameter(unreadable); }
        catch (ArgumentException) { throw FunctionErrors.InvalidParameter(unreadable); }
        catch (IOException) { throw FunctionErrors.InvalidParameter(unreadable); }
        return zip;
    }

    public static string StatementId(string? sid)
    {
        if (string.IsNullOrEmpty(sid))
            throw FunctionErrors.Validation("null", "statementId", "Member must not be null");
        if (sid.Length > 100 || !StatementIdRegex().IsMatch(sid))
            throw FunctionErrors.Validation(Shorten(sid), "statementId", "Member must satisfy regular expression pattern: ([a-zA-Z0-9-_]+)");
        return sid;
    }

    public static string PermissionAction(string? action)
    {
        if (string.IsNullOrEmpty(action))
            throw FunctionErrors.Validation("null", "action", "Member must not be null");
        if (!PermissionActionRegex().IsMatch(action))
            throw FunctionErrors.Validation(Shorten(action), "action", "Member must satisfy regular expression pattern: (lambda:[*]|lambda:[a-zA-Z]+|[*])");
        return action;
    }

    /// <summary>Only $LATEST exists in Coffer (Publish is not kept); any other qualifier names a missing version.</summary>
    public static bool IsLatest(string? qualifier) => qualifier is null or "$LATEST";

    /// <summary>
    /// True when the role's trust policy lets Lambda assume it: an Allow statement whose Principal.Service names
    /// lambda.amazonaws.com for sts:AssumeRole (or sts:*, *). Coffer's policy engine ignores service principals
    /// when it evaluates, so this reads the document itself.
    /// </summary>
    public static bool TrustsLambda(string trustPolicy)
    {
        try
        {
            using var doc = JsonDocument.Parse(trustPolicy);
            if (!doc.RootElement.TryGetProperty("Statement", out var statements)) return false;
            var list = statements.ValueKind == JsonValueKind.Array ? statements.EnumerateArray().ToList() : [statements];
            foreach (var s in list)
            {
                if (s.ValueKind != JsonValueKind.Object) continue;
                if (!s.TryGetProperty("Effect", out var effect) || effect.ValueKind != JsonValueKind.String || effect.GetString() != "Allow") continue;
                if (!s.TryGetProperty("Principal", out var principal)) continue;
                var service = principal.ValueKind == JsonValueKind.String && principal.GetString() == "*"
                    || principal.ValueKind == JsonValueKind.Object && principal.TryGetProperty("Service", out var svc) && Strings(svc).Contains("lambda.amazonaws.com");
                if (!service) continue;
                if (s.TryGetProperty("Action", out var action) && Strings(action).Any(a => a is "sts:AssumeRole" or "sts:*" or "*"
                        || string.Equals(a, "sts:assumerole", StringComparison.OrdinalIgnoreCase)))
                    return true;
            }
            return false;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    private static List<string> Strings(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.String => [e.GetString()!],
        JsonValueKind.Array => [.. e.EnumerateArray().Where(x => x.ValueKind == JsonValueKind.String).Select(x => x.GetString()!)],
        _ => [],
    };

    /// <summary>Names and the like in messages are cut short; they are the caller's own input, never a secret.</summary>
    private static string Shorten(string? value) => value is null ? "null" : value.Length <= 200 ? value : value[..200] + "…";
}
