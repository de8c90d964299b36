namespace Coffer.Core.Secrets;

/// <summary>
/// Shape constraints of the service model (lengths, patterns, ranges), checked before any write. Messages echo
/// only non-sensitive members; a secret value, password or rotation token is never quoted back.
/// </summary>
internal static class Validation
{
    public const int MaxSecretValueBytes = 65_536;
    public const string InvalidName = "Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!";
    public const string MissingToken = "You must provide a ClientRequestToken value. We recommend a UUID-type value.";

    public static ServiceException Constraint(string? value, string member, string rule) =>
        ServiceException.Validation($"1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: {rule}");

    public static ServiceException SensitiveConstraint(string member, string rule) =>
        ServiceException.Validation($"1 validation error detected: Value at '{member}' failed to satisfy constraint: {rule}");

    public static void Length(string? value, string member, int min, int max)
    {
        if (value is null) return;
        if (value.Length < min)
            throw Constraint(value, member, $"Member must have length greater than or equal to {min}");
        if (value.Length > max)
            throw Constraint(Truncate(value), member, $"Member must have length less than or equal to {max}");
    }

    public static string SecretId(string? secretId)
    {
        if (string.IsNullOrEmpty(secretId))
            throw ServiceException.InvalidParameter("You must provide a SecretId.");
        Length(secretId, "secretId", 1, 2048);
        // A SecretId that is not an ARN is a name, and must look like one (observed: AWS answers
        // ValidationException, not ResourceNotFoundException, for "Inv Name" on every action).
        if (!secretId.StartsWith("arn:", StringComparison.Ordinal)) Name(secretId);
        return secretId;
    }

    public static string Name(string? name)
    {
        if (string.IsNullOrEmpty(name))
            throw ServiceException.Validation(InvalidName);
        if (name.Length > 512)
            throw Constraint(Truncate(name), "name", "Member must have length less than or equal to 512");
        foreach (var c in name)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '/' or '_' or '+' or '=' or '.' or '@' or '-'))
                throw ServiceException.Validation(InvalidName);
        }
        return name;
    }

    /// <summary>Tokens are required on the wire (SDKs fill them in); AWS refuses a raw call without one.</summary>
    public static string Token(string? token)
    {
        if (token is null) throw ServiceException.InvalidRequest(MissingToken);
        Length(token, "clientRequestToken", 32, 64);
        return token;
    }

    public static void OptionalVersionId(string? versionId, string member)
    {
        if (versionId is not null) Length(versionId, member, 32, 64);
    }

    public static void Stage(string? stage, string member)
    {
        if (stage is not null) Length(stage, member, 1, 256);
    }

    /// <summary>Exactly one of string or binary, within 1..65,536 bytes. Returns the value as bytes (UTF-8 for strings).</summary>
    public static (byte[] Bytes, bool IsBinary)? Value(string? secretString, byte[]? secretBinary, bool required)
    {
        if (secretString is not null && secretBinary is not null)
            throw ServiceException.InvalidParameter("You can't specify both a binary secret value and a string secret value in the same secret.");
        if (secretString is null && secretBinary is null)
        {
            if (required)
                throw ServiceException.InvalidParameter("You must provide either SecretString or SecretBinary.");
            return null;
        }
        if (secretString is not null)
        {
            var bytes = System.Text.Encoding.UTF8.GetBytes(secretString);
            if (secretString.Length == 0)
                throw SensitiveConstraint("secretString", "Member must have length greater than or equal to 1");
            if (bytes.Length > MaxSecretValueBytes)
                throw SensitiveConstraint("secretString", $"Member must have length less than or equal to {MaxSecretValueBytes}");
            return (bytes, false);
        }
        if (secretBinary!.Length == 0)
            throw SensitiveConstraint("secretBinary", "Member must have length greater than or equal to 1");
        if (secretBinary.Length > MaxSecretValueBytes)
            throw SensitiveConstraint("secretBinary", $"Member must have length less than or equal to {MaxSecretValueBytes}");
        return (secretBinary, true);
    }

    public static void Tags(List<Tag>? tags, int maxTags)
    {
        if (tags is null) return;
        for (var i = 0; i < tags.Count; i++)
        {
            var tag = tags[i];
            if (tag is null || tag.Key is null)
                throw ServiceException.InvalidParameter("A tag key must be present.");
            Length(tag.Key, $"tags.{i + 1}.member.key", 1, 128);
            if (tag.Value is null)
                throw ServiceException.InvalidParameter("A tag value must be present.");
            Length(tag.Value, $"tags.{i + 1}.member.value", 0, 256);
            if (tag.Key.StartsWith("aws:", StringComparison.OrdinalIgnoreCase))
                throw ServiceException.InvalidParameter("Tag keys beginning with aws: are reserved for AWS use.");
        }
        if (tags.Count > maxTags)
            throw ServiceException.InvalidParameter($"A secret can have at most {maxTags} tags.");
    }

    public static string Truncate(string value) => value.Length <= 128 ? value : value[..128] + "...";
}
