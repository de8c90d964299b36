using Coffer.Core.Secrets;

namespace Coffer.Core.Tests.Secrets;

public sealed class SecretFiltersTests
{
    private static Secret S(string name, string? description = null, params Tag[] tags) =>
        new() { Region = "us-east-1", Name = name, Arn = "arn", PrimaryRegion = "us-east-1", Description = description, Tags = [.. tags] };

    private static bool M(Secret s, string key, params string[] values) => SecretFilters.Matches(s, [new Filter(key, [.. values])]);

    [Theory]
    [InlineData("COMPANYthings", "COMPAN,Ythings")]
    [InlineData("MyTestSecret", "My,Test,Secret")]
    [InlineData("db/prod-user_01", "db,prod,user,01")]
    [InlineData("abc123def", "abc,123,def")]
    public void Words_split_like_the_all_filter(string text, string expected) =>
        Assert.Equal(expected.Split(','), SecretFilters.Words(text));

    [Fact]
    public void Name_is_a_case_sensitive_prefix()
    {
        Assert.True(M(S("DatabaseSecret"), "name", "Data"));
        Assert.False(M(S("databaseSecret"), "name", "Data"));
        Assert.False(M(S("MyData"), "name", "Data"));
    }

    [Fact]
    public void Description_matches_words_case_insensitively()
    {
        Assert.True(M(S("x", "Description of my secret"), "description", "My Description"));
        Assert.False(M(S("x", "Description of my secret"), "description", "cret"));
    }

    [Fact]
    public void All_searches_name_description_and_tags()
    {
        var s = S("prod/MyAppSecret", "first", new Tag("team", "Payments"));
        Assert.True(M(s, "all", "app"));
        Assert.True(M(s, "all", "pay"));
        Assert.True(M(s, "all", "TEAM"));
        Assert.False(M(s, "all", "ret"));
        Assert.False(M(s, "all", "+"));
    }

    [Fact]
    public void Negation_and_combination()
    {
        var s = S("alpha", null, new Tag("env", "prod"));
        Assert.False(M(s, "name", "!al"));
        Assert.True(M(s, "name", "!beta"));
        Assert.True(M(s, "name", "beta", "alp")); // values OR
        Assert.False(SecretFilters.Matches(s, [new Filter("name", ["alp"]), new Filter("tag-value", ["dev"])])); // filters AND
        Assert.True(M(s, "tag-key", "en"));
    }

    [Fact]
    public void Unknown_keys_and_bad_values_are_refused()
    {
        Assert.Equal("ValidationException", Assert.Throws<ServiceException>(() => SecretFilters.Validate([new Filter("bogus", ["x"])])).Code);
        Assert.Equal("ValidationException", Assert.Throws<ServiceException>(() => SecretFilters.Validate([new Filter("name", ["a*"])])).Code);
        Assert.Equal("InvalidParameterException", Assert.Throws<ServiceException>(() => SecretFilters.Validate([new Filter("name", [])])).Code);
        // "Values":[null] on the wire: a validation error, not a NullReferenceException (500) in Matches.
        Assert.Equal("ValidationException", Assert.Throws<ServiceException>(() => SecretFilters.Validate([new Filter("name", ["a", null!])])).Code);
    }
}
