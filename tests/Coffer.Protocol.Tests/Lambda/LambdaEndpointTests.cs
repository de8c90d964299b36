using System.Net;
using System.Text;
using System.Text.Json;
using Coffer.Core.Functions;
using Coffer.Crypto;
using Coffer.Protocol.Lambda;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging.Abstractions;

namespace Coffer.Protocol.Tests.Lambda;

/// <summary>
/// The Lambda edge's routing and its guards (REST-JSON errors, SigV4 scope, body limits, code links). Signed calls
/// through to the service run end to end in tests/clients/python/test_lambda_api.py with the AWS CLI and boto3.
/// </summary>
public sealed class LambdaEndpointTests
{
    private static readonly DateTimeOffset Now = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);

    private static async Task<LambdaEndpoint> EndpointAsync(string basePath = "/")
    {
        var (verifier, clock, _) = await Fixture.VerifierAsync(Now);
        var functions = new FunctionService(new EmptyFunctionStore(), new EnvelopeCipher(MasterKey.Generate()), "123456789012", "us-east-1", clock);
        return new LambdaEndpoint(functions, verifier, clock, NullLogger<LambdaEndpoint>.Instance, basePath: basePath);
    }

    private static DefaultHttpContext Request(string method, string rawTarget, byte[]? body = null, string? authorization = null, long? contentLength = null)
    {
        var http = new DefaultHttpContext();
        var request = http.Request;
        request.Method = method;
        var q = rawTarget.IndexOf('?', StringComparison.Ordinal);
        request.Path = q < 0 ? rawTarget : rawTarget[..q];
        if (q >= 0) request.QueryString = new QueryString(rawTarget[q..]);
        http.Features.Get<IHttpRequestFeature>()!.RawTarget = rawTarget;
        request.Headers.Host = "127.0.0.1:4566";
        body ??= [];
        request.ContentLength = contentLength ?? body.Length;
        request.Body = new MemoryStream(body);
        if (authorization is not null)
        {
            request.Headers.Authorization = authorization;
            request.Headers["X-Amz-Date"] = Now.UtcDateTime.ToString("yyyyMMdd'T'HHmmss'Z'", System.Globalization.CultureInfo.InvariantCulture);
        }
        http.Connection.RemoteIpAddress = IPAddress.Loopback;
        http.Response.Body = new MemoryStream();
        return http;
    }

    private static async Task<(int Status, string? ErrorType, JsonElement Body)> Send(LambdaEndpoint endpoint, HttpContext http)
    {
        await endpoint.HandleAsync(http);
        http.Response.Body.Position = 0;
        var text = await new StreamReader(http.Response.Body).ReadToEndAsync();
        var type = http.Response.Headers["x-amzn-ErrorType"].ToString();
        return (http.Response.StatusCode, type.Length == 0 ? null : type, JsonDocument.Parse(text.Length == 0 ? "{}" : text).RootElement.Clone());
    }

    [Theory]
    [InlineData("GET", "", "ListFunctions", null)]
    [InlineData("GET", "/", "ListFunctions", null)]
    [InlineData("POST", "/", "CreateFunction", null)]
    [InlineData("GET", "/f1", "GetFunction", "f1")]
    [InlineData("DELETE", "/f1", "DeleteFunction", "f1")]
    [InlineData("GET", "/f1/configuration", "GetFunctionConfiguration", "f1")]
    [InlineData("PUT", "/f1/configuration", "UpdateFunctionConfiguration", "f1")]
    [InlineData("PUT", "/f1/code", "UpdateFunctionCode", "f1")]
    [InlineData("POST", "/f1/invocations", "Invoke", "f1")]
    [InlineData("POST", "/f1/policy", "AddPermission", "f1")]
    [InlineData("GET", "/f1/policy", "GetPolicy", "f1")]
    [InlineData("DELETE", "/f1/policy/sid-1", "RemovePermission", "f1")]
    [InlineData("GET", "/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Af1", "GetFunction", "arn:aws:lambda:us-east-1:123456789012:function:f1")]
    public void Routes_follow_the_lambda_rest_bindings(string method, string rest, string action, string? name)
    {
        var route = LambdaRoute.Match(method, rest);
        Assert.NotNull(route);
        Assert.Equal((action, name), (route.Action, route.FunctionName));
        if (action == "RemovePermission") Assert.Equal("sid-1", route.StatementId);
    }

    [Theory]
    [InlineData("PUT", "/")]
    [InlineData("POST", "/f1")]
    [InlineData("GET", "/f1/invocations")]
    [InlineData("GET", "/f1/unknown")]
    [InlineData("GET", "//f1")]
    [InlineData("DELETE", "/f1/policy/a/b")]
    [InlineData("GET", "x")]
    public void Other_paths_have_no_route(string method, string rest) => Assert.Null(LambdaRoute.Match(method, rest));

    [Fact]
    public async Task Only_paths_under_the_functions_prefix_and_base_path_are_accepted()
    {
        var root = await EndpointAsync();
        Assert.True(root.Accepts(Request("GET", "/2015-03-31/functions/").Request));
        Assert.True(root.Accepts(Request("GET", "/2015-03-31/functions").Request));
        Assert.True(root.Accepts(Request("POST", "/2015-03-31/functions/f/invocations?x=1").Request));
        Assert.False(root.Accepts(Request("POST", "/").Request));
        Assert.False(root.Accepts(Request("GET", "/2015-03-31/functionsX").Request));
        var based = await EndpointAsync("/coffer/");
        Assert.True(based.Accepts(Request("GET", "/coffer/2015-03-31/functions/").Request));
        Assert.False(based.Accepts(Request("GET", "/2015-03-31/functions/").Request));
    }

    [Fact]
    public async Task Errors_are_rest_json_with_the_type_in_a_header()
    {
        var endpoint = await EndpointAsync();
        var (status, type, body) = await Send(endpoint, Request("GET", "/2015-03-31/functions/f1"));
        Assert.Equal((403, "MissingAuthenticationTokenException"), (status, type));
        Assert.Equal("User", body.GetProperty("Type").GetString());
        Assert.False(string.IsNullOrEmpty(body.GetProperty("Message").GetString()));

        (status, type, _) = await Send(endpoint, Request("PATCH", "/2015-03-31/functions/f1"));
        Assert.Equal((404, "UnknownOperationException"), (status, type));
    }

    [Fact]
    public async Task The_credential_scope_must_name_lambda()
    {
        var endpoint = await EndpointAsync();
        var auth = $"AWS4-HMAC-SHA256 Credential={SigV4.BotocoreVectors.AccessKeyId}/20260301/us-east-1/secretsmanager/aws4_request, " +
                   "SignedHeaders=host;x-amz-date, Signature=" + new string('0', 64);
        var (status, type, body) = await Send(endpoint, Request("GET", "/2015-03-31/functions/", authorization: auth));
        Assert.Equal((403, "InvalidSignatureException"), (status, type));
        Assert.Contains("'lambda'", body.GetProperty("Message").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Oversized_bodies_are_refused_before_they_are_read()
    {
        var endpoint = await EndpointAsync();
        var (status, type, body) = await Send(endpoint, Request("POST", "/2015-03-31/functions/", contentLength: FunctionLimits.MaxCodeRequestBytes + 1L));
        Assert.Equal((413, "RequestEntityTooLargeException"), (status, type));
        Assert.Contains("CreateFunction", body.GetProperty("Message").GetString(), StringComparison.Ordinal);
        (status, type, _) = await Send(endpoint, Request("POST", "/2015-03-31/functions/f/invocations", contentLength: FunctionLimits.MaxPayloadBytes + 1L));
        Assert.Equal((413, "RequestTooLargeException"), (status, type));
        (status, type, _) = await Send(endpoint, Request("PUT", "/2015-03-31/functions/f/configuration", contentLength: 300_000));
        Assert.Equal((413, "RequestEntityTooLargeException"), (status, type));
    }

    [Fact]
    public async Task A_code_link_without_a_valid_token_is_refused()
    {
        var endpoint = await EndpointAsync();
        var (status, type, _) = await Send(endpoint, Request("GET", "/2015-03-31/functions/f1/code?Region=us-east-1&Token=99999999999.abc"));
        Assert.Equal((403, "AccessDeniedException"), (status, type));
    }

    [Theory]
    [InlineData("ResourceNotFoundException", 404)]
    [InlineData("ResourceConflictException", 409)]
    [InlineData("InvalidParameterValueException", 400)]
    [InlineData("ValidationException", 400)]
    [InlineData("PreconditionFailedException", 412)]
    [InlineData("AccessDeniedException", 403)]
    [InlineData("ServiceException", 500)]
    [InlineData("RequestTooLargeException", 413)]
    public void Status_codes_follow_the_lambda_model(string code, int status) => Assert.Equal(status, LambdaEndpoint.StatusFor(code));

    /// <summary>No functions at all: the guards' tests never get further than a lookup.</summary>
    private sealed class EmptyFunctionStore : IFunctionStore
    {
        public Task<FunctionRecord?> FindFunctionAsync(string region, string name, bool withCode, CancellationToken ct) => Task.FromResult<FunctionRecord?>(null);
        public Task<IReadOnlyList<FunctionRecord>> ListFunctionsAsync(string region, string? afterName, int limit, CancellationToken ct) =>
            Task.FromResult<IReadOnlyList<FunctionRecord>>([]);
        public Task<bool> InsertFunctionAsync(FunctionRecord record, CancellationToken ct) => Task.FromResult(false);
        public Task<bool> ReplaceFunctionAsync(FunctionRecord record, string expectedRevisionId, CancellationToken ct) => Task.FromResult(false);
        public Task<bool> DeleteFunctionAsync(string region, string name, CancellationToken ct) => Task.FromResult(false);
    }
}
