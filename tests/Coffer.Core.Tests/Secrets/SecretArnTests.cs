using Coffer.Core.Secrets;

namespace Coffer.Core.Tests.Secrets;

public sealed class SecretArnTests
{
    [Fact]
    public void Created_arns_carry_a_six_character_suffix_and_parse_back()
    {
        var arn = SecretArn.Create("eu-west-1", "123456789012", "prod/db");
        Assert.Matches(@"^arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/db-[A-Za-z0-9]{6}$", arn);
        Assert.True(SecretArn.TryParse(arn, out var region, out var account, out var resource));
        Assert.Equal(("eu-west-1", "123456789012"), (region, account));
        Assert.True(SecretArn.HasSuffix(resource));
        Assert.NotEqual(arn, SecretArn.Create("eu-west-1", "123456789012", "prod/db"));
    }

    [Theory]
    [InlineData("arn:aws:kms:us-east-1:123456789012:key/abc")]
    [InlineData("arn:aws:secretsmanager:us-east-1:123456789012:secret:a:b")]
    [InlineData("arn:aws:secretsmanager::123456789012:secret:a")]
    [InlineData("not-an-arn")]
    public void Other_strings_do_not_parse(string value) => Assert.False(SecretArn.TryParse(value, out _, out _, out _));

    [Fact]
    public void Page_tokens_round_trip_and_refuse_foreign_scopes()
    {
        var token = PageToken.Create("list", 42);
        Assert.Equal(42, PageToken.Read(token, "list"));
        Assert.Equal("InvalidNextTokenException", Assert.Throws<ServiceException>(() => PageToken.Read(token, "batch")).Code);
        Assert.Equal("InvalidNextTokenException", Assert.Throws<ServiceException>(() => PageToken.Read("%%%", "list")).Code);
    }
}
