namespace Coffer.Agent.Tests;

/// <summary>Expected Authorization headers were produced by botocore 1.43 (SigV4Auth) on the same inputs.</summary>
public sealed class SigV4SignerTests
{
    private static readonly DateTimeOffset At = new(2025, 1, 2, 3, 4, 5, TimeSpan.Zero);
    private const string SecretKey = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

    private static SortedDictionary<string, string> JsonHeaders() => new(StringComparer.Ordinal)
    {
        ["content-type"] = "application/x-amz-json-1.1",
        ["x-amz-target"] = "secretsmanager.GetSecretValue",
    };

    [Fact]
    public void GetSecretValue_post_matches_botocore()
    {
        var signer = new SigV4Signer(new AwsCredentials("AKIDEXAMPLE", SecretKey, null, "test"), "eu-west-1", "secretsmanager");
        var headers = JsonHeaders();
        signer.Sign("POST", "127.0.0.1:8390", "/", [], headers, """{"SecretId":"app/db pass+1"}"""u8, At);
        Assert.Equal("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20250102/eu-west-1/secretsmanager/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=5b88928ad87e72d0c75e2a8a44d83b9fb63026dc2336eecf504db95fd0068d20",
            headers["authorization"]);
        Assert.Equal("20250102T030405Z", headers["x-amz-date"]);
    }

    [Fact]
    public void Change_feed_get_with_query_matches_botocore()
    {
        var signer = new SigV4Signer(new AwsCredentials("AKIDEXAMPLE", SecretKey, null, "test"), "eu-west-1", "secretsmanager");
        var headers = new SortedDictionary<string, string>(StringComparer.Ordinal);
        signer.Sign("GET", "localhost:8390", "/coffer/changes", [new("after", "42"), new("epoch", "0f1e2d"), new("wait", "20")], headers, [], At);
        Assert.Equal("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20250102/eu-west-1/secretsmanager/aws4_request, SignedHeaders=host;x-amz-date, Signature=36162de578a998066461c39ebdd06a1d638f355e8acc1488cda9118915d0130a",
            headers["authorization"]);
    }

    [Fact]
    public void A_session_token_is_signed_too()
    {
        var signer = new SigV4Signer(new AwsCredentials("AKIDEXAMPLE", SecretKey, "SESSIONTOKEN", "test"), "eu-west-1", "secretsmanager");
        var headers = JsonHeaders();
        signer.Sign("POST", "127.0.0.1:8390", "/", [], headers, """{"SecretId":"s"}"""u8, At);
        Assert.Equal("SESSIONTOKEN", headers["x-amz-security-token"]);
        Assert.Equal("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20250102/eu-west-1/secretsmanager/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target, Signature=a287152a3d4f82886e23200da63c8691cb45f2c846b0666e2390219dbe7367b3",
            headers["authorization"]);
    }
}
