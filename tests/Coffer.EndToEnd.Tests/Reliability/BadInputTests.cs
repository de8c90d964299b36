using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;
using Coffer.EndToEnd.Tests.Harness;

namespace Coffer.EndToEnd.Tests.Reliability;

/// <summary>
/// Reliability-matrix §4c rows J (framing, JSON) and S (SigV4) that apply to issue 2, against one shared real
/// server. Every bad request is signed correctly except for the fault under test, so the answer can only come
/// from that fault; every answer must be AWS-shaped with a Date header and x-amzn-RequestId; and the state seen
/// through the API must be the same before and after.
/// </summary>
public sealed class BadInputTests(SharedServerFixture fixture, ITestOutputHelper output) : IClassFixture<SharedServerFixture>
{
    private SecretsClient Client => fixture.Client;

    private static byte[] Utf8(string s) => Encoding.UTF8.GetBytes(s);

    private static string PutBody(string value) =>
        $"{{\"SecretId\":\"{SharedServerFixture.Alpha}\",\"ClientRequestToken\":\"{Guid.NewGuid()}\",\"SecretString\":\"{value}\"}}";

    // ---- J: framing and JSON ----

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("secretsmanager.NoSuchAction")]
    [InlineData("secretsmanager.getsecretvalue")]
    [InlineData("kms.Decrypt")]
    [InlineData("secretsmanager.")]
    public async Task Missing_or_unknown_target_is_UnknownOperationException(string? target)
    {
        string before = await fixture.StateDigestAsync();
        var body = Utf8($"{{\"SecretId\":\"{SharedServerFixture.Alpha}\",\"ForceDeleteWithoutRecovery\":true}}");
        var response = await Client.SendAsync(Client.BuildSigned(target, body), "target:" + target);
        AssertAwsError(response, "UnknownOperationException", 400);
        Assert.Equal(before, await fixture.StateDigestAsync());
    }

    [Theory]
    [InlineData("GET", "/")]
    [InlineData("PUT", "/")]
    [InlineData("DELETE", "/")]
    [InlineData("PATCH", "/")]
    [InlineData("POST", "/foo")]
    [InlineData("POST", "/..%2f")]
    [InlineData("POST", "//")]
    [InlineData("GET", "/..%2f")]
    [InlineData("GET", "/index.html")]
    public async Task Other_methods_and_paths_are_AWS_shaped_errors(string method, string path)
    {
        string before = await fixture.StateDigestAsync();
        // Signed for GetSecretValue at "/": only the method or the path is wrong.
        var request = Client.BuildSigned("secretsmanager.GetSecretValue", Utf8($"{{\"SecretId\":\"{SharedServerFixture.Alpha}\"}}"));
        request.Method = new HttpMethod(method);
        request.RequestUri = new Uri(Client.Endpoint.GetLeftPart(UriPartial.Authority) + path);
        if (method == "GET")
        {
            request.Content = null;
        }

        var response = await Client.SendAsync(request, $"{method} {path}");
        output.WriteLine($"{method} {path} → {response.Status} {response.ErrorType}");
        Assert.NotEqual(200, response.Status);
        Assert.InRange(response.Status, 400, 499);
        Assert.False(ResponseJournal.BodyMayHoldValue(response));
        Assert.DoesNotContain("alpha-value", response.BodyText, StringComparison.Ordinal);
        AssertAwsShaped(response);
        Assert.Equal(before, await fixture.StateDigestAsync());
    }

    public static TheoryData<string, byte[]> UnparsableBodies()
    {
        string id = SharedServerFixture.Alpha;
        string nested = new string('[', 100) + new string(']', 100);
        return new TheoryData<string, byte[]>
        {
            { "not JSON", Utf8("this is not json") },
            { "truncated", Utf8($"{{\"SecretId\":\"{id}\",\"SecretString\":\"x") },
            { "trailing garbage", Utf8($"{{\"SecretId\":\"{id}\",\"SecretString\":\"x\"}} garbage") },
            { "invalid UTF-8", [.. Utf8($"{{\"SecretId\":\"{id}\",\"SecretString\":\""), 0xC3, 0x28, 0xFF, .. Utf8("\"}")] },
            { "BOM prefixed", [0xEF, 0xBB, 0xBF, .. Utf8($"{{\"SecretId\":\"{id}\",\"SecretString\":\"x\"}}")] },
            { "UTF-16", Encoding.Unicode.GetBytes($"{{\"SecretId\":\"{id}\",\"SecretString\":\"x\"}}") },
            { "NaN", Utf8($"{{\"SecretId\":\"{id}\",\"SecretString\":\"x\",\"VersionStages\":NaN}}") },
            { "lone surrogate", Utf8($"{{\"SecretId\":\"{id}\",\"SecretString\":\"\\ud800\"}}") },
            { "duplicate keys", Utf8($"{{\"SecretId\":\"{id}\",\"SecretString\":\"a\",\"SecretString\":\"b\"}}") },
            { "duplicate SecretId", Utf8($"{{\"SecretId\":\"{SharedServerFixture.Beta}\",\"SecretId\":\"{id}\",\"SecretString\":\"b\"}}") },
            { "array at top", Utf8("[]") },
            { "nesting 100 deep", Utf8($"{{\"SecretId\":\"{id}\",\"SecretString\":\"x\",\"Extra\":{nested}}}") },
        };
    }

    [Theory]
    [MemberData(nameof(UnparsableBodies))]
    public async Task Unparsable_body_is_SerializationException(string name, byte[] body)
    {
        string before = await fixture.StateDigestAsync();
        var response = await Client.SendAsync(Client.BuildSigned("secretsmanager.PutSecretValue", body), "PutSecretValue");
        output.WriteLine($"{name} → {response.Status} {response.ErrorType}: {response.Message}");
        if (name.StartsWith("nesting", StringComparison.Ordinal))
        {
            AssertAwsError(response, ["SerializationException", "ValidationException"], 400);
        }
        else
        {
            AssertAwsError(response, "SerializationException", 400);
        }

        Assert.Equal(before, await fixture.StateDigestAsync());
    }

    [Fact]
    public async Task Body_over_256KiB_is_rejected()
    {
        string before = await fixture.StateDigestAsync();
        var body = Utf8(PutBody(new string('x', 257 * 1024)));
        ApiResponse response;
        try
        {
            response = await Client.SendAsync(Client.BuildSigned("secretsmanager.PutSecretValue", body), "PutSecretValue");
        }
        catch (HttpRequestException e)
        {
            Assert.Fail($"The server cut the connection instead of answering 413 or 400: {e.Message}");
            return;
        }

        output.WriteLine($"257 KiB → {response.Status} {response.ErrorType}: {response.Message}");
        Assert.True(response.Status is 413 or 400, $"expected 413 or 400, got {response.Describe()}");
        if (response.Status == 400)
        {
            AssertAwsError(response, "ValidationException", 400);
        }
        else
        {
            AssertErrorHeaders(response);
        }

        Assert.Equal(before, await fixture.StateDigestAsync());
    }

    // ---- S: SigV4 ----

    [Fact]
    public async Task Missing_Authorization_is_MissingAuthenticationTokenException()
    {
        string before = await fixture.StateDigestAsync();
        var request = Client.BuildSigned("secretsmanager.PutSecretValue", Utf8(PutBody("unsigned")));
        request.Headers.Remove("Authorization");
        var response = await Client.SendAsync(request, "PutSecretValue");
        AssertAwsError(response, "MissingAuthenticationTokenException", 400, 403);
        Assert.Equal(before, await fixture.StateDigestAsync());
    }

    [Fact]
    public async Task Unknown_access_key_is_UnrecognizedClientException()
    {
        string before = await fixture.StateDigestAsync();
        var stranger = new SigV4Signer("AKIAUNKNOWNE2E00000", fixture.Server.SecretAccessKey, fixture.Server.Region);
        var response = await Client.SendAsync(
            Client.BuildSigned("secretsmanager.PutSecretValue", Utf8(PutBody("stranger")), signer: stranger), "PutSecretValue");
        AssertAwsError(response, "UnrecognizedClientException", 400, 403);
        Assert.Equal(before, await fixture.StateDigestAsync());
    }

    [Fact]
    public async Task Signature_with_one_hex_digit_changed_is_InvalidSignatureException()
    {
        string before = await fixture.StateDigestAsync();
        var request = Client.BuildSigned("secretsmanager.PutSecretValue", Utf8(PutBody("tampered")));
        string authorization = request.Headers.GetValues("Authorization").Single();
        int last = authorization.Length - 1;
        char flipped = authorization[last] == '0' ? '1' : '0';
        request.Headers.Remove("Authorization");
        request.Headers.TryAddWithoutValidation("Authorization", authorization[..last] + flipped);
        var response = await Client.SendAsync(request, "PutSecretValue");
        AssertAwsError(response, "InvalidSignatureException", 400, 403);
        Assert.Equal(before, await fixture.StateDigestAsync());
    }

    [Fact]
    public async Task Body_changed_after_signing_is_InvalidSignatureException_and_changes_nothing()
    {
        string before = await fixture.StateDigestAsync();
        string token = Guid.NewGuid().ToString();
        string Body(string value) =>
            $"{{\"SecretId\":\"{SharedServerFixture.Alpha}\",\"ClientRequestToken\":\"{token}\",\"SecretString\":\"{value}\"}}";
        var request = Client.BuildSigned("secretsmanager.PutSecretValue", Utf8(Body("signed-value")));
        var tampered = Utf8(Body("evil!-value!"));
        Assert.Equal(Utf8(Body("signed-value")).Length, tampered.Length);
        var contentType = request.Content!.Headers.ContentType;
        request.Content = new ByteArrayContent(tampered);
        request.Content.Headers.ContentType = contentType;
        var response = await Client.SendAsync(request, "PutSecretValue");
        AssertAwsError(response, "InvalidSignatureException", 400, 403);
        Assert.Equal(before, await fixture.StateDigestAsync());
    }

    [Fact]
    public async Task Target_changed_after_signing_is_InvalidSignatureException_and_deletes_nothing()
    {
        string before = await fixture.StateDigestAsync();
        var body = Utf8($"{{\"SecretId\":\"{SharedServerFixture.Alpha}\",\"ForceDeleteWithoutRecovery\":true}}");
        var request = Client.BuildSigned("secretsmanager.GetSecretValue", body);
        request.Headers.Remove("X-Amz-Target");
        request.Headers.TryAddWithoutValidation("X-Amz-Target", "secretsmanager.DeleteSecret");
        var response = await Client.SendAsync(request, "DeleteSecret");
        AssertAwsError(response, "InvalidSignatureException", 400, 403);
        Assert.Equal(before, await fixture.StateDigestAsync());
    }

    [Theory]
    [InlineData("no SignedHeaders")]
    [InlineData("no Signature")]
    [InlineData("no Credential")]
    [InlineData("AWS4-HMAC-SHA1")]
    [InlineData("x-amz-target not signed")]
    public async Task Malformed_Authorization_is_IncompleteSignatureException(string fault)
    {
        string before = await fixture.StateDigestAsync();
        var body = Utf8(PutBody("incomplete"));
        var request = Client.BuildSigned("secretsmanager.PutSecretValue", body);
        string auth = request.Headers.GetValues("Authorization").Single();
        if (fault == "x-amz-target not signed")
        {
            // Signed without X-Amz-Target, which is then added: the signature is valid for what it covers.
            request = Client.BuildSigned(null, body);
            request.Headers.TryAddWithoutValidation("X-Amz-Target", "secretsmanager.PutSecretValue");
            auth = request.Headers.GetValues("Authorization").Single();
        }
        else
        {
            auth = fault switch
            {
                "no SignedHeaders" => System.Text.RegularExpressions.Regex.Replace(auth, @"SignedHeaders=[^,]*, ", ""),
                "no Signature" => System.Text.RegularExpressions.Regex.Replace(auth, @", Signature=[0-9a-f]*", ""),
                "no Credential" => System.Text.RegularExpressions.Regex.Replace(auth, @"Credential=[^,]*, ", ""),
                _ => auth.Replace("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA1", StringComparison.Ordinal),
            };
        }

        request.Headers.Remove("Authorization");
        request.Headers.TryAddWithoutValidation("Authorization", auth);
        var response = await Client.SendAsync(request, "PutSecretValue");
        output.WriteLine($"{fault} → {response.Status} {response.ErrorType}: {response.Message}");
        AssertAwsError(response, "IncompleteSignatureException", 400, 403);
        Assert.Equal(before, await fixture.StateDigestAsync());
    }

    [Theory]
    [InlineData("s3", "aws4_request")]
    [InlineData("secretsmanager", "aws5_request")]
    public async Task Wrong_credential_scope_is_InvalidSignatureException(string service, string terminator)
    {
        string before = await fixture.StateDigestAsync();
        var signer = new SigV4Signer(fixture.Server.AccessKeyId, fixture.Server.SecretAccessKey, fixture.Server.Region, service);
        var request = Client.BuildSigned("secretsmanager.PutSecretValue", Utf8(PutBody("scope")), signer: signer);
        if (terminator != "aws4_request")
        {
            string auth = request.Headers.GetValues("Authorization").Single().Replace("/aws4_request", "/" + terminator, StringComparison.Ordinal);
            request.Headers.Remove("Authorization");
            request.Headers.TryAddWithoutValidation("Authorization", auth);
        }

        var response = await Client.SendAsync(request, "PutSecretValue");
        output.WriteLine($"{service}/{terminator} → {response.Status} {response.ErrorType}: {response.Message}");
        AssertAwsError(response, ["InvalidSignatureException", "IncompleteSignatureException"], 400, 403);
        Assert.Equal(before, await fixture.StateDigestAsync());
    }

    [Theory]
    [InlineData("2025-01-01T12:00:00Z")]
    [InlineData("garbage")]
    [InlineData(null)]
    public async Task Malformed_or_missing_X_Amz_Date_is_rejected(string? date)
    {
        string before = await fixture.StateDigestAsync();
        var request = Client.BuildSigned("secretsmanager.PutSecretValue", Utf8(PutBody("date")));
        request.Headers.Remove("X-Amz-Date");
        if (date is null)
        {
            request.Headers.Date = DateTimeOffset.UtcNow; // only a Date header
        }
        else
        {
            request.Headers.TryAddWithoutValidation("X-Amz-Date", date);
        }

        var response = await Client.SendAsync(request, "PutSecretValue");
        output.WriteLine($"X-Amz-Date {date ?? "(only Date)"} → {response.Status} {response.ErrorType}: {response.Message}");
        Assert.InRange(response.Status, 400, 403);
        AssertAwsShaped(response);
        Assert.Equal(before, await fixture.StateDigestAsync());
    }

    [Fact]
    public async Task Replaying_a_signed_PutSecretValue_inside_the_window_creates_nothing_new()
    {
        string token = Guid.NewGuid().ToString();
        var body = Utf8($"{{\"SecretId\":\"{SharedServerFixture.Beta}\",\"ClientRequestToken\":\"{token}\",\"SecretString\":\"replayed\"}}");
        var time = DateTimeOffset.UtcNow;
        var first = await Client.SendAsync(Client.BuildSigned("secretsmanager.PutSecretValue", body, time), "PutSecretValue");
        Assert.True(first.IsSuccess, first.Describe());
        string afterFirst = await fixture.StateDigestAsync();
        // The identical bytes again: same X-Amz-Date, same signature.
        var second = await Client.SendAsync(Client.BuildSigned("secretsmanager.PutSecretValue", body, time), "PutSecretValue");
        Assert.True(second.IsSuccess, second.Describe());
        Assert.Equal(token, first.Str("VersionId"));
        Assert.Equal(token, second.Str("VersionId"));
        Assert.Equal(afterFirst, await fixture.StateDigestAsync());
    }

    [Theory]
    [InlineData(31, false)]
    [InlineData(32, true)]
    [InlineData(64, true)]
    [InlineData(65, false)]
    public async Task ClientRequestToken_length_boundaries(int length, bool accepted)
    {
        string before = await fixture.StateDigestAsync();
        string token = string.Concat(Enumerable.Repeat(Guid.NewGuid().ToString("N"), 3))[..length];
        var response = await Client.CallAsync("PutSecretValue", SecretsClient.Obj(
            ("SecretId", SharedServerFixture.Beta), ("ClientRequestToken", token), ("SecretString", "boundary")));
        output.WriteLine($"token of {length} → {response.Describe()}");
        if (accepted)
        {
            Assert.True(response.IsSuccess, response.Describe());
            Assert.Equal(token, response.Str("VersionId"));
        }
        else
        {
            AssertAwsError(response, ["ValidationException", "InvalidParameterException"], 400);
            Assert.Equal(before, await fixture.StateDigestAsync());
        }
    }

    [Theory]
    [InlineData(-299)]
    [InlineData(299)]
    public async Task Clock_skew_inside_five_minutes_is_accepted(int seconds)
    {
        var response = await SendSkewedAsync(seconds);
        Assert.True(response.IsSuccess, $"X-Amz-Date {seconds:+#;-#}s: {response.Describe()}");
    }

    [Theory]
    [InlineData(-301, "expired")]
    [InlineData(301, "not yet current")]
    public async Task Clock_skew_beyond_five_minutes_is_InvalidSignatureException(int seconds, string hint)
    {
        string before = await fixture.StateDigestAsync();
        var response = await SendSkewedAsync(seconds);
        output.WriteLine($"{seconds:+#;-#}s → {response.Status} {response.ErrorType}: {response.Message}");
        AssertAwsError(response, "InvalidSignatureException", 400, 403);
        if (response.Message?.Contains(hint, StringComparison.OrdinalIgnoreCase) != true)
        {
            output.WriteLine($"note: message does not say '{hint}' (reliability-matrix §4c S)");
        }

        Assert.Equal(before, await fixture.StateDigestAsync());
    }

    /// <summary>
    /// Signs ListSecrets with X-Amz-Date = now + <paramref name="seconds"/>, right after a second boundary, so the
    /// skew the server sees is within a second of the intended one. A round trip slower than 600 ms could cross
    /// the boundary being tested, so such attempts are repeated rather than judged.
    /// </summary>
    private async Task<ApiResponse> SendSkewedAsync(int seconds)
    {
        for (int attempt = 1; ; attempt++)
        {
            var now = DateTimeOffset.UtcNow;
            long toNextSecond = TimeSpan.TicksPerSecond - (now.UtcTicks % TimeSpan.TicksPerSecond);
            await Task.Delay(TimeSpan.FromTicks(toNextSecond) + TimeSpan.FromMilliseconds(10));
            var aligned = DateTimeOffset.UtcNow;
            aligned = new DateTimeOffset(aligned.UtcTicks - (aligned.UtcTicks % TimeSpan.TicksPerSecond), TimeSpan.Zero);
            var watch = Stopwatch.StartNew();
            var response = await Client.SendAsync(
                Client.BuildSigned("secretsmanager.ListSecrets", Utf8("{}"), aligned.AddSeconds(seconds)), "ListSecrets");
            if (watch.ElapsedMilliseconds < 600 || attempt >= 8)
            {
                return response;
            }

            output.WriteLine($"attempt {attempt}: round trip {watch.ElapsedMilliseconds} ms, repeating");
        }
    }

    // ---- shared assertions ----

    private static void AssertAwsError(ApiResponse response, string type, params int[] statuses) =>
        AssertAwsError(response, [type], statuses);

    private static void AssertAwsError(ApiResponse response, string[] types, params int[] statuses)
    {
        Assert.True(statuses.Contains(response.Status) && types.Contains(response.ErrorType),
            $"expected {string.Join("/", types)} ({string.Join("/", statuses)}), got {response.Status} {response.ErrorType}: {Truncate(response.BodyText)}");
        AssertAwsShaped(response);
    }

    /// <summary>spec §1.3: a JSON body with __type and Message, the protocol content type, Date and x-amzn-RequestId.</summary>
    private static void AssertAwsShaped(ApiResponse response)
    {
        Assert.True(response.ErrorType is not null, $"no __type in the error body: {Truncate(response.BodyText)}");
        Assert.True(response.Message is not null, $"no Message in the error body: {Truncate(response.BodyText)}");
        Assert.StartsWith("application/x-amz-json-1.1", response.Header("Content-Type") ?? "(none)", StringComparison.Ordinal);
        AssertErrorHeaders(response);
    }

    private static void AssertErrorHeaders(ApiResponse response)
    {
        Assert.False(string.IsNullOrEmpty(response.Header("Date")), "error response without a Date header");
        Assert.False(string.IsNullOrEmpty(response.Header("x-amzn-RequestId")), "error response without x-amzn-RequestId");
    }

    private static string Truncate(string s) => s.Length > 300 ? s[..300] + "…" : s;
}
