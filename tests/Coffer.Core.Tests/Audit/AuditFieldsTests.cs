using System.Text;
using Coffer.Core.Audit;

namespace Coffer.Core.Tests.Audit;

public sealed class AuditFieldsTests
{
    private const string Canary = "CNRY-1b9d6bcd-bbfd-4b2d-9b5d-ab8dfbbd4bed-abcdefghijklmnopqrstuv";

    private static string Hash(string v) => "hmac:" + v.Length;

    [Fact]
    public void Request_values_are_dropped_and_only_their_hmac_kept()
    {
        var body = $$"""{"Name":"db","SecretString":"{{Canary}}","SecretBinary":"QUJD","ClientRequestToken":"t-1","Unknown":"{{Canary}}","Tags":[{"Key":"k","Value":"v"}]}""";
        var view = AuditFields.ReadRequest(AuditFields.For("CreateSecret"), Encoding.UTF8.GetBytes(body), Hash);
        var parameters = Encoding.UTF8.GetString(view.Parameters!);
        Assert.DoesNotContain("CNRY", parameters);
        Assert.Contains("\"name\":\"db\"", parameters);
        Assert.Contains("\"tags\":[{\"Key\":\"k\",\"Value\":\"v\"}]", parameters);
        Assert.Equal(Hash(Canary), view.Hmacs!["secretString"]);
        Assert.True(view.Hmacs.ContainsKey("secretBinary"));
        // The secret a CreateSecret is about: its record names it even when the call fails (ResourceExists, AccessDenied).
        Assert.Equal("db", view.SecretId);
    }

    [Fact]
    public void Unknown_members_nested_in_allowed_ones_are_left_out()
    {
        var body = $$$"""{"Name":"db","Tags":[{"Key":"k","Value":"v","Extra":"{{{Canary}}}","Deep":{"X":"{{{Canary}}}"}}],"AddReplicaRegions":[{"Region":"eu-west-1","Note":["{{{Canary}}}"]}]}""";
        var create = AuditFields.ReadRequest(AuditFields.For("CreateSecret"), Encoding.UTF8.GetBytes(body), Hash);
        var parameters = Encoding.UTF8.GetString(create.Parameters!);
        Assert.DoesNotContain("CNRY", parameters);
        Assert.Contains("\"tags\":[{\"Key\":\"k\",\"Value\":\"v\"}]", parameters);
        Assert.Contains("\"addReplicaRegions\":[{\"Region\":\"eu-west-1\"}]", parameters);
        var rotate = $$$"""{"SecretId":"db","RotationRules":{"AutomaticallyAfterDays":30,"Hidden":"{{{Canary}}}"}}""";
        var rules = Encoding.UTF8.GetString(AuditFields.ReadRequest(AuditFields.For("RotateSecret"), Encoding.UTF8.GetBytes(rotate), Hash).Parameters!);
        Assert.Contains("\"rotationRules\":{\"AutomaticallyAfterDays\":30}", rules);
        Assert.DoesNotContain("CNRY", rules);
    }

    [Fact]
    public void Rotation_tokens_and_unknown_actions_keep_nothing()
    {
        var body = $$"""{"SecretId":"db","RotationToken":"{{Canary}}","SecretString":"{{Canary}}"}""";
        var put = AuditFields.ReadRequest(AuditFields.For("PutSecretValue"), Encoding.UTF8.GetBytes(body), Hash);
        Assert.DoesNotContain("CNRY", Encoding.UTF8.GetString(put.Parameters!));
        Assert.Equal("db", put.SecretId);
        var unknown = AuditFields.ReadRequest(AuditFields.For("SomethingNew"), Encoding.UTF8.GetBytes(body), Hash);
        Assert.Null(unknown.Parameters);
    }

