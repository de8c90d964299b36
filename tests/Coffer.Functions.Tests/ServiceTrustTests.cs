using Coffer.Core.Principals;

namespace Coffer.Functions.Tests;

/// <summary>Which trust policies let lambda.amazonaws.com assume an execution role (AWS's rule for Lambda).</summary>
public sealed class ServiceTrustTests
{
    private const string Lambda = "lambda.amazonaws.com";

    private static string Doc(string statements) => $$"""{"Version":"2012-10-17","Statement":[{{statements}}]}""";

    [Theory]
    [InlineData("""{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}""", true)]
    [InlineData("""{"Effect":"Allow","Principal":{"Service":["ec2.amazonaws.com","lambda.amazonaws.com"]},"Action":["sts:AssumeRole"]}""", true)]
    [InlineData("""{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:*"}""", true)]
    [InlineData("""{"Effect":"Allow","Principal":"*","Action":"sts:assumerole"}""", true)]
    [InlineData("""{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}""", false)]
    [InlineData("""{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"sts:AssumeRole"}""", false)]
    [InlineData("""{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:TagSession"}""", false)]
    [InlineData("""{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"aws:SourceAccount":"1"}}}""", false)]
    [InlineData("""{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"},{"Effect":"Deny","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}""", false)]
    public void Trust_policy_decides(string statements, bool allowed) =>
        Assert.Equal(allowed, ServiceTrust.Allows(Doc(statements), Lambda));

    [Theory]
    [InlineData("")]
    [InlineData("not json")]
    [InlineData("""{"Statement":"x"}""")]
    [InlineData("""{"Version":"2012-10-17"}""")]
    public void Malformed_documents_allow_nothing(string document) => Assert.False(ServiceTrust.Allows(document, Lambda));
}
