namespace Coffer.Agent;

/// <summary>Upstream credentials. <see cref="ToString"/> never shows the secret key or session token.</summary>
internal sealed record AwsCredentials(string AccessKeyId, string SecretAccessKey, string? SessionToken, string Source)
{
    public override string ToString() => $"{AccessKeyId} (from {Source})";

    /// <summary>
    /// The standard chain, as far as it applies off AWS: <c>credentials_file_path</c> from the config file when
    /// set (as AWS's agent does); else AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (/ AWS_SESSION_TOKEN); else the
    /// shared credentials file (AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials), profile AWS_PROFILE or default.
    /// </summary>
    public static AwsCredentials Resolve(string? credentialsFilePath, Func<string, string?> env)
    {
        var profile = NonEmpty(env("AWS_PROFILE")) ?? "default";
        if (credentialsFilePath is not null)
            return FromFile(credentialsFilePath, profile) ?? throw new InvalidOperationException($"No credentials for profile {profile} in {credentialsFilePath}.");

        var id = NonEmpty(env("AWS_ACCESS_KEY_ID"));
        var secret = NonEmpty(env("AWS_SECRET_ACCESS_KEY"));
        if (id is not null && secret is not null)
            return new AwsCredentials(id, secret, NonEmpty(env("AWS_SESSION_TOKEN")), "environment");

        var file = NonEmpty(env("AWS_SHARED_CREDENTIALS_FILE"))
            ?? Path.Combine(NonEmpty(env("HOME")) ?? Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".aws", "credentials");
        return FromFile(file, profile)
            ?? throw new InvalidOperationException(
                $"No upstream credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a profile {profile} in {file}.");
    }

    private static AwsCredentials? FromFile(string path, string profile)
    {
        if (!File.Exists(path)) return null;
        string? section = null;
        string? id = null, secret = null, token = null;
        foreach (var rawLine in File.ReadLines(path))
        {
            var line = rawLine.Trim();
            if (line.Length == 0 || line[0] is '#' or ';') continue;
            if (line[0] == '[' && line[^1] == ']')
            {
                section = line[1..^1].Trim();
                continue;
            }
            if (section != profile) continue;
            var eq = line.IndexOf('=');
            if (eq <= 0) continue;
            var key = line[..eq].Trim().ToLowerInvariant();
            var value = line[(eq + 1)..].Trim();
            switch (key)
            {
                case "aws_access_key_id": id = value; break;
                case "aws_secret_access_key": secret = value; break;
                case "aws_session_token": token = NonEmpty(value); break;
            }
        }
        return id is { Length: > 0 } && secret is { Length: > 0 } ? new AwsCredentials(id, secret, token, $"{path} [{profile}]") : null;
    }

    private static string? NonEmpty(string? s) => string.IsNullOrEmpty(s) ? null : s;
}
