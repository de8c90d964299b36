using System.Collections.Concurrent;
using Coffer.Core.Principals;

namespace Coffer.Functions;

/// <summary>
/// Temporary credentials of execution roles, as Lambda obtains them: an AssumeRole on behalf of the service
/// principal <c>lambda.amazonaws.com</c>, which the role's trust policy must allow. Credentials are cached per role
/// for <see cref="CacheFor"/> and are only reused while they outlive the invocation's timeout by a minute.
/// The session name is the function name, so the caller ARN seen by Coffer is
/// <c>arn:aws:sts::ACCOUNT:assumed-role/ROLE/FUNCTION</c>; the role's policies are what limit the function.
/// </summary>
internal sealed class RoleCredentials(IamService iam, TimeProvider time)
{
    public const string LambdaService = "lambda.amazonaws.com";
    public static readonly TimeSpan CacheFor = TimeSpan.FromMinutes(5);
    private readonly ConcurrentDictionary<(string Role, string Session), (TemporaryCredentials Credentials, DateTimeOffset Issued)> _cache = new();

    public TemporaryCredentials For(string roleArn, string functionName, TimeSpan timeout)
    {
        var now = time.GetUtcNow();
        var session = SessionName(functionName);
        if (_cache.TryGetValue((roleArn, session), out var hit) && now - hit.Issued < CacheFor
            && hit.Credentials.Expiration - now > timeout + TimeSpan.FromMinutes(1))
            return hit.Credentials;
        // At least AWS's 15-minute minimum, and long enough for the slowest function (900 s) started near the cache's end.
        var lifetime = TimeSpan.FromMinutes(15) + CacheFor + timeout;
        var issued = iam.AssumeRoleForService(roleArn, LambdaService, session, lifetime).Credentials;
        _cache[(roleArn, session)] = (issued, now);
        return issued;
    }

    /// <summary>STS session names are 2–64 characters of [\w+=,.@-]; function names are 1–64 of [A-Za-z0-9_-].</summary>
    private static string SessionName(string functionName)
    {
        var name = new string([.. functionName.Where(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '+' or '=' or ',' or '.' or '@')]);
        if (name.Length < 2) name = (name + "-function")[..Math.Min(64, name.Length + 9)];
        return name.Length > 64 ? name[..64] : name;
    }
}
