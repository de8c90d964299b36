using Coffer.Core.Functions;

namespace Coffer.Protocol.Lambda;

/// <summary>
/// One Lambda API call as the path and method name it (AWS's REST bindings under /2015-03-31/functions):
/// the action, the function and statement named in the path, the body limit and whether it only reads.
/// </summary>
internal sealed record LambdaRoute(string Action, string? FunctionName, string? StatementId, int MaxBody, bool ReadOnly)
{
    public const string Prefix = "/2015-03-31/functions";
    /// <summary>Coffer's own: downloading a package through GetFunction's Code.Location link.</summary>
    public const string DownloadCode = "GetFunctionCode";
    private const int SmallBody = AwsJsonEndpoint.MaxBodyBytes;

    /// <summary>The route for METHOD and the path after the prefix (still percent-encoded), or null.</summary>
    public static LambdaRoute? Match(string method, ReadOnlySpan<char> rest)
    {
        // "" or "/" is the collection; otherwise "/NAME[/SUB[/SID]]".
        if (rest.IsEmpty || rest.SequenceEqual("/"))
            return method switch
            {
                "GET" => new("ListFunctions", null, null, SmallBody, true),
                "POST" => new("CreateFunction", null, null, FunctionLimits.MaxCodeRequestBytes, false),
                _ => null,
            };
        if (rest[0] != '/') return null;
        var parts = rest[1..].ToString().Split('/');
        if (parts.Any(p => p.Length == 0)) return null;
        string name;
        try { name = Uri.UnescapeDataString(parts[0]); }
        catch (UriFormatException) { return null; }
        switch (parts.Length)
        {
            case 1:
                return method switch
                {
                    "GET" => new("GetFunction", name, null, SmallBody, true),
                    "DELETE" => new("DeleteFunction", name, null, SmallBody, false),
                    _ => null,
                };
            case 2:
                return (method, parts[1]) switch
                {
                    ("GET", "configuration") => new("GetFunctionConfiguration", name, null, SmallBody, true),
                    ("PUT", "configuration") => new("UpdateFunctionConfiguration", name, null, SmallBody, false),
                    ("PUT", "code") => new("UpdateFunctionCode", name, null, FunctionLimits.MaxCodeRequestBytes, false),
                    ("GET", "code") => new(DownloadCode, name, null, SmallBody, true),
                    ("POST", "invocations") => new("Invoke", name, null, FunctionLimits.MaxPayloadBytes, false),
                    ("GET", "policy") => new("GetPolicy", name, null, SmallBody, true),
                    ("POST", "policy") => new("AddPermission", name, null, SmallBody, false),
                    _ => null,
                };
            case 3 when method == "DELETE" && parts[1] == "policy":
                try { return new("RemovePermission", name, Uri.UnescapeDataString(parts[2]), SmallBody, false); }
                catch (UriFormatException) { return null; }
            default:
                return null;
        }
    }
}
