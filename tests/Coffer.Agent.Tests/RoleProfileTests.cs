namespace Coffer.Agent.Tests;

/// <summary>Assume-role profiles of the AWS config file, read as the SDKs read them.</summary>
public sealed class RoleProfileTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("coffer-agent-profile-").FullName;
    private readonly Dictionary<string, string> _env = new(StringComparer.Ordinal);

    public RoleProfileTests()
    {
        _env["AWS_CONFIG_FILE"] = Path.Combine(_dir, "config");
        _env["AWS_SHARED_CREDENTIALS_FILE"] = Path.Combine(_dir, "credentials");
        File.WriteAllText(_env["AWS_SHARED_CREDENTIALS_FILE"], "[base]\naws_access_key_id = AKIABASE\naws_secret_access_key = base-secret\n");
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private RoleProfile? Find(string config)
    {
        File.WriteAllText(_env["AWS_CONFIG_FILE"], config);
        return RoleProfile.Find(name => _env.GetValueOrDefault(name), TimeProvider.System);
    }

    [Fact]
    public void A_role_profile_takes_its_source_keys_from_the_credentials_file()
    {
        _env["AWS_PROFILE"] = "app";
        var p = Find("""
            [default]
            region = us-east-1
            [sso-session corp]
            role_arn = arn:aws:iam::111122223333:role/not-a-profile
            [profile app]
            role_arn = arn:aws:iam::111122223333:role/app
            source_profile = base
            role_session_name = web-1
            duration_seconds = 900
            external_id = ext-42
            """)!;
        Assert.Equal(("app", "arn:aws:iam::111122223333:role/app", "web-1", 900, "ext-42"), (p.Name, p.RoleArn, p.SessionName, p.DurationSeconds, p.ExternalId));
        Assert.Equal("AKIABASE", p.SourceKeys!.AccessKeyId);
        Assert.Null(p.SourceRole);
    }

    [Fact]
    public void A_profile_without_role_arn_is_not_a_role_profile()
    {
        Assert.Null(Find("[default]\nregion = us-east-1\n"));
        _env["AWS_PROFILE"] = "missing";
        Assert.Null(Find("[default]\nrole_arn = arn:aws:iam::111122223333:role/app\nsource_profile = base\n"));
    }

    [Fact]
    public void A_source_profile_with_its_own_role_chains_and_defaults_apply()
    {
        var p = Find("""
            [default]
            role_arn = arn:aws:iam::111122223333:role/second
            source_profile = first
            [profile first]
            role_arn = arn:aws:iam::111122223333:role/first
            source_profile = base
            """)!;
        Assert.Equal("arn:aws:iam::111122223333:role/first", p.SourceRole!.RoleArn);
        Assert.Equal("AKIABASE", p.SourceRole.SourceKeys!.AccessKeyId);
        Assert.Equal(3600, p.DurationSeconds);
        Assert.StartsWith("coffer-agent-", p.SessionName, StringComparison.Ordinal);
    }

    [Fact]
    public void Credential_source_Environment_reads_the_environment()
    {
        _env["AWS_ACCESS_KEY_ID"] = "AKIAENV";
        _env["AWS_SECRET_ACCESS_KEY"] = "env-secret";
        var p = Find("[default]\nrole_arn = arn:aws:iam::111122223333:role/app\ncredential_source = Environment\n")!;
        Assert.Equal("AKIAENV", p.SourceKeys!.AccessKeyId);
    }

    [Theory]
    [InlineData("[default]\nrole_arn = arn:aws:iam::1:role/a\n", "needs source_profile or credential_source")]
    [InlineData("[default]\nrole_arn = arn:aws:iam::1:role/a\nsource_profile = nobody\n", "source_profile \"nobody\" names no profile")]
    [InlineData("[default]\nrole_arn = arn:aws:iam::1:role/a\nsource_profile = keyless\n[profile keyless]\nregion = x\n", "source_profile keyless has no aws_access_key_id")]
    [InlineData("[default]\nrole_arn = arn:aws:iam::1:role/a\nsource_profile = default\n", "a loop")]
    [InlineData("[default]\nrole_arn = arn:aws:iam::1:role/a\nsource_profile = sso\n[profile sso]\nsso_session = corp\n", "source_profile sso uses sso_session, which coffer agent does not support")]
    [InlineData("[default]\nrole_arn = arn:aws:iam::1:role/a\nsource_profile = base\ncredential_source = Environment\n", "mutually exclusive")]
    [InlineData("[default]\nrole_arn = arn:aws:iam::1:role/a # reader\nsource_profile = base\n", "role_arn \"arn:aws:iam::1:role/a # reader\" must be a role ARN (text after a value is part of it")]
    [InlineData("[default]\nrole_arn =\nsource_profile = base\n", "role_arn \"\" must be a role ARN")]
    [InlineData("[default]\nrole_arn = arn:aws:iam::1:role/a\nsource_profile = base\nduration_seconds = 900 ; short\n", "duration_seconds \"900 ; short\" must be from 900 to 43200 (text after")]
    [InlineData("[default]\nrole_arn = arn:aws:iam::1:role/a\nsource_profile = base\nrole_session_name = web 1\n", "role_session_name \"web 1\" must be 2 to 64 characters")]
    [InlineData("[default]\nrole_arn = arn:aws:iam::1:role/a\nsource_profile = base\nrole_session_name = x\n", "role_session_name \"x\" must be 2 to 64")]
    [InlineData("[default]\nrole_arn = arn:aws:iam::1:role/a\nsource_profile = base\nrole_session_name = aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n", "must be 2 to 64")]
    [InlineData("[default]\nrole_arn = arn:aws:iam::1:role/a\nsource_profile = base\nexternal_id = a\"b\n", "external_id \"a\"b\" must be 2 to 1224")]
    [InlineData("[default]\nrole_arn = arn:aws:iam::1:role/a\nsource_profile = base\nmfa_serial = arn:aws:iam::1:mfa/me\n", "mfa_serial is not supported")]
    [InlineData("[default]\nrole_arn = arn:aws:iam::1:role/a\nsource_profile = base\nduration_seconds = 60\n", "duration_seconds \"60\" must be from 900 to 43200")]
    [InlineData("[default]\nrole_arn = arn:aws:iam::1:role/a\ncredential_source = Ec2InstanceMetadata\n", "not available outside AWS")]
    [InlineData("[default]\nrole_arn = arn:aws:iam::1:role/a\ncredential_source = Environment\n", "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY are not set")]
    [InlineData("[default]\nrole_arn = arn:aws:iam::1:role/a\nsource_profile = loop\n[profile loop]\nrole_arn = arn:aws:iam::1:role/b\nsource_profile = default\n", "a loop")]
    public void Role_profiles_that_cannot_work_are_refused_with_the_reason(string config, string reason)
    {
        var e = Assert.Throws<InvalidOperationException>(() => Find(config));
        Assert.Contains(reason, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_source_profile_with_static_keys_and_its_own_role_gives_its_keys_as_botocore_does()
    {
        var p = Find("""
            [default]
            role_arn = arn:aws:iam::111122223333:role/app
            source_profile = both
            [profile both]
            role_arn = arn:aws:iam::111122223333:role/other
            source_profile = base
            aws_access_key_id = AKIABOTH
            aws_secret_access_key = both-secret
            """)!;
        Assert.Null(p.SourceRole);
        Assert.Equal("AKIABOTH", p.SourceKeys!.AccessKeyId);
    }

    [Fact]
    public void A_profile_naming_itself_as_source_takes_its_own_keys()
    {
        var p = Find("[default]\nrole_arn = arn:aws:iam::111122223333:role/app\nsource_profile = default\naws_access_key_id = AKIASELF\naws_secret_access_key = self\n")!;
        Assert.Equal("AKIASELF", p.SourceKeys!.AccessKeyId);
    }

    [Fact]
    public void A_role_profile_of_the_credentials_file_counts_as_botocore_merges_the_files()
    {
        File.AppendAllText(_env["AWS_SHARED_CREDENTIALS_FILE"], "[app]\nrole_arn = arn:aws:iam::111122223333:role/app\nsource_profile = base\n");
        _env["AWS_PROFILE"] = "app";
        var p = Find("[profile app]\nrole_session_name = from-config\n")!;
        Assert.Equal(("arn:aws:iam::111122223333:role/app", "from-config", "AKIABASE"), (p.RoleArn, p.SessionName, p.SourceKeys!.AccessKeyId));
    }

    [Fact]
    public void Credentials_are_refreshed_five_minutes_before_expiry_or_at_three_quarters_of_a_short_life()
    {
        var issued = new DateTimeOffset(2026, 1, 1, 12, 0, 0, TimeSpan.Zero);
        AwsCredentials Expiring(TimeSpan life) => new("ASIA", "s", "t", "role", issued + life);
        Assert.Equal(issued.AddMinutes(55), RoleCredentialsRefresher.RefreshAt(Expiring(TimeSpan.FromHours(1)), issued));
        Assert.Equal(issued.AddMinutes(15), RoleCredentialsRefresher.RefreshAt(Expiring(TimeSpan.FromMinutes(20)), issued));
        // Expired already by the agent's clock (server clock behind): once a second at most, not in a loop.
        Assert.Equal(issued.AddSeconds(1), RoleCredentialsRefresher.RefreshAt(Expiring(TimeSpan.FromMinutes(-20)), issued));
    }

    [Fact]
    public void A_failed_renewal_is_retried_after_1_s_then_doubling_up_to_30_s()
    {
        Assert.Equal([1, 2, 4, 8, 16, 30, 30], new[] { 1, 2, 3, 4, 5, 6, 1000 }.Select(n => RoleCredentialsRefresher.RetryDelay(n).TotalSeconds));
    }
}
