using Microsoft.AspNetCore.Http;

namespace Coffer.Agent.Tests;

/// <summary>The agent's query string, read as AWS's agent reads it: form decoding, so '+' is a space.</summary>
public class QueryParsingTests
{
    private static (CacheKey? Key, bool RefreshNow, string? Error) Parse(string query)
    {
        var http = new DefaultHttpContext();
        http.Request.QueryString = new QueryString(query);
        return AgentEndpoint.QueryStyle(http.Request);
    }

    [Theory]
    [InlineData("?secretId=prod%2Fapp%2Fdb", "prod/app/db")]
    [InlineData("?secretId=prod/app/db", "prod/app/db")]
    [InlineData("?secretId=app%2Bdb", "app+db")]
    [InlineData("?secretId=my+secret", "my secret")]
    [InlineData("?secretId=caf%C3%A9", "café")]
    [InlineData("?secretId=bad%zzname", "bad%zzname")]
    [InlineData("?secret%49d=x", "x")]
    public void Secret_ids_are_form_decoded(string query, string expected)
    {
        var (key, _, error) = Parse(query);
        Assert.Null(error);
        Assert.Equal(expected, key!.Value.SecretId);
    }

    [Fact]
    public void A_long_escaped_id_is_decoded_whole()
    {
        var name = string.Concat(Enumerable.Repeat("team/", 80)) + "db";
        var (key, _, error) = Parse("?secretId=" + Uri.EscapeDataString(name));
        Assert.Null(error);
        Assert.Equal(name, key!.Value.SecretId);
    }

    [Fact]
    public void Version_stage_id_and_refresh_are_read_and_unknown_names_refused()
    {
        var (key, refresh, error) = Parse("?secretId=a&versionStage=AWSPREVIOUS&versionId=v%2D1&refreshNow=TRUE");
        Assert.Null(error);
        Assert.Equal(new CacheKey("a", "v-1", "AWSPREVIOUS"), key);
        Assert.True(refresh);

        Assert.Equal("unknown parameter: foo", Parse("?secretId=a&foo=1").Error);
        Assert.Equal("unknown parameter: foo bar", Parse("?secretId=a&foo+bar=1").Error);
        Assert.Equal("invalid refreshNow value", Parse("?secretId=a&refreshNow=yes").Error);
        Assert.Equal("missing parameter secretId", Parse("?versionStage=AWSCURRENT").Error);
    }
}
