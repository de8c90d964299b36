namespace Coffer.Agent;

/// <summary>Upstream credentials. <see cref="ToString"/> never shows the secret key or session token.</summary>
internal sealed record AwsCredentials(string AccessKeyId, string SecretAccessKey, string? SessionToken, string Source,
    DateTimeOffset? Expiration = null)
{
    public override string ToString() => $"{AccessKeyId} (from {Source})";

    /// <summary>
    /// The standard chain, as far as it applies off AWS: <c>credentials_file_path</c> from the config file when
    /// set (as AWS's agent does); else, unless AWS_PROFILE names a profile explicitly, AWS_ACCESS_KEY_ID /
    /// AWS_SECRET_ACCESS_KEY (/ AWS_SESSION_TOKEN); else the
    /// shared credentials file (AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials), profile AWS_PROFILE or default;
    /// else the keys of that profile in the config file.
    /// (A role profile of the config file, <see cref="RoleProfile"/>, comes before the credentials file; the host
    /// asks for it.)
    /// </summary>
    public static AwsCredentials Resolve(string? credentialsFilePath, Func<string, string?> env)
    {
        var profile = NonEmpty(env("AWS_PROFILE")) ?? "default";
        if (credentialsFilePath is not null)
            return FromFile(credentialsFilePath, profile) ?? throw new InvalidOperationException($"No credentials for profile {profile} in {credentialsFilePath}.");

        var id = NonEmpty(env("AWS_ACCESS_KEY_ID"));
        var secret = NonEmpty(env("AWS_SECRET_ACCESS_KEY"));
        if (id is not null && secret is not null && NonEmpty(env("AWS_PROFILE")) is null)
            return new AwsCredentials(id, secret, NonEmpty(env("AWS_SESSION_TOKEN")), "environment");

        var file = NonEmpty(env("AWS_SHARED_CREDENTIALS_FILE"))
            ?? Path.Combine(NonEmpty(env("HOME")) ?? Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".aws", "credentials");
        var sections = IniFile.Read(file, configFile: false);
        var configFile = RoleProfile.ConfigPath(env);
        // Then the profile's keys in the config file, as botocore's config-file provider reads them.
        var config = IniFile.Read(configFile, configFile: true).GetValueOrDefault(profile);
        return FromSection(sections.GetValueOrDefault(profile), $"{file} [{profile}]")
            ?? FromSection(config, $"{configFile} profile {profile}")
            ?? throw new InvalidOperationException(
                $"No upstream credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (without AWS_PROFILE), or a profile {profile} with keys in {file} or {configFile}"
                + ((Unsupported(sections.GetValueOrDefault(profile)) ?? Unsupported(config)) is { } key
                    ? $" (profile {profile} uses {key}, which coffer agent does not support)."
                    : sections.ContainsKey("profile " + profile) ? $" (the credentials file names it [{profile}], not [profile {profile}])." : "."));
    }

    /// <summary>
    /// The key of a credential source the SDKs know and the agent does not (SSO, credential_process, web identity),
    /// to name in an error; null when the profile uses none.
    /// </summary>
    public static string? Unsupported(Dictionary<string, string>? section) =>
        section is null ? null
        : new[] { "credential_process", "sso_session", "sso_start_url", "web_identity_token_file", "login_session" }.FirstOrDefault(section.ContainsKey);

    private static AwsCredentials? FromFile(string path, string profile) =>
        FromSection(IniFile.Read(path, configFile: false).GetValueOrDefault(profile), $"{path} [{profile}]");

    /// <summary>The static keys of one profile section (credentials or config file); null without both keys.</summary>
    public static AwsCredentials? FromSection(Dictionary<string, string>? section, string source) =>
        section is not null && section.TryGetValue("aws_access_key_id", out var id) && id.Length > 0
            && section.TryGetValue("aws_secret_access_key", out var secret) && secret.Length > 0
            ? new AwsCredentials(id, secret, NonEmpty(section.GetValueOrDefault("aws_session_token")), source)
            : null;

    private static string? NonEmpty(string? s) => string.IsNullOrEmpty(s) ? null : s;
}
