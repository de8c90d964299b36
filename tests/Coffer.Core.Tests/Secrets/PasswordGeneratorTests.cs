using Coffer.Core.Secrets;

namespace Coffer.Core.Tests.Secrets;

public sealed class PasswordGeneratorTests
{
    [Fact]
    public void Default_is_32_characters_with_every_class()
    {
        for (var i = 0; i < 200; i++)
        {
            var p = PasswordGenerator.Generate(new GetRandomPasswordRequest());
            Assert.Equal(32, p.Length);
            Assert.Contains(p, char.IsAsciiLetterUpper);
            Assert.Contains(p, char.IsAsciiLetterLower);
            Assert.Contains(p, char.IsAsciiDigit);
            Assert.Contains(p, c => PasswordGenerator.Punctuation.Contains(c));
            Assert.DoesNotContain(' ', p);
        }
    }

    [Fact]
    public void Exclusions_are_honoured()
    {
        var p = PasswordGenerator.Generate(new GetRandomPasswordRequest
        {
            PasswordLength = 4096, ExcludePunctuation = true, ExcludeUppercase = true, ExcludeCharacters = "abc012",
        });
        Assert.Equal(4096, p.Length);
        Assert.All(p, c => Assert.True((char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c)) && !"abc012".Contains(c)));
    }

    [Fact]
    public void Space_appears_only_when_included()
    {
        var p = PasswordGenerator.Generate(new GetRandomPasswordRequest { PasswordLength = 4096, IncludeSpace = true });
        Assert.Contains(' ', p);
    }

    [Fact]
    public void Impossible_requests_are_invalid_parameters()
    {
        var all = Assert.Throws<ServiceException>(() => PasswordGenerator.Generate(new GetRandomPasswordRequest
        { ExcludeLowercase = true, ExcludeUppercase = true, ExcludeNumbers = true, ExcludePunctuation = true }));
        Assert.Equal("InvalidParameterException", all.Code);
        var shortOne = Assert.Throws<ServiceException>(() => PasswordGenerator.Generate(new GetRandomPasswordRequest { PasswordLength = 3 }));
        Assert.Equal("InvalidParameterException", shortOne.Code);
        Assert.Equal("ValidationException",
            Assert.Throws<ServiceException>(() => PasswordGenerator.Generate(new GetRandomPasswordRequest { PasswordLength = 4097 })).Code);
        Assert.Equal("ValidationException",
            Assert.Throws<ServiceException>(() => PasswordGenerator.Generate(new GetRandomPasswordRequest { PasswordLength = 0 })).Code);
    }

    [Fact]
    public void Length_below_class_count_is_fine_without_requiring_each_type()
    {
        Assert.Single(PasswordGenerator.Generate(new GetRandomPasswordRequest { PasswordLength = 1, RequireEachIncludedType = false }));
    }

    [Fact]
    public void Characters_are_roughly_uniform()
    {
        // 200k digits: each of 10 should be near 20k. A biased modulo draw over a small range would still pass
        // this, but a broken generator (constant, skipped class) would not. Loose bounds keep it deterministic enough.
        var p = PasswordGenerator.Generate(new GetRandomPasswordRequest
        { PasswordLength = 4096, ExcludeLowercase = true, ExcludeUppercase = true, ExcludePunctuation = true });
        var counts = p.GroupBy(c => c).ToDictionary(g => g.Key, g => g.Count());
        Assert.Equal(10, counts.Count);
        Assert.All(counts.Values, n => Assert.InRange(n, 250, 580));
    }
}
