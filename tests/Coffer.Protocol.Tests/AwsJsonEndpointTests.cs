using System.Text;
using System.Text.Json;
using Coffer.Core.Secrets;
using Coffer.Crypto;
using Coffer.Protocol.Tests.SigV4;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Coffer.Protocol.Tests;

public sealed class AwsJsonEndpointTests
{
    private static async Task<(AwsJsonEndpoint Endpoint, CapturingLogger Log)> EndpointAsync(DateTimeOffset now, string basePath = "/")
    {
        var (verifier, clock, _) = await Fixture.VerifierAsync(now);
        var secrets = new SecretService(new BrokenSecretStore(), new EnvelopeCipher(MasterKey.Generate()), "123456789012", clock, new SecretsOptions());
        var log = new CapturingLogger();
        return (new AwsJsonEndpoint(secrets, verifier, clock, log, basePath), log);
    }

    private static async Task<(int Status, JsonElement? Body, IHeaderDictionary Headers, string Text)> Send(AwsJsonEndpoint endpoint, HttpContext http)
    {
        await endpoint.HandleAsync(http);
        http.Response.Body.Position = 0;
        var text = await new StreamReader(http.Response.Body).ReadToEndAsync();
        return (http.Response.StatusCode, text.Length == 0 ? null : JsonDocument.Parse(text).RootElement, http.Response.Headers, text);
    }

    [Fact]
    public async Task A_signed_request_reaches_the_service_and_answers_json()
    {
        var vector = BotocoreVectors.Named("password");
        var (endpoint, _) = await EndpointAsync(vector.SignedAt);
        var http = vector.ToHttpContext();
        var (status, body, headers, _) = await Send(endpoint, http);
        Assert.Equal(200, status);
        Assert.Equal("application/x-amz-json-1.1", http.Response.ContentType);
        Assert.Equal(16, body!.Value.GetProperty("RandomPassword").GetString()!.Length);
        Assert.True(Guid.TryParse(headers["x-amzn-RequestId"], out _));
    }

    [Fact]
    public async Task Duplicate_keys_in_a_signed_body_are_a_serialization_exception()
    {
        var vector = BotocoreVectors.Named("duplicate_keys");
        var (endpoint, _) = await EndpointAsync(vector.SignedAt);
        var (status, body, headers, _) = await Send(endpoint, vector.ToHttpContext());
        Assert.Equal(400, status);
        Assert.Equal("SerializationException", body!.Value.GetProperty("__type").GetString());
        Assert.False(string.IsNullOrEmpty(headers.Date));
    }

    [Fact]
    public async Task Errors_have_type_message_request_id_and_date()
    {
        var vector = BotocoreVectors.Named("get");
        var (endpoint, _) = await EndpointAsync(vector.SignedAt);
        var http = vector.ToHttpContext();
        http.Request.Headers["X-Amz-Target"] = "kms.Decrypt";
        var (status, body, headers, text) = await Send(endpoint, http);
        Assert.Equal(400, status);
        Assert.Equal("UnknownOperationException", body!.Value.GetProperty("__type").GetString());
        Assert.True(body.Value.TryGetProperty("Message", out _));
        Assert.Equal(2, body.Value.EnumerateObject().Count());
        Assert.True(Guid.TryParse(headers["x-amzn-RequestId"], out _));
        Assert.True(DateTimeOffset.TryParse(headers.Date, out _));
        Assert.Equal("application/x-amz-json-1.1", http.Response.ContentType);
        Assert.Equal(Encoding.UTF8.GetByteCount(text), http.Response.ContentLength);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("secretsmanager.getsecretvalue")]
    [InlineData("secretsmanager.")]
    [InlineData("SecretsManager.GetSecretValue")]
    public async Task Missing_or_unknown_targets_are_unknown_operation(string? target)
    {
        var vector = BotocoreVectors.Named("get");
        var (endpoint, _) = await EndpointAsync(vector.SignedAt);
        var http = vector.ToHttpContext();
        if (target is null) http.Request.Headers.Remove("X-Amz-Target");
        else http.Request.Headers["X-Amz-Target"] = target;
        var (status, body, _, _) = await Send(endpoint, http);
        Assert.Equal(400, status);
        Assert.Equal("UnknownOperationException", body!.Value.GetProperty("__type").GetString());
    }

