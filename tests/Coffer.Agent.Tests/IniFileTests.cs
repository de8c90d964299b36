namespace Coffer.Agent.Tests;

/// <summary>The shared config and credentials files, parsed as botocore parses them (checked against botocore 1.43).</summary>
public sealed class IniFileTests : IDisposable
{
    private readonly string _path = Path.Combine(Directory.CreateTempSubdirectory("coffer-agent-ini-").FullName, "config");

    public void Dispose() => Directory.Delete(Path.GetDirectoryName(_path)!, recursive: true);

    private Dictionary<string, Dictionary<string, string>> Read(string text, bool configFile = true)
    {
        File.WriteAllText(_path, text);
        return IniFile.Read(_path, configFile);
    }

    [Fact]
    public void Profile_sections_keys_and_delimiters_as_botocore_reads_them()
    {
        var s = Read("[default]\r\nRegion: us-east-1\r\n[profile  spaced ]\nrole_arn = arn:aws:iam::1:role/a=b\n[profile \"q x\"]\nk=v\n"
            + "[Profile upper]\nk=v\n[sso-session corp]\nrole_arn = x\n[services dev]\nk=v\n[plain]\nk=v\n");
        Assert.Equal(["default", "spaced", "q x"], s.Keys);
        Assert.Equal("us-east-1", s["default"]["region"]);
        Assert.Equal("arn:aws:iam::1:role/a=b", s["spaced"]["role_arn"]);
    }

    [Fact]
    public void Only_whole_lines_are_comments_and_indented_lines_belong_to_the_key_above()
    {
        var s = Read("# top\n[default]\n; note\nsource_profile = base # not a comment\ns3 =\n  region = nested\n  role_arn = nested\n"
            + "external_id = first\n  second\nregion = top\n");
        Assert.Equal("base # not a comment", s["default"]["source_profile"]);
        Assert.Equal("", s["default"]["s3"]);
        Assert.Equal("first\nsecond", s["default"]["external_id"]);
        Assert.Equal("top", s["default"]["region"]);
        Assert.False(s["default"].ContainsKey("role_arn"));
    }

    [Fact]
    public void Text_after_a_section_header_is_ignored_so_its_keys_stay_in_that_section()
    {
        var s = Read("[profile base]\nregion = b\n[profile app] # the app's role\nrole_arn = arn:aws:iam::1:role/app\n[profile x] junk\nk = v\n");
        Assert.Equal(["base", "app", "x"], s.Keys);
        Assert.False(s["base"].ContainsKey("role_arn"));
        Assert.Equal("arn:aws:iam::1:role/app", s["app"]["role_arn"]);
    }

    [Fact]
    public void The_credentials_file_names_sections_without_profile()
    {
        var s = Read("[base]\naws_access_key_id = A\n[profile x]\naws_access_key_id = B\n", configFile: false);
        Assert.Equal(["base", "profile x"], s.Keys);
    }

    [Fact]
    public void A_byte_order_mark_is_accepted()
    {
        File.WriteAllBytes(_path, [0xEF, 0xBB, 0xBF, .. "[default]\nregion = x\n"u8.ToArray()]);
        Assert.Equal("x", IniFile.Read(_path, configFile: true)["default"]["region"]);
    }

    [Theory]
    [InlineData("[default]\nregion = a\n[default]\nregion = b\n", "line 3: section [default] appears twice")]
    [InlineData("[default]\nregion = a\nRegion = b\n", "line 3: region is set twice")]
    [InlineData("[default]\nregion = a\n[profile default]\nregion = b\n", "line 3: profile default is defined twice")]
    [InlineData("[default]\nrole_arn role/a\n", "line 2: neither [section] nor key = value")]
    [InlineData("[default]\n= x\n", "line 2: neither [section] nor key = value")]
    [InlineData("region = x\n[default]\n", "line 1: a setting before the first [section]")]
    public void Duplicates_and_malformed_lines_make_the_file_unusable_as_in_botocore(string text, string message)
    {
        var e = Assert.Throws<InvalidOperationException>(() => Read(text));
        Assert.Contains(message, e.Message, StringComparison.Ordinal);
    }
}
