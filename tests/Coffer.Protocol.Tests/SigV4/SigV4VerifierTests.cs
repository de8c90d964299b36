using System.Text;
using Coffer.Core;
using Coffer.Protocol.SigV4;
using Microsoft.AspNetCore.Http;

namespace Coffer.Protocol.Tests.SigV4;

public sealed class SigV4VerifierTests
{
    public static TheoryData<string> VectorNames() => [.. BotocoreVectors.All.Select(v => v.Name)];

    [Theory]
    [MemberData(nameof(VectorNames))]
    public void Canonical_request_equals_botocores(string name)
    {
        var vector = BotocoreVectors.Named(name);
        var http = vector.ToHttpContext();
        var signedHeaders = vector.Authorization[(vector.Authorization.IndexOf("SignedHeaders=", StringComparison.Ordinal) + 14)..];
        signedHeaders = signedHeaders[..signedHeaders.IndexOf(',')];
        var builder = new Utf8Builder(256);
        try
        {
            SigV4Verifier.WriteCanonicalRequest(ref builder, http.Request, Encoding.UTF8.GetBytes(vector.Body), signedHeaders);
            Assert.Equal(vector.CanonicalRequest, Encoding.UTF8.GetString(builder.Written));
        }
        finally { builder.Dispose(); }
    }

    [Theory]
    [MemberData(nameof(VectorNames))]
    public async Task Botocore_signatures_verify(string name)
    {
        var vector = BotocoreVectors.Named(name);
        var (verifier, _, _) = await Fixture.VerifierAsync(vector.SignedAt);
        var identity = await Verify(verifier, vector.ToHttpContext(), vector.Body);
        Assert.Equal(BotocoreVectors.AccessKeyId, identity.Key.AccessKeyId);
        Assert.Equal("secretsmanager", identity.Service);
        Assert.Equal(vector.Authorization.Split('/')[2], identity.Region);
        // The second call uses the cached signing key and must agree.
        var again = await Verify(verifier, vector.ToHttpContext(), vector.Body);
        Assert.Equal(identity.Region, again.Region);
    }

    [Theory]
    [InlineData(-(4 * 60 + 59))] // signed 4m59s before the server's now
    [InlineData(4 * 60 + 59)]    // signed 4m59s after it
    [InlineData(-300)]
    [InlineData(300)]
    public async Task Inside_the_window_is_accepted(int signedRelativeToNowSeconds)
    {
        var vector = BotocoreVectors.Named("get");
        var (verifier, _, _) = await Fixture.VerifierAsync(vector.SignedAt.AddSeconds(-signedRelativeToNowSeconds));
        await Verify(verifier, vector.ToHttpContext(), vector.Body);
    }

    [Fact]
    public async Task Signed_5m01s_ago_is_expired()
    {
        var vector = BotocoreVectors.Named("get");
        var (verifier, _, _) = await Fixture.VerifierAsync(vector.SignedAt.AddSeconds(301));
        var e = await Rejected(verifier, vector.ToHttpContext(), vector.Body);
        Assert.Equal("InvalidSignatureException", e.Code);
        Assert.Equal("Signature expired: 20250101T120000Z is now earlier than 20250101T120001Z (20250101T120501Z - 5 min.)", e.Message);
    }

    [Fact]
    public async Task Signed_5m01s_ahead_is_not_yet_current()
    {
        var vector = BotocoreVectors.Named("get");
        var (verifier, _, _) = await Fixture.VerifierAsync(vector.SignedAt.AddSeconds(-301));
        var e = await Rejected(verifier, vector.ToHttpContext(), vector.Body);
        Assert.Equal("InvalidSignatureException", e.Code);
        Assert.Equal("Signature not yet current: 20250101T120000Z is still later than 20250101T115959Z (20250101T115459Z + 5 min.)", e.Message);
    }

    public static TheoryData<string> Tamperings() => ["body", "target", "host", "date", "path", "query", "signature-digit", "signature-upper", "signature-short", "signature-long"];

