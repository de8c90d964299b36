using System.Globalization;
using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Coffer.Agent;

/// <summary>
/// A profile of the AWS config file that assumes a role, as the AWS SDKs and CLI read it: <c>role_arn</c> with
/// <c>source_profile</c> (static keys, or another role profile: role chaining) or <c>credential_source =
/// Environment</c>, and optionally <c>role_session_name</c>, <c>duration_seconds</c> and <c>external_id</c>.
/// </summary>
internal sealed record RoleProfile(string Name, string RoleArn, string SessionName, int DurationSeconds, string? ExternalId,
    RoleProfile? SourceRole, AwsCredentials? SourceKeys)
{
    /// <summary>Whether this role, or a source role of its chain, is assumed with the environment's keys.</summary>
    public bool UsesEnvironment => SourceKeys?.Source == "environment" || SourceRole?.UsesEnvironment == true;

    private static readonly Regex SessionNamePattern = new(@"^[\w+=,.@-]{2,64}$", RegexOptions.CultureInvariant);
    private static readonly Regex ExternalIdPattern = new(@"^[\w+=,.@:/-]{2,1224}$", RegexOptions.CultureInvariant);

    /// <summary>
    /// The role profile named by AWS_PROFILE (or default); null when that profile has no <c>role_arn</c>. Profiles
    /// are those of AWS_CONFIG_FILE (or ~/.aws/config) with the keys of the same profile of the credentials file
    /// (AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials) laid over them, as botocore merges them. Throws
    /// <see cref="InvalidOperationException"/> for a role profile that cannot work (no source, a source without keys,
    /// MFA, a loop, a value STS would refuse).
    /// </summary>
    public static RoleProfile? Find(Func<string, string?> env, TimeProvider time)
    {
        var profile = NonEmpty(env("AWS_PROFILE")) ?? "default";
        var profiles = IniFile.Read(ConfigPath(env), configFile: true);
        foreach (var (name, keys) in IniFile.Read(NonEmpty(env("AWS_SHARED_CREDENTIALS_FILE")) ?? Path.Combine(Home(env), ".aws", "credentials"), configFile: false))
        {
            if (!profiles.TryGetValue(name, out var merged)) profiles[name] = merged = new(StringComparer.Ordinal);
            foreach (var (key, value) in keys) merged[key] = value;
        }
        if (!profiles.TryGetValue(profile, out var section) || !section.ContainsKey("role_arn")) return null;
        return Build(profile, profiles, env, time, visited: [profile]);
    }

    private static RoleProfile Build(string name, Dictionary<string, Dictionary<string, string>> profiles, Func<string, string?> env,
        TimeProvider time, List<string> visited)
    {
        var s = profiles[name];
        if (s.ContainsKey("mfa_serial")) throw new InvalidOperationException($"Profile {name}: mfa_serial is not supported by coffer agent.");
        var roleArn = s["role_arn"];
        if (!roleArn.StartsWith("arn:", StringComparison.Ordinal) || roleArn.Any(char.IsWhiteSpace))
            throw Invalid(name, "role_arn", roleArn, "must be a role ARN");
        var duration = 3600;
        if (s.TryGetValue("duration_seconds", out var d) && (!int.TryParse(d, NumberStyles.None, CultureInfo.InvariantCulture, out duration) || duration is < 900 or > 43200))
            throw Invalid(name, "duration_seconds", d, "must be from 900 to 43200");
        var sessionName = s.GetValueOrDefault("role_session_name")
            ?? "coffer-agent-" + time.GetUtcNow().ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture);
        if (!SessionNamePattern.IsMatch(sessionName))
            throw Invalid(name, "role_session_name", sessionName, "must be 2 to 64 characters of letters, digits and +=,.@_-");
        var externalId = s.GetValueOrDefault("external_id");
        if (externalId is not null && !ExternalIdPattern.IsMatch(externalId))
            throw Invalid(name, "external_id", externalId, "must be 2 to 1224 characters of letters, digits and +=,.@:/_-");

        RoleProfile? sourceRole = null;
        AwsCredentials? sourceKeys = null;
        if (s.TryGetValue("credential_source", out var source))
        {
            if (s.ContainsKey("source_profile"))
                throw new InvalidOperationException($"Profile {name}: source_profile and credential_source are mutually exclusive.");
            if (!string.Equals(source, "Environment", StringComparison.Ordinal))
                throw Invalid(name, "credential_source", source, "is not available outside AWS; use Environment or source_profile");
            sourceKeys = NonEmpty(env("AWS_ACCESS_KEY_ID")) is { } id && NonEmpty(env("AWS_SECRET_ACCESS_KEY")) is { } secret
                ? new AwsCredentials(id, secret, NonEmpty(env("AWS_SESSION_TOKEN")), "environment")
                : throw new InvalidOperationException($"Profile {name}: credential_source = Environment, but AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY are not set.");
        }
        else if (s.TryGetValue("source_profile", out var sourceName))
        {
            if (!profiles.TryGetValue(sourceName, out var src))
                throw Invalid(name, "source_profile", sourceName, "names no profile of the config or credentials file");
            // botocore's rules: a source profile's static keys come first, even when it has a role_arn of its own
            // (only a source without keys assumes its role first: role chaining); a profile may name itself to take
            // its own keys; any other return to a profile already visited is a loop.
            sourceKeys = AwsCredentials.FromSection(src, $"profile {sourceName}");
            if (sourceKeys is null)
            {
                if (visited.Contains(sourceName) || !src.ContainsKey("role_arn"))
                    throw new InvalidOperationException(visited.Contains(sourceName)
                        ? $"Profile {name}: source_profile {sourceName} leads back to a profile already used ({string.Join(" -> ", visited)}): a loop."
                        : AwsCredentials.Unsupported(src) is { } key
                            ? $"Profile {name}: source_profile {sourceName} uses {key}, which coffer agent does not support."
                            : $"Profile {name}: source_profile {sourceName} has no aws_access_key_id / aws_secret_access_key.");
                sourceRole = Build(sourceName, profiles, env, time, [.. visited, sourceName]);
            }
        }
        else throw new InvalidOperationException($"Profile {name}: role_arn needs source_profile or credential_source.");
        return new RoleProfile(name, roleArn, sessionName, duration, externalId, sourceRole, sourceKeys);
    }

    private static InvalidOperationException Invalid(string profile, string key, string value, string rule) =>
        new($"Profile {profile}: {key} \"{value.ReplaceLineEndings(" ")}\" {rule}"
            + (value.Contains(" #", StringComparison.Ordinal) || value.Contains(" ;", StringComparison.Ordinal)
                ? " (text after a value is part of it: the AWS CLI and SDKs read no comment there)." : "."));

    /// <summary>AWS_CONFIG_FILE, else ~/.aws/config.</summary>
    public static string ConfigPath(Func<string, string?> env) => NonEmpty(env("AWS_CONFIG_FILE")) ?? Path.Combine(Home(env), ".aws", "config");

    private static string Home(Func<string, string?> env) =>
        NonEmpty(env("HOME")) ?? Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);

    private static string? NonEmpty(string? s) => string.IsNullOrEmpty(s) ? null : s;
}