    [Theory]
    [InlineData("GET", "/")]
    [InlineData("POST", "/x")]
    [InlineData("POST", "//")]
    [InlineData("POST", "/..%2f")]
    [InlineData("POST", "/index.html")]
    public async Task Only_post_to_the_base_path_is_served(string method, string rawTarget)
    {
        var vector = BotocoreVectors.Named("get");
        var (endpoint, _) = await EndpointAsync(vector.SignedAt);
        var http = vector.ToHttpContext();
        http.Request.Method = method;
        http.Features.Get<IHttpRequestFeature>()!.RawTarget = rawTarget;
        var (status, body, _, _) = await Send(endpoint, http);
        Assert.Equal(400, status);
        Assert.Equal("UnknownOperationException", body!.Value.GetProperty("__type").GetString());
    }

    [Fact]
    public async Task A_base_path_is_the_root()
    {
        var vector = BotocoreVectors.Named("base_path");
        var (endpoint, _) = await EndpointAsync(vector.SignedAt, "/coffer");
        var (status, body, _, _) = await Send(endpoint, vector.ToHttpContext());
        // DescribeSecret reaches the (broken) store: authenticated, dispatched, and failed inside.
        Assert.Equal(500, status);
        Assert.Equal("InternalServiceError", body!.Value.GetProperty("__type").GetString());
    }

    [Fact]
    public async Task Operations_without_output_answer_an_empty_body()
    {
        // TagResource fails in the broken store, so check the table row instead: it writes nothing on success.
        Assert.True(SecretsManagerOperations.ByTarget.ContainsKey("secretsmanager.TagResource"));
        var vector = BotocoreVectors.Named("tag");
        var (endpoint, _) = await EndpointAsync(vector.SignedAt);
        var (status, _, _, _) = await Send(endpoint, vector.ToHttpContext());
        Assert.Equal(500, status);
    }

