using Microsoft.Extensions.Logging;

namespace Coffer.Agent.Tests;

public sealed class ConfigurationTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("coffer-agent-test-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string File(string text)
    {
        var path = Path.Combine(_dir, Guid.NewGuid().ToString("N") + ".toml");
        System.IO.File.WriteAllText(path, text);
        return path;
    }

    private static Func<string, string?> Env(params (string Name, string Value)[] vars) =>
        name => vars.FirstOrDefault(v => v.Name == name).Value;

    [Fact]
    public void Defaults_match_aws()
    {
        var (o, errors) = AgentHost.Configure(new AgentCommandLine(), Env());
        Assert.Empty(errors);
        Assert.Equal(2773, o.HttpPort);
        Assert.Equal(1000, o.CacheSize);
        Assert.Equal(300, o.TtlSeconds);
        Assert.Equal(800, o.MaxConn);
        Assert.Equal("/v1/", o.PathPrefix);
        Assert.Equal(["X-Aws-Parameters-Secrets-Token", "X-Vault-Token"], o.SsrfHeaders);
        Assert.Equal(["AWS_TOKEN", "AWS_SESSION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN"], o.SsrfEnvVariables);
        Assert.Equal(LogLevel.Information, o.LogLevel);
    }

    [Fact]
    public void Agent_config_file_keys_are_read()
    {
        var path = File("""
            # Secrets Manager Agent style
            log_level = "debug"
            http_port = 2775   # trailing comment
            region = "eu-west-1"
            ttl_seconds = 60
            cache_size = 50
            ssrf_headers = ["X-My-Token",
                            "X-Other"]
            ssrf_env_variables = ['MY_TOKEN']
            path_prefix = "/secrets"
            max_conn = 10
            ignore_transient_errors = false
            log_to_file = true
            validate_credentials = false
            endpoint_url = "http://127.0.0.1:8390"
            max_stale_seconds = 30
            change_feed = false
            """);
        var (o, errors) = AgentHost.Configure(new AgentCommandLine { ConfigFile = path }, Env());
        Assert.Empty(errors);
        Assert.Equal(LogLevel.Debug, o.LogLevel);
        Assert.Equal(2775, o.HttpPort);
        Assert.Equal("eu-west-1", o.Region);
        Assert.Equal(60, o.TtlSeconds);
        Assert.Equal(50, o.CacheSize);
        Assert.Equal(["X-My-Token", "X-Other"], o.SsrfHeaders);
        Assert.Equal(["MY_TOKEN"], o.SsrfEnvVariables);
        Assert.Equal("/secrets/", o.PathPrefix);
        Assert.Equal(10, o.MaxConn);
        Assert.False(o.IgnoreTransientErrors);
        Assert.Equal("http://127.0.0.1:8390", o.EndpointUrl);
        Assert.Equal(30, o.MaxStaleSeconds);
        Assert.False(o.ChangeFeed);
    }

    [Theory]
    [InlineData("colour = \"blue\"", "unknown configuration key")]
    [InlineData("ttl_seconds = 3601", "from 0 to 3600")]
    [InlineData("cache_size = 0", "from 1 to 1000")]
    [InlineData("http_port = 80", "from 1024 to 65535")]
    [InlineData("max_conn = 1001", "from 1 to 1000")]
    [InlineData("ssrf_headers = []", "non-empty list")]
    [InlineData("path_prefix = \"v1\"", "must start with '/'")]
    [InlineData("log_level = \"loud\"", "DEBUG, INFO, WARN, ERROR or NONE")]
    [InlineData("ttl_seconds = \"sixty\"", "whole number")]
    [InlineData("http_port = \"80\"", "from 1024 to 65535")]
    [InlineData("[server]\nport = 1", "tables are not supported")]
    public void Bad_config_files_stop_start_up(string text, string message)
    {
        var (_, errors) = AgentHost.Configure(new AgentCommandLine { ConfigFile = File(text) }, Env());
        Assert.Contains(errors, e => e.Contains(message, StringComparison.Ordinal));
    }

    [Fact]
    public void Quoted_numbers_are_read_as_aws_agent_reads_them()
    {
        // AWS's agent declares these keys as strings; its own sample config quotes some of them.
        var path = File("""
            http_port = "65535"
            ttl_seconds = 300
            cache_size = '1000'
            max_conn = "10"
            """);
        var (o, errors) = AgentHost.Configure(new AgentCommandLine { ConfigFile = path }, Env());
        Assert.Empty(errors);
        Assert.Equal(65535, o.HttpPort);
        Assert.Equal(300, o.TtlSeconds);
        Assert.Equal(1000, o.CacheSize);
        Assert.Equal(10, o.MaxConn);
    }

    [Fact]
    public void A_bare_slash_path_prefix_is_accepted_as_aws_agent_accepts_it()
    {
        var (o, errors) = AgentHost.Configure(new AgentCommandLine { ConfigFile = File("path_prefix = \"/\"") }, Env());
        Assert.Empty(errors);
        Assert.Equal("/", o.PathPrefix);
    }

    [Fact]
    public void Lambda_extension_variables_are_read()
    {
        var (o, errors) = AgentHost.Configure(new AgentCommandLine(), Env(
            ("PARAMETERS_SECRETS_EXTENSION_CACHE_SIZE", "20"),
            ("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", "2999"),
            ("PARAMETERS_SECRETS_EXTENSION_LOG_LEVEL", "warn"),
            ("PARAMETERS_SECRETS_EXTENSION_MAX_CONNECTIONS", "3"),
            ("SECRETS_MANAGER_TTL", "45"),
            ("SECRETS_MANAGER_TIMEOUT_MILLIS", "1500")));
        Assert.Empty(errors);
        Assert.Equal(20, o.EffectiveCacheSize);
        Assert.Equal(2999, o.HttpPort);
        Assert.Equal(LogLevel.Warning, o.LogLevel);
        Assert.Equal(45, o.TtlSeconds);
        Assert.Equal(1500, o.UpstreamTimeoutMillis);
    }

    [Theory]
    [InlineData("PARAMETERS_SECRETS_EXTENSION_CACHE_ENABLED", "false")]
    [InlineData("PARAMETERS_SECRETS_EXTENSION_CACHE_SIZE", "0")]
    [InlineData("SECRETS_MANAGER_TTL", "0")]
    public void Caching_can_be_turned_off(string name, string value)
    {
        var (o, errors) = AgentHost.Configure(new AgentCommandLine(), Env((name, value)));
        Assert.Empty(errors);
        Assert.Equal(0, o.EffectiveCacheSize);
    }

    [Theory]
    [InlineData("SECRETS_MANAGER_TTL", "301")]
    [InlineData("PARAMETERS_SECRETS_EXTENSION_CACHE_SIZE", "1001")]
    [InlineData("PARAMETERS_SECRETS_EXTENSION_CACHE_ENABLED", "maybe")]
    [InlineData("PARAMETERS_SECRETS_EXTENSION_LOG_LEVEL", "chatty")]
    public void Bad_lambda_variables_stop_start_up(string name, string value)
    {
        var (_, errors) = AgentHost.Configure(new AgentCommandLine(), Env((name, value)));
        Assert.Contains(errors, e => e.Contains(name, StringComparison.Ordinal));
    }

    [Fact]
    public void The_file_wins_over_the_environment_and_the_command_line_over_both()
    {
        var path = File("http_port = 3000\nttl_seconds = 10");
        var (o, errors) = AgentHost.Configure(new AgentCommandLine { ConfigFile = path, Port = 3001 },
            Env(("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", "2999"), ("SECRETS_MANAGER_TTL", "20")));
        Assert.Empty(errors);
        Assert.Equal(3001, o.HttpPort);
        Assert.Equal(10, o.TtlSeconds);
    }

    [Fact]
    public void The_token_comes_from_the_first_set_variable()
    {
        var token = SsrfToken.Resolve(AgentOptions.DefaultSsrfEnvVariables, Env(("AWS_SESSION_TOKEN", "second"), ("AWS_CONTAINER_AUTHORIZATION_TOKEN", "third")));
        Assert.True(token.Matches("second"));
        Assert.False(token.Matches("third"));
        Assert.False(token.Matches("secon"));
        Assert.False(token.Matches(null));
    }

    [Fact]
    public void A_file_reference_reads_the_token_from_the_file()
    {
        var path = File("  from-file\n");
        var token = SsrfToken.Resolve(["AWS_TOKEN"], Env(("AWS_TOKEN", "file://" + path)));
        Assert.True(token.Matches("from-file"));
        Assert.False(token.Matches("file://" + path));
    }

    [Fact]
    public void No_token_stops_start_up()
    {
        var e = Assert.Throws<InvalidOperationException>(() => SsrfToken.Resolve(AgentOptions.DefaultSsrfEnvVariables, Env()));
        Assert.Contains("AWS_TOKEN", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Credentials_come_from_the_environment_then_the_shared_file()
    {
        var fromEnv = AwsCredentials.Resolve(null, Env(("AWS_ACCESS_KEY_ID", "AKID"), ("AWS_SECRET_ACCESS_KEY", "s3cret")));
        Assert.Equal("AKID", fromEnv.AccessKeyId);
        Assert.DoesNotContain("s3cret", fromEnv.ToString(), StringComparison.Ordinal);

        var file = File("[default]\naws_access_key_id = D\naws_secret_access_key = d\n\n[other]\naws_access_key_id = O\naws_secret_access_key = o\naws_session_token = t\n");
        var other = AwsCredentials.Resolve(null, Env(("AWS_SHARED_CREDENTIALS_FILE", file), ("AWS_PROFILE", "other")));
        Assert.Equal(("O", "o", "t"), (other.AccessKeyId, other.SecretAccessKey, other.SessionToken));
        var def = AwsCredentials.Resolve(null, Env(("AWS_SHARED_CREDENTIALS_FILE", file)));
        Assert.Equal("D", def.AccessKeyId);
        Assert.Throws<InvalidOperationException>(() => AwsCredentials.Resolve(null, Env(("AWS_SHARED_CREDENTIALS_FILE", file), ("AWS_PROFILE", "none"))));
    }

    [Fact]
    public void An_explicit_AWS_PROFILE_wins_over_keys_in_the_environment_which_then_only_source_its_role()
    {
        var credentials = File("[base]\naws_access_key_id = B\naws_secret_access_key = b\n[profile x]\naws_access_key_id = X\naws_secret_access_key = x\n");
        var config = Path.Combine(Path.GetDirectoryName(credentials)!, "aws-config");
        System.IO.File.WriteAllText(config, "[profile env-role]\nrole_arn = arn:aws:iam::1:role/a\ncredential_source = Environment\n"
            + "[profile file-role]\nrole_arn = arn:aws:iam::1:role/b\nsource_profile = base\n");
        (string, string)[] files = [("AWS_SHARED_CREDENTIALS_FILE", credentials), ("AWS_CONFIG_FILE", config), ("AWS_ACCESS_KEY_ID", "E"), ("AWS_SECRET_ACCESS_KEY", "e")];

        var (role, keys, warning) = AgentHost.ChooseCredentials(null, Env([.. files, ("AWS_PROFILE", "env-role")]));
        Assert.Equal(("arn:aws:iam::1:role/a", "E", null), (role!.RoleArn, role.SourceKeys!.AccessKeyId, keys));
        Assert.Null(warning);

        (role, _, warning) = AgentHost.ChooseCredentials(null, Env([.. files, ("AWS_PROFILE", "file-role")]));
        Assert.Equal("B", role!.SourceKeys!.AccessKeyId);
        Assert.Contains("AWS_PROFILE=file-role names the profile to use", warning, StringComparison.Ordinal);

        (role, keys, _) = AgentHost.ChooseCredentials(null, Env([.. files, ("AWS_PROFILE", "base")]));
        Assert.Equal((null, "B"), (role, keys!.AccessKeyId));

        // Without AWS_PROFILE the environment's keys come first, as in every SDK.
        (role, keys, warning) = AgentHost.ChooseCredentials(null, Env(files));
        Assert.Equal((null, "E", null), (role, keys!.AccessKeyId, warning));

        // A credentials file names a profile [x]; [profile x] there is no profile x, and the refusal says so.
        var e = Assert.Throws<InvalidOperationException>(() => AgentHost.ChooseCredentials(null, Env([.. files, ("AWS_PROFILE", "x")])));
        Assert.Contains("names it [x], not [profile x]", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_region_falls_back_to_the_profiles_region_in_the_AWS_config_file()
    {
        var config = File("[default]\nregion = eu-west-1\n[profile app]\nregion = ap-south-1\n");
        Assert.Equal("eu-west-1", AgentHost.ResolveRegion(null, Env(("AWS_CONFIG_FILE", config))));
        Assert.Equal("ap-south-1", AgentHost.ResolveRegion(null, Env(("AWS_CONFIG_FILE", config), ("AWS_PROFILE", "app"))));
        Assert.Equal("us-west-2", AgentHost.ResolveRegion(null, Env(("AWS_CONFIG_FILE", config), ("AWS_DEFAULT_REGION", "us-west-2"))));
        Assert.Equal("ca-central-1", AgentHost.ResolveRegion("ca-central-1", Env(("AWS_CONFIG_FILE", config), ("AWS_REGION", "us-west-2"))));
        Assert.Equal("us-east-1", AgentHost.ResolveRegion(null, Env(("AWS_CONFIG_FILE", config + ".missing"))));
    }

    [Fact]
    public void Static_keys_may_also_sit_in_the_config_file_after_the_credentials_file()
    {
        var credentials = File("[app]\naws_access_key_id = FROMCREDS\naws_secret_access_key = c\n");
        var config = File("[profile app]\naws_access_key_id = FROMCONFIG\naws_secret_access_key = c\n[profile only]\naws_access_key_id = ONLY\naws_secret_access_key = o\n");
        (string, string)[] files = [("AWS_SHARED_CREDENTIALS_FILE", credentials), ("AWS_CONFIG_FILE", config)];
        Assert.Equal("FROMCREDS", AwsCredentials.Resolve(null, Env([.. files, ("AWS_PROFILE", "app")])).AccessKeyId);
        Assert.Equal("ONLY", AwsCredentials.Resolve(null, Env([.. files, ("AWS_PROFILE", "only")])).AccessKeyId);
        var config2 = File("[profile proc]\ncredential_process = /usr/bin/get-creds\n");
        var e = Assert.Throws<InvalidOperationException>(() => AwsCredentials.Resolve(null, Env(("AWS_SHARED_CREDENTIALS_FILE", credentials), ("AWS_CONFIG_FILE", config2), ("AWS_PROFILE", "proc"))));
        Assert.Contains("profile proc uses credential_process, which coffer agent does not support", e.Message, StringComparison.Ordinal);
    }
}