/// <summary>
/// Temporary credentials for a <see cref="RoleProfile"/> from the Coffer server's STS AssumeRole (Query protocol,
/// signed for service <c>sts</c> on the same endpoint), assuming each role of a chain in turn.
/// </summary>
internal sealed class RoleCredentialsSource(RoleProfile profile, Uri endpoint, string region, TimeSpan timeout, TimeProvider time) : IDisposable
{
    private readonly HttpClient _http = new(new SocketsHttpHandler { UseProxy = false, ConnectTimeout = TimeSpan.FromSeconds(5) }) { Timeout = timeout };

    public RoleProfile Profile => profile;

    /// <summary>Assumes the role (and its source roles first). Throws <see cref="InvalidOperationException"/> naming the failure.</summary>
    public Task<AwsCredentials> AssumeAsync(CancellationToken ct) => AssumeAsync(profile, ct);

    private async Task<AwsCredentials> AssumeAsync(RoleProfile role, CancellationToken ct)
    {
        var source = role.SourceKeys ?? await AssumeAsync(role.SourceRole!, ct).ConfigureAwait(false);
        var form = new List<KeyValuePair<string, string>>
        {
            new("Action", "AssumeRole"), new("Version", "2011-06-15"), new("RoleArn", role.RoleArn),
            new("RoleSessionName", role.SessionName), new("DurationSeconds", role.DurationSeconds.ToString(CultureInfo.InvariantCulture)),
        };
        if (role.ExternalId is not null) form.Add(new("ExternalId", role.ExternalId));
        var body = Encoding.UTF8.GetBytes(string.Join('&', form.Select(p => Uri.EscapeDataString(p.Key) + "=" + Uri.EscapeDataString(p.Value))));
        var headers = new SortedDictionary<string, string>(StringComparer.Ordinal) { ["content-type"] = "application/x-www-form-urlencoded; charset=utf-8" };
        var host = UpstreamClient.HostHeader(endpoint);
        var path = string.IsNullOrEmpty(endpoint.AbsolutePath) ? "/" : endpoint.AbsolutePath;
        new SigV4Signer(source, region, "sts").Sign("POST", host, path, [], headers, body, time.GetUtcNow());
        using var request = new HttpRequestMessage(HttpMethod.Post, endpoint) { Content = new ByteArrayContent(body) };
        foreach (var (name, value) in headers)
        {
            if (name == "content-type") request.Content.Headers.TryAddWithoutValidation("Content-Type", value);
            else if (name != "host") request.Headers.TryAddWithoutValidation(name, value);
        }
        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(request, ct).ConfigureAwait(false);
        }
        catch (HttpRequestException e) when (e.HttpRequestError == HttpRequestError.SecureConnectionError)
        {
            // Not worth waiting for: an untrusted or mismatched certificate stays so (SSL_CERT_FILE adds a CA).
            throw new InvalidOperationException(
                $"AssumeRole {role.RoleArn} (profile {role.Name}): TLS with {endpoint.Authority} failed: {e.InnerException?.Message ?? e.Message}", e);
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            var reason = e is HttpRequestException h ? h.HttpRequestError.ToString() : "timeout";
            throw new StsUnavailableException($"AssumeRole {role.RoleArn} (profile {role.Name}): the server did not answer ({reason}).", e);
        }
        using (response)
        {
            var text = await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false);
            XDocument xml;
            try { xml = XDocument.Parse(text); }
            catch (System.Xml.XmlException)
            {
                var noAnswer = $"AssumeRole {role.RoleArn} (profile {role.Name}): HTTP {(int)response.StatusCode} without an STS answer.";
                throw (int)response.StatusCode >= 500 ? new StsUnavailableException(noAnswer, null) : new InvalidOperationException(noAnswer);
            }
            if (response.StatusCode != HttpStatusCode.OK)
            {
                var code = xml.Descendants().FirstOrDefault(e => e.Name.LocalName == "Code")?.Value ?? ((int)response.StatusCode).ToString(CultureInfo.InvariantCulture);
                var message = xml.Descendants().FirstOrDefault(e => e.Name.LocalName == "Message")?.Value;
                var refusal = $"AssumeRole {role.RoleArn} (profile {role.Name}) was refused: {code}: {message}";
                throw (int)response.StatusCode >= 500 || code is "Throttling" or "ThrottlingException"
                    ? new StsUnavailableException(refusal, null) : new InvalidOperationException(refusal);
            }
            string Field(string name) => xml.Descendants().FirstOrDefault(e => e.Name.LocalName == name)?.Value
                ?? throw new InvalidOperationException($"AssumeRole {role.RoleArn} (profile {role.Name}): the answer has no {name}.");
            return new AwsCredentials(Field("AccessKeyId"), Field("SecretAccessKey"), Field("SessionToken"),
                $"role {role.RoleArn} (profile {role.Name})",
                DateTimeOffset.Parse(Field("Expiration"), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal));
        }
    }

    public void Dispose() => _http.Dispose();
}

