using Coffer.Core.Policies;

namespace Coffer.Core.Tests.Policies;

/// <summary>Resource-policy grammar and the public-access check (PutResourcePolicy, ValidateResourcePolicy).</summary>
public sealed class ResourcePolicyParsingTests
{
    private const string Good = """
        {"Version":"2012-10-17","Statement":[{"Sid":"a","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:role/app"},
         "Action":"secretsmanager:GetSecretValue","Resource":"*","Condition":{"StringEqualsIfExists":{"secretsmanager:VersionStage":"AWSCURRENT"}}}]}
        """;

    [Fact]
    public void A_well_formed_policy_parses_and_is_not_public()
    {
        var doc = Parse(Good);
        Assert.Single(doc.Statements);
        Assert.False(doc.GrantsPublicAccess());
    }

    [Theory]
    [InlineData("""{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"secretsmanager:*","Resource":"*"}}""")]
    [InlineData("""{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"secretsmanager:*","Resource":"*"}}""")]
    [InlineData("""{"Version":"2012-10-17","Statement":{"Effect":"Allow","NotPrincipal":{"AWS":"arn:aws:iam::1:root"},"Action":"*","Resource":"*"}}""")]
    public void Wildcard_principals_without_conditions_are_public(string policy) =>
        Assert.True(Parse(policy).GrantsPublicAccess());

    [Theory]
    [InlineData("not json")]
    [InlineData("""{"Version":"2012-10-17","Statement":[{"Effect":"allow","Principal":"*","Action":"a:b","Resource":"*"}]}""")]
    [InlineData("""{"Version":"2012-10-18","Statement":[{"Effect":"Allow","Principal":"*","Action":"a:b","Resource":"*"}]}""")]
    [InlineData("""{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"a:b","NotAction":"a:c","Resource":"*"}]}""")]
    [InlineData("""{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Effect":"Allow","Principal":"*","Action":"a:b","Resource":"*"}]}""")]
    [InlineData("""{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"a:b","Resource":"*","Condition":{"StringEqualz":{"k":"v"}}}]}""")]
    [InlineData("""{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"a:b","Resource":"*","Condition":{"StringEquals":{"k":{"x":1}}}}]}""")]
    [InlineData("""{"Version":"2012-10-17","Statement":[]}""")]
    [InlineData("""{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"a:b","Resource":"*"}]}""")]
    [InlineData("""{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"a:b","Resource":"*","Extra":1}]}""")]
    public void Malformed_documents_are_refused(string policy) =>
        Assert.Equal("MalformedPolicyDocumentException", Assert.Throws<ServiceException>(() => Parse(policy)).Code);

    private static Policy Parse(string text) => Policy.Parse(text, PolicyKind.Resource, "resource policy");
}