    [Theory]
    [MemberData(nameof(Tamperings))]
    public async Task A_request_changed_after_signing_is_rejected(string what)
    {
        var vector = BotocoreVectors.Named("get");
        var (verifier, _, _) = await Fixture.VerifierAsync(vector.SignedAt);
        var http = vector.ToHttpContext();
        var body = vector.Body;
        var sig = vector.Authorization[^64..];
        switch (what)
        {
            case "body": body = body.Replace("prod", "dorp"); break; // same length
            case "target": http.Request.Headers["X-Amz-Target"] = "secretsmanager.DeleteSecret"; break;
            case "host": http.Request.Headers.Host = "127.0.0.1:8391"; break;
            case "date": http.Request.Headers["X-Amz-Date"] = "20250101T120001Z"; break;
            case "path": http.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpRequestFeature>()!.RawTarget = "/x"; break;
            case "query": http.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpRequestFeature>()!.RawTarget = "/?a=1"; break;
            case "signature-digit": http.Request.Headers.Authorization = vector.Authorization[..^1] + (sig[^1] == '0' ? '1' : '0'); break;
            case "signature-upper": http.Request.Headers.Authorization = vector.Authorization[..^64] + sig.ToUpperInvariant(); break;
            case "signature-short": http.Request.Headers.Authorization = vector.Authorization[..^1]; break;
            case "signature-long": http.Request.Headers.Authorization = vector.Authorization + "0"; break;
        }
        var e = await Rejected(verifier, http, body);
        Assert.Equal("InvalidSignatureException", e.Code);
        Assert.StartsWith("The request signature we calculated does not match", e.Message);
    }

    [Fact]
    public async Task No_authorization_is_missing_authentication_token()
    {
        var vector = BotocoreVectors.Named("get");
        var (verifier, _, _) = await Fixture.VerifierAsync(vector.SignedAt);
        var http = vector.ToHttpContext();
        http.Request.Headers.Remove("Authorization");
        var e = await Rejected(verifier, http, vector.Body);
        Assert.Equal("MissingAuthenticationTokenException", e.Code);
        Assert.Equal("Missing Authentication Token", e.Message);
    }