/// <summary>STS could not be reached or could not answer now (no answer, 5xx, throttling): worth trying again.</summary>
internal sealed class StsUnavailableException(string message, Exception? inner) : InvalidOperationException(message, inner);

/// <summary>
/// Keeps role credentials fresh: assumes the role again five minutes before they expire (a quarter of their
/// lifetime when that is shorter), as the AWS SDKs do. After a failure it tries again after 1 s, then twice as long
/// each time up to 30 s, and goes on after the credentials have expired, so that the agent recovers within seconds
/// of the server coming back rather than up to half a minute later.
/// </summary>
internal sealed class RoleCredentialsRefresher(RoleCredentialsSource source, SigV4Signer signer, TimeProvider time, ILogger<RoleCredentialsRefresher> log)
    : BackgroundService
{
    public static readonly TimeSpan MaxRetryInterval = TimeSpan.FromSeconds(30);

    /// <summary>The wait after the given number of consecutive failed renewals (1 s, 2 s, 4 s, … at most 30 s).</summary>
    public static TimeSpan RetryDelay(int failures) =>
        TimeSpan.FromSeconds(Math.Min(MaxRetryInterval.TotalSeconds, Math.Pow(2, Math.Clamp(failures - 1, 0, 16))));

    /// <summary>
    /// When the current credentials should be replaced; never sooner than a second after they were issued, so an
    /// expiration already past by the agent's clock (a server clock far behind) cannot make it renew in a loop.
    /// </summary>
    public static DateTimeOffset RefreshAt(AwsCredentials current, DateTimeOffset issued)
    {
        var expires = current.Expiration ?? issued.AddHours(1);
        var margin = TimeSpan.FromTicks(Math.Min(TimeSpan.FromMinutes(5).Ticks, (expires - issued).Ticks / 4));
        var at = expires - margin;
        return at > issued.AddSeconds(1) ? at : issued.AddSeconds(1);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var next = RefreshAt(signer.Credentials, time.GetUtcNow());
        var failures = 0;
        while (!stoppingToken.IsCancellationRequested)
        {
            var wait = next - time.GetUtcNow();
            try { if (wait > TimeSpan.Zero) await Task.Delay(wait, time, stoppingToken).ConfigureAwait(false); }
            catch (OperationCanceledException) { break; }
            try
            {
                var now = time.GetUtcNow();
                var fresh = await source.AssumeAsync(stoppingToken).ConfigureAwait(false);
                signer.Credentials = fresh;
                next = RefreshAt(fresh, now);
                failures = 0;
                log.LogInformation("Refreshed upstream credentials: {Credentials}, expiring {Expiration:O}", fresh.ToString(), fresh.Expiration);
            }
            catch (InvalidOperationException e)
            {
                var delay = RetryDelay(++failures);
                log.LogWarning("Could not refresh the role credentials ({Error}); trying again in {Seconds} s", e.Message, delay.TotalSeconds);
                next = time.GetUtcNow() + delay;
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested) { break; }
        }
    }
}