    [Fact]
    public async Task An_unexpected_exception_is_a_bare_internal_service_error_and_logs_only_its_type()
    {
        var vector = BotocoreVectors.Named("get");
        var (endpoint, log) = await EndpointAsync(vector.SignedAt);
        var (status, body, _, text) = await Send(endpoint, vector.ToHttpContext());
        Assert.Equal(500, status);
        Assert.Equal("InternalServiceError", body!.Value.GetProperty("__type").GetString());
        Assert.Equal("An internal error occurred.", body.Value.GetProperty("Message").GetString());
        Assert.DoesNotContain("CANARY", text, StringComparison.Ordinal);
        Assert.Contains(log.Lines, l => l.Contains("System.InvalidOperationException", StringComparison.Ordinal));
        Assert.DoesNotContain(log.Lines, l => l.Contains("CANARY", StringComparison.Ordinal) || l.Contains("prod/app/db", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("secretsmanager.RotateSecret")]
    [InlineData("secretsmanager.CancelRotateSecret")]
    [InlineData("secretsmanager.ReplicateSecretToRegions")]
    [InlineData("secretsmanager.RemoveRegionsFromReplication")]
    [InlineData("secretsmanager.StopReplicationToReplica")]
    public void Later_actions_are_in_the_table(string target) =>
        Assert.True(SecretsManagerOperations.ByTarget.ContainsKey(target));

    [Fact]
    public void The_table_holds_every_action_of_the_api()
    {
        Assert.Equal(23, SecretsManagerOperations.ByTarget.Count);
        Assert.All(SecretsManagerOperations.ByTarget.Values, o => Assert.Equal("secretsmanager", o.SigningName));
    }

    [Fact]
    public async Task An_oversize_body_is_refused_before_reading_it()
    {
        var vector = BotocoreVectors.Named("get");
        var (endpoint, _) = await EndpointAsync(vector.SignedAt);
        var http = vector.ToHttpContext();
        http.Request.ContentLength = AwsJsonEndpoint.MaxBodyBytes + 1;
        var neverRead = new ThrowingStream();
        http.Request.Body = neverRead;
        var (status, body, _, _) = await Send(endpoint, http);
        Assert.Equal(400, status);
        Assert.Equal("ValidationException", body!.Value.GetProperty("__type").GetString());
    }

    [Fact]
    public async Task An_oversize_body_without_length_is_refused_while_reading()
    {
        var vector = BotocoreVectors.Named("get");
        var (endpoint, _) = await EndpointAsync(vector.SignedAt);
        var http = vector.ToHttpContext();
        http.Request.ContentLength = null;
        http.Request.Body = new MemoryStream(new byte[AwsJsonEndpoint.MaxBodyBytes + 1]);
        var (status, body, _, _) = await Send(endpoint, http);
        Assert.Equal(400, status);
        Assert.Equal("ValidationException", body!.Value.GetProperty("__type").GetString());
    }

    [Fact]
    public async Task A_body_of_exactly_the_limit_is_read()
    {
        var vector = BotocoreVectors.Named("get");
        var (endpoint, _) = await EndpointAsync(vector.SignedAt);
        var http = vector.ToHttpContext();
        var body = new byte[AwsJsonEndpoint.MaxBodyBytes];
        http.Request.ContentLength = body.Length;
        http.Request.Body = new MemoryStream(body);
        var (status, json, _, _) = await Send(endpoint, http);
        // Read in full, then refused by the signature (the vector signed another body).
        Assert.Equal(400, status);
        Assert.Equal("InvalidSignatureException", json!.Value.GetProperty("__type").GetString());
    }

    [Fact]
    public void Status_codes_follow_spec_section_1_3()
    {
        Assert.Equal(500, AwsErrorResponse.StatusFor("InternalServiceError"));
        Assert.Equal(403, AwsErrorResponse.StatusFor("MissingAuthenticationTokenException"));
        Assert.Equal(403, AwsErrorResponse.StatusFor("InvalidClientTokenId"));
        Assert.Equal(503, AwsErrorResponse.StatusFor("ServiceUnavailable"));
        foreach (var code in (string[])["ResourceNotFoundException", "InvalidParameterException", "InvalidRequestException", "ResourceExistsException",
                     "LimitExceededException", "AccessDeniedException", "ValidationException", "UnrecognizedClientException", "InvalidSignatureException",
                     "IncompleteSignatureException", "SerializationException", "UnknownOperationException", "DecryptionFailure"])
            Assert.Equal(400, AwsErrorResponse.StatusFor(code));
    }

    [Fact]
    public void Error_bodies_escape_the_message()
    {
        var body = Encoding.UTF8.GetString(AwsErrorResponse.Body("X", "a \"quoted\" \\ message"));
        Assert.Equal("{\"__type\":\"X\",\"Message\":\"a \\\"quoted\\\" \\\\ message\"}", body);
    }

    private sealed class ThrowingStream : Stream
    {
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => 0; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => throw new InvalidOperationException("the body was read");
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => throw new InvalidOperationException("the body was read");
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}

/// <summary>Keeps formatted log lines (with scopes) so tests can check what reached the log.</summary>
internal sealed class CapturingLogger : ILogger<AwsJsonEndpoint>
{
    public List<string> Lines { get; } = [];
    public IDisposable? BeginScope<TState>(TState state) where TState : notnull
    {
        lock (Lines) Lines.Add("scope " + state);
        return null;
    }
    public bool IsEnabled(LogLevel logLevel) => true;
    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        lock (Lines) Lines.Add(formatter(state, exception) + (exception is null ? "" : " " + exception));
    }
}