    public static TheoryData<string, string> MalformedHeaders() => new()
    {
        { "algorithm", "AWS4-HMAC-SHA1 Credential=AKIDEXAMPLE/20250101/us-east-1/secretsmanager/aws4_request, SignedHeaders=host;x-amz-date;x-amz-target, Signature=" + new string('0', 64) },
        { "no-credential", "AWS4-HMAC-SHA256 SignedHeaders=host;x-amz-date;x-amz-target, Signature=" + new string('0', 64) },
        { "no-signed-headers", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20250101/us-east-1/secretsmanager/aws4_request, Signature=" + new string('0', 64) },
        { "no-signature", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20250101/us-east-1/secretsmanager/aws4_request, SignedHeaders=host;x-amz-date;x-amz-target" },
        { "repeated", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20250101/us-east-1/secretsmanager/aws4_request, Credential=AKIDEXAMPLE/20250101/us-east-1/secretsmanager/aws4_request, SignedHeaders=host;x-amz-date;x-amz-target, Signature=" + new string('0', 64) },
        { "short-credential", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20250101/us-east-1/secretsmanager, SignedHeaders=host;x-amz-date;x-amz-target, Signature=" + new string('0', 64) },
        { "space-in-value", "AWS4-HMAC-SHA256 Credential= AKIDEXAMPLE/20250101/us-east-1/secretsmanager/aws4_request, SignedHeaders=host;x-amz-date;x-amz-target, Signature=" + new string('0', 64) },
        { "trailing-comma", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20250101/us-east-1/secretsmanager/aws4_request, SignedHeaders=host;x-amz-date;x-amz-target, Signature=" + new string('0', 64) + ", " },
        { "unknown-part", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20250101/us-east-1/secretsmanager/aws4_request, SignedHeaders=host;x-amz-date;x-amz-target, Signature=" + new string('0', 64) + ", Foo=bar" },
        { "no-host-signed", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20250101/us-east-1/secretsmanager/aws4_request, SignedHeaders=x-amz-date;x-amz-target, Signature=" + new string('0', 64) },
        { "no-date-signed", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20250101/us-east-1/secretsmanager/aws4_request, SignedHeaders=host;x-amz-target, Signature=" + new string('0', 64) },
        { "no-target-signed", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20250101/us-east-1/secretsmanager/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=" + new string('0', 64) },
        { "upper-case-signed-header", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20250101/us-east-1/secretsmanager/aws4_request, SignedHeaders=Host;x-amz-date;x-amz-target, Signature=" + new string('0', 64) },
        { "no-space", "AWS4-HMAC-SHA256" },
    };

    [Theory]
    [MemberData(nameof(MalformedHeaders))]
    public async Task A_malformed_authorization_header_is_incomplete_signature(string name, string header)
    {
        _ = name;
        var vector = BotocoreVectors.Named("get");
        var (verifier, _, _) = await Fixture.VerifierAsync(vector.SignedAt);
        var http = vector.ToHttpContext();
        http.Request.Headers.Authorization = header;
        var e = await Rejected(verifier, http, vector.Body);
        Assert.Equal("IncompleteSignatureException", e.Code);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("2025-01-01T12:00:00Z")]
    [InlineData("20250101T120000")]
    public async Task X_amz_date_is_required_in_its_own_format(string? date)
    {
        var vector = BotocoreVectors.Named("get");
        var (verifier, _, _) = await Fixture.VerifierAsync(vector.SignedAt);
        var http = vector.ToHttpContext();
        http.Request.Headers.Remove("X-Amz-Date");
        if (date is not null) http.Request.Headers["X-Amz-Date"] = date;
        http.Request.Headers.Date = "Wed, 01 Jan 2025 12:00:00 GMT";
        var e = await Rejected(verifier, http, vector.Body);
        Assert.Equal("IncompleteSignatureException", e.Code);
    }

    [Fact]
    public async Task An_unsigned_security_token_is_incomplete_and_a_signed_one_is_unknown()
    {
        var vector = BotocoreVectors.Named("get");
        var (verifier, _, _) = await Fixture.VerifierAsync(vector.SignedAt);
        var http = vector.ToHttpContext();
        http.Request.Headers["X-Amz-Security-Token"] = "token";
        Assert.Equal("IncompleteSignatureException", (await Rejected(verifier, http, vector.Body)).Code);

        http = vector.ToHttpContext();
        http.Request.Headers["X-Amz-Security-Token"] = "token";
        http.Request.Headers.Authorization = vector.Authorization.Replace("x-amz-target,", "x-amz-security-token;x-amz-target,", StringComparison.Ordinal);
        var e = await Rejected(verifier, http, vector.Body);
        Assert.Equal("UnrecognizedClientException", e.Code);
        Assert.Equal("The security token included in the request is invalid.", e.Message);
    }

    [Theory]
    [InlineData("/20250101/us-east-1/s3/aws4_request", "Credential should be scoped to correct service: 'secretsmanager'.")]
    [InlineData("/20250102/us-east-1/secretsmanager/aws4_request", "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '20250102' != '20250101', from '20250101T120000Z'.")]
    [InlineData("/20250101/us-east-1/secretsmanager/aws5_request", "Credential should be scoped with a valid terminator: 'aws4_request'.")]
    [InlineData("/20250101/US_EAST/secretsmanager/aws4_request", "Credential should be scoped to a valid region.")]
    public async Task A_wrong_credential_scope_is_invalid_signature(string scope, string message)
    {
        var vector = BotocoreVectors.Named("get");
        var (verifier, _, _) = await Fixture.VerifierAsync(vector.SignedAt);
        var http = vector.ToHttpContext();
        http.Request.Headers.Authorization = vector.Authorization.Replace("/20250101/us-east-1/secretsmanager/aws4_request", scope, StringComparison.Ordinal);
        var e = await Rejected(verifier, http, vector.Body);
        Assert.Equal("InvalidSignatureException", e.Code);
        Assert.Equal(message, e.Message);
    }

    [Fact]
    public async Task An_unknown_access_key_is_unrecognized_client()
    {
        var vector = BotocoreVectors.Named("get");
        var (verifier, _, _) = await Fixture.VerifierAsync(vector.SignedAt);
        var http = vector.ToHttpContext();
        http.Request.Headers.Authorization = vector.Authorization.Replace("AKIDEXAMPLE", "AKIDUNKNOWN", StringComparison.Ordinal);
        var e = await Rejected(verifier, http, vector.Body);
        Assert.Equal("UnrecognizedClientException", e.Code);
    }

    private static ValueTask<SigV4Identity> Verify(SigV4Verifier verifier, HttpContext http, string body) =>
        verifier.VerifyAsync(http.Request, Encoding.UTF8.GetBytes(body), "secretsmanager", default);

    private static async Task<ServiceException> Rejected(SigV4Verifier verifier, HttpContext http, string body) =>
        await Assert.ThrowsAsync<ServiceException>(async () => await Verify(verifier, http, body));
}