/// <summary>
/// The AWS shared config and credentials files' INI form, read as botocore reads it (Python's configparser):
/// <c>key = value</c> or <c>key: value</c>, keys lower-cased, whole-line comments only (<c>#</c>, <c>;</c>: text
/// after a value is part of it), an indented line continues the previous value (after an empty value it is a
/// nested sub-section such as <c>s3 =</c>, which no profile key comes from); a section or key given twice, a line
/// that is neither, or a setting before the first section makes the file unusable. Unlike botocore, a UTF-8 byte-order mark is accepted.
/// </summary>
internal static class IniFile
{
    /// <summary>
    /// Sections by profile name; none when the file does not exist. In the config file a profile is
    /// <c>[profile NAME]</c> (or <c>[default]</c>; NAME may be quoted) and other sections (<c>[sso-session …]</c>,
    /// <c>[services …]</c>) are skipped; in the credentials file it is <c>[NAME]</c>. Throws
    /// <see cref="InvalidOperationException"/> naming the file and line for a duplicate.
    /// </summary>
    public static Dictionary<string, Dictionary<string, string>> Read(string path, bool configFile)
    {
        var sections = new Dictionary<string, Dictionary<string, string>>(StringComparer.Ordinal);
        if (!File.Exists(path)) return sections;
        var headers = new HashSet<string>(StringComparer.Ordinal);
        Dictionary<string, string>? current = null;
        string? lastKey = null;
        var number = 0;
        foreach (var raw in File.ReadLines(path))
        {
            number++;
            var line = raw.Trim();
            if (line.Length == 0 || line[0] is '#' or ';') continue;
            if (raw[0] is ' ' or '\t' && lastKey is not null)
            {
                if (current is not null && current[lastKey].Length > 0) current[lastKey] += "\n" + line;
                continue;
            }
            lastKey = null;
            // configparser's header is what lies between '[' and the last ']': "[profile app] # app role" is
            // [profile app]. Were such a line skipped, its keys would land in the profile above it.
            if (line[0] == '[' && line.LastIndexOf(']') is var close and > 0)
            {
                var header = line[1..close].Trim();
                if (!headers.Add(header)) throw new InvalidOperationException($"{path} line {number}: section [{header}] appears twice.");
                var name = !configFile || header == "default" ? header
                    : header.StartsWith("profile ", StringComparison.Ordinal) ? Unquote(header[8..].Trim())
                    : null;   // [sso-session …], [services …], and [Profile x] (botocore: not a profile)
                if (name is not null && sections.ContainsKey(name))
                    throw new InvalidOperationException($"{path} line {number}: profile {name} is defined twice ([default] and [profile default]); keep one.");
                current = name is null ? null : sections[name] = new(StringComparer.Ordinal);
                continue;
            }
            var eq = line.IndexOfAny(['=', ':']);
            if (eq <= 0 || headers.Count == 0)   // configparser refuses the whole file, and so the CLI does
                throw new InvalidOperationException($"{path} line {number}: " + (headers.Count == 0
                    ? "a setting before the first [section]." : "neither [section] nor key = value."));
            if (current is null) continue;
            var key = line[..eq].Trim().ToLowerInvariant();
            if (!current.TryAdd(key, line[(eq + 1)..].Trim()))
                throw new InvalidOperationException($"{path} line {number}: {key} is set twice in one section.");
            lastKey = key;
        }
        return sections;
    }

    private static string Unquote(string name) => name.Length >= 2 && name[0] == '"' && name[^1] == '"' ? name[1..^1] : name;
}