    [Fact]
    public void Responses_keep_identity_members_and_never_values_or_passwords()
    {
        var get = $$"""{"ARN":"arn:x","Name":"db","VersionId":"v1","SecretString":"{{Canary}}","VersionStages":["AWSCURRENT"]}""";
        var view = AuditFields.ReadResponse(AuditFields.For("GetSecretValue"), Encoding.UTF8.GetBytes(get));
        Assert.Null(view.Elements);
        Assert.Equal(["arn:x"], view.Arns!);
        Assert.Equal("v1", view.VersionId);

        var password = AuditFields.ReadResponse(AuditFields.For("GetRandomPassword"), Encoding.UTF8.GetBytes($$"""{"RandomPassword":"{{Canary}}"}"""));
        Assert.Null(password.Elements);

        var batch = $$"""{"SecretValues":[{"ARN":"arn:a","SecretString":"{{Canary}}"},{"ARN":"arn:b","SecretBinary":"QUJD"}],"Errors":[]}""";
        var b = AuditFields.ReadResponse(AuditFields.For("BatchGetSecretValue"), Encoding.UTF8.GetBytes(batch));
        Assert.Equal(["arn:a", "arn:b"], b.Arns!);
        Assert.Null(b.Elements);

        var put = AuditFields.ReadResponse(AuditFields.For("PutSecretValue"), Encoding.UTF8.GetBytes("""{"ARN":"arn:x","Name":"db","VersionId":"v2","VersionStages":["AWSCURRENT"]}"""));
        Assert.Equal("""{"arn":"arn:x","name":"db","versionId":"v2","versionStages":["AWSCURRENT"]}""", Encoding.UTF8.GetString(put.Elements!));
    }

    [Fact]
    public void A_body_that_is_not_json_gives_no_parameters()
    {
        Assert.Null(AuditFields.ReadRequest(AuditFields.For("GetSecretValue"), "{\"SecretId\":"u8, Hash).Parameters);
        Assert.Null(AuditFields.ReadRequest(AuditFields.For("GetSecretValue"), "[1,2]"u8, Hash).Parameters);
        Assert.Null(AuditFields.ReadRequest(AuditFields.For("GetSecretValue"), [.. "{\"SecretId\":\""u8, 0xC3, 0x28, .. "\"}"u8], Hash).Parameters);
        Assert.Null(AuditFields.ReadRequest(AuditFields.For("GetSecretValue"), """{"SecretId":"\ud800"}"""u8, Hash).Parameters);
    }

    [Fact]
    public void Escaped_member_names_are_matched_and_overlong_ones_skipped()
    {
        // "\u0053ecretString" is SecretString: still only its HMAC. A name longer than any listed one is dropped.
        var longName = new string('N', 300);
        var body = $$"""{"SecretId":"db","SecretString":"{{Canary}}","{{longName}}":"{{Canary}}"}""";
        var view = AuditFields.ReadRequest(AuditFields.For("PutSecretValue"), Encoding.UTF8.GetBytes(body), Hash);
        Assert.Equal("db", view.SecretId);
        Assert.Equal("""{"secretId":"db"}""", Encoding.UTF8.GetString(view.Parameters!));
        Assert.Equal(Hash(Canary), view.Hmacs!["secretString"]);
    }

    [Fact]
    public void A_body_that_fails_half_way_leaves_nothing_for_the_next_one()
    {
        // The filtered members are written through a buffer reused per thread.
        Assert.Null(AuditFields.ReadRequest(AuditFields.For("PutSecretValue"), "{\"SecretId\":\"first\",\"ClientRequestToken\":"u8, Hash).Parameters);
        var next = AuditFields.ReadRequest(AuditFields.For("PutSecretValue"), """{"ClientRequestToken":"t-2"}"""u8, Hash);
        Assert.Equal("""{"clientRequestToken":"t-2"}""", Encoding.UTF8.GetString(next.Parameters!));
        var response = AuditFields.ReadResponse(AuditFields.For("PutSecretValue"), """{"Name":"db"}"""u8);
        Assert.Equal("""{"name":"db"}""", Encoding.UTF8.GetString(response.Elements!));
    }

    [Fact]
    public void Query_pairs_are_allow_listed()
    {
        var json = AuditFields.FromPairs([new("UserName", "bob"), new("Password", Canary)], new HashSet<string> { "UserName" });
        Assert.Equal("""{"userName":"bob"}""", Encoding.UTF8.GetString(json!));
    }

    [Fact]
    public void Query_lists_are_kept_as_arrays_in_member_order_and_only_when_listed()
    {
        var json = AuditFields.FromPairs(
        [
            new("RoleName", "app"), new("Tags.member.2.Key", "b"), new("Tags.member.1.Key", "a"), new("Tags.member.1.Value", "1"),
            new("Tags.member.1.Secret", Canary), new("TransitiveTagKeys.member.1", "a"), new("Other.member.1", Canary),
        ], new HashSet<string> { "RoleName" }, new HashSet<string> { "Tags", "TransitiveTagKeys" });
        Assert.Equal("""{"roleName":"app","tags":[{"key":"a","value":"1"},{"key":"b","value":""}],"transitiveTagKeys":["a"]}""", Encoding.UTF8.GetString(json!));
    }
}
