using System.Text;
using System.Text.Json;

namespace Coffer.Agent.Tests;

public sealed class AgentResponseTests
{
    [Fact]
    public void The_answer_has_the_agent_shape_with_CreatedDate_as_a_string()
    {
        var upstream = """{"ARN":"arn:aws:secretsmanager:us-east-1:123456789012:secret:a-AbCdEf","Name":"a","VersionId":"v1","SecretString":"p\u00e4ss","VersionStages":["AWSCURRENT"],"CreatedDate":1700000000.123,"Extra":1}"""u8.ToArray();
        var fetched = AgentResponse.FromGetSecretValue(upstream);
        Assert.Equal("arn:aws:secretsmanager:us-east-1:123456789012:secret:a-AbCdEf", fetched.Arn);
        using var doc = JsonDocument.Parse(fetched.Body);
        var root = doc.RootElement;
        Assert.Equal("1700000000.123", root.GetProperty("CreatedDate").GetString());
        Assert.Equal("päss", root.GetProperty("SecretString").GetString());
        Assert.False(root.TryGetProperty("Extra", out _));
        Assert.Equal(["ARN", "Name", "VersionId", "SecretString", "VersionStages", "CreatedDate"], root.EnumerateObject().Select(p => p.Name));
    }

    [Fact]
    public void Errors_use_a_lower_case_message()
    {
        var body = Encoding.UTF8.GetString(AgentResponse.Error("ResourceNotFoundException", "Secrets Manager can't find the specified secret."));
        Assert.Equal("""{"__type":"ResourceNotFoundException","message":"Secrets Manager can't find the specified secret."}""", body);
    }
}
