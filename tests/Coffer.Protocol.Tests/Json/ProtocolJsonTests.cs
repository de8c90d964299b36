using System.Buffers;
using System.Text;
using Coffer.Core;
using Coffer.Core.Secrets;
using Coffer.Protocol.Json;

namespace Coffer.Protocol.Tests.Json;

public sealed class ProtocolJsonTests
{
    private static readonly ProtocolJsonContext Json = ProtocolJsonContext.Default;

    public static TheoryData<string, string> BadBodies() => new()
    {
        { "duplicate", """{"SecretId":"a","SecretId":"b"}""" },
        { "duplicate-nested", """{"SecretId":"a","Tags":[{"Key":"k","Key":"j","Value":"v"}]}""" },
        { "duplicate-unknown", """{"SecretId":"a","Foo":1,"Foo":2}""" },
        { "not-json", "SecretId=a" },
        { "truncated", """{"SecretId":"a" """ },
        { "trailing-garbage", """{"SecretId":"a"} x""" },
        { "array", """["a"]""" },
        { "null", "null" },
        { "string", "\"a\"" },
        { "nan", """{"RecoveryWindowInDays":NaN}""" },
        { "wrong-type-string", """{"SecretId":"a","RecoveryWindowInDays":"7"}""" },
        { "wrong-type-fraction", """{"SecretId":"a","RecoveryWindowInDays":7.5}""" },
        { "wrong-type-overflow", """{"SecretId":"a","RecoveryWindowInDays":1e309}""" },
        { "wrong-type-bool", """{"SecretId":true}""" },
        { "wrong-type-object", """{"SecretId":{"a":1}}""" },
        { "comment", """{"SecretId":"a" /* c */}""" },
        { "trailing-comma", """{"SecretId":"a",}""" },
        { "lone-surrogate", """{"SecretId":"\ud800"}""" },
    };

    [Theory]
    [MemberData(nameof(BadBodies))]
    public void A_body_that_is_not_the_requests_json_is_a_serialization_exception(string name, string body)
    {
        _ = name;
        var e = Assert.Throws<ServiceException>(() => ProtocolJson.Read(Encoding.UTF8.GetBytes(body).AsMemory(), Json.DeleteSecretRequest));
        Assert.Equal("SerializationException", e.Code);
    }

    [Fact]
    public void Bytes_that_are_not_utf8_json_are_a_serialization_exception()
    {
        byte[][] bodies =
        [
            [0xEF, 0xBB, 0xBF, .. """{"SecretId":"a"}"""u8],              // BOM
            Encoding.Unicode.GetBytes("""{"SecretId":"a"}"""),             // UTF-16
            [.. """{"SecretId":"a"""u8, 0xC3, 0x28, .. "\"}"u8],           // invalid UTF-8
        ];
        foreach (var body in bodies)
            Assert.Equal("SerializationException", Assert.Throws<ServiceException>(() => ProtocolJson.Read(body.AsMemory(), Json.SecretIdRequest)).Code);
    }

    [Fact]
    public void Nesting_deeper_than_64_is_refused()
    {
        var deep = """{"SecretId":"a","X":""" + new string('[', 70) + new string(']', 70) + "}";
        Assert.Equal("SerializationException", Assert.Throws<ServiceException>(() => ProtocolJson.Read(Encoding.UTF8.GetBytes(deep).AsMemory(), Json.SecretIdRequest)).Code);
        var fine = """{"SecretId":"a","X":""" + new string('[', 60) + new string(']', 60) + "}";
        Assert.Equal("a", ProtocolJson.Read(Encoding.UTF8.GetBytes(fine).AsMemory(), Json.SecretIdRequest).SecretId);
    }

    [Fact]
    public void The_message_never_echoes_a_value()
    {
        const string canary = "CNRY-4f1c-value";
        string[] bodies =
        [
            $$"""{"SecretString":"{{canary}}","SecretString":"{{canary}}"}""",
            $$"""{"Name":"x","SecretString":{{canary}}}""",
            $$"""{"Name":"x","SecretBinary":"{{canary}}"}""",
            $$"""{"Name":"x","SecretString":"{{canary}}" """,
            $$"""{"Name":"x","Tags":[{"Key":"{{canary}}","Value":7}]}""",
            $$"""{"{{canary}}":1,"{{canary}}":2}""",
        ];
        foreach (var body in bodies)
        {
            var e = Assert.Throws<ServiceException>(() => ProtocolJson.Read(Encoding.UTF8.GetBytes(body).AsMemory(), Json.CreateSecretRequest));
            Assert.Equal("SerializationException", e.Code);
            Assert.DoesNotContain("CNRY", e.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void An_empty_body_is_an_empty_object_and_unknown_members_are_ignored()
    {
        var empty = ProtocolJson.Read(ReadOnlyMemory<byte>.Empty, Json.ListSecretsRequest);
        Assert.Null(empty.MaxResults);
        var request = ProtocolJson.Read("""{"SecretId":"a","NewerMember":{"x":[1,2]},"RecoveryWindowInDays":7}"""u8.ToArray().AsMemory(), Json.DeleteSecretRequest);
        Assert.Equal("a", request.SecretId);
        Assert.Equal(7, request.RecoveryWindowInDays);
    }

    [Fact]
    public void Secret_binary_is_standard_base64_both_ways()
    {
        var request = ProtocolJson.Read("""{"SecretId":"a","SecretBinary":"AP8+/w=="}"""u8.ToArray().AsMemory(), Json.PutSecretValueRequest);
        Assert.Equal(new byte[] { 0x00, 0xFF, 0x3E, 0xFF }, request.SecretBinary);
        var written = Write(new GetSecretValueResult
        {
            ARN = "arn", Name = "a", VersionId = "v", SecretBinary = [0x00, 0xFF, 0x3E, 0xFF], VersionStages = ["AWSCURRENT"],
            CreatedDate = DateTimeOffset.FromUnixTimeMilliseconds(1523477145713),
        }, Json.GetSecretValueResult);
        Assert.Equal("""{"ARN":"arn","Name":"a","VersionId":"v","SecretBinary":"AP8+/w==","VersionStages":["AWSCURRENT"],"CreatedDate":1523477145.713}""", written);
    }

    [Fact]
    public void Timestamps_are_epoch_seconds_with_milliseconds_and_nulls_are_omitted()
    {
        var written = Write(new DescribeSecretResult
        {
            ARN = "arn", Name = "n",
            CreatedDate = DateTimeOffset.FromUnixTimeSeconds(1700000000),
            LastChangedDate = DateTimeOffset.FromUnixTimeMilliseconds(1700000000001),
            SecretVersionsToStages = new() { ["v1"] = ["AWSCURRENT"] },
        }, Json.DescribeSecretResult);
        Assert.Equal("""{"ARN":"arn","Name":"n","LastChangedDate":1700000000.001,"SecretVersionsToStages":{"v1":["AWSCURRENT"]},"CreatedDate":1700000000}""", written);
    }

    [Fact]
    public void Values_are_written_without_needless_escaping_but_quotes_are_escaped()
    {
        var written = Write(new GetRandomPasswordResult { RandomPassword = "a+<>&\"\\ä" }, Json.GetRandomPasswordResult);
        Assert.Equal("{\"RandomPassword\":\"a+<>&\\\"\\\\ä\"}", written);
    }

    private static string Write<T>(T value, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> info)
    {
        var buffer = new ArrayBufferWriter<byte>();
        ProtocolJson.Write(buffer, value, info);
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }
}
