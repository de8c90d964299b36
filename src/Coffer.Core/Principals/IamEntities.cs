using System.Text.Json.Serialization;

namespace Coffer.Core.Principals;

/// <summary>
/// IAM entities as stored (one JSON document each). Instances handed out by <see cref="IamDirectory"/> are never
/// changed afterwards: a change stores a modified copy and publishes it, so readers need no lock.
/// </summary>
public sealed class IamUser
{
    public required string UserName { get; set; }
    public required string UserId { get; set; }
    public required string Arn { get; set; }
    public string Path { get; set; } = "/";
    public DateTimeOffset CreateDate { get; set; }
    public Dictionary<string, string> Tags { get; set; } = [];
    public Dictionary<string, string> InlinePolicies { get; set; } = [];
    public List<string> AttachedPolicies { get; set; } = [];
    public List<string> Groups { get; set; } = [];
    /// <summary>The ARN of the managed policy that is this user's permissions boundary, if any.</summary>
    public string? PermissionsBoundary { get; set; }
}

public sealed class IamGroup
{
    public required string GroupName { get; set; }
    public required string GroupId { get; set; }
    public required string Arn { get; set; }
    public string Path { get; set; } = "/";
    public DateTimeOffset CreateDate { get; set; }
    public Dictionary<string, string> InlinePolicies { get; set; } = [];
    public List<string> AttachedPolicies { get; set; } = [];
}

public sealed class IamRole
{
    public required string RoleName { get; set; }
    public required string RoleId { get; set; }
    public required string Arn { get; set; }
    public string Path { get; set; } = "/";
    public string? Description { get; set; }
    public int MaxSessionDuration { get; set; } = 3600;
    public DateTimeOffset CreateDate { get; set; }
    public required string AssumeRolePolicyDocument { get; set; }
    public Dictionary<string, string> Tags { get; set; } = [];
    public Dictionary<string, string> InlinePolicies { get; set; } = [];
    public List<string> AttachedPolicies { get; set; } = [];
    /// <summary>The ARN of the managed policy that is this role's permissions boundary, if any.</summary>
    public string? PermissionsBoundary { get; set; }
}

public sealed class IamPolicyVersion
{
    public required string VersionId { get; set; }
    public required string Document { get; set; }
    public DateTimeOffset CreateDate { get; set; }
}

public sealed class IamManagedPolicy
{
    public required string PolicyName { get; set; }
    public required string PolicyId { get; set; }
    public required string Arn { get; set; }
    public string Path { get; set; } = "/";
    public string? Description { get; set; }
    public DateTimeOffset CreateDate { get; set; }
    public DateTimeOffset UpdateDate { get; set; }
    public required string DefaultVersionId { get; set; }
    public int NextVersion { get; set; } = 2;
    public List<IamPolicyVersion> Versions { get; set; } = [];

    [JsonIgnore]
    public IamPolicyVersion DefaultVersion => Versions.First(v => v.VersionId == DefaultVersionId);
}

[JsonSerializable(typeof(IamUser))]
[JsonSerializable(typeof(IamGroup))]
[JsonSerializable(typeof(IamRole))]
[JsonSerializable(typeof(IamManagedPolicy))]
[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
internal sealed partial class IamJsonContext : JsonSerializerContext;
