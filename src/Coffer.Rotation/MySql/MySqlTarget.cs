using System.Data.Common;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Coffer.Core.Rotation;
using Coffer.Rotation.Database;
using MySqlConnector;

namespace Coffer.Rotation.MySql;

/// <summary>
/// MySQL and MariaDB through MySqlConnector. On MariaDB, passwords are sent as mysql_native_password hashes
/// computed here (<c>*</c> + hex SHA1(SHA1(password))), so the general log never sees the plaintext; MySQL 8
/// gets <c>ALTER USER … IDENTIFIED BY</c>, which MySQL itself rewrites in its logs. User names are sent as quoted
/// string literals ('name'@'host'); names with control characters are refused.
/// </summary>
internal sealed partial class MySqlTarget(DatabaseRotatorOptions options) : ITargetDatabase
{
    public int DefaultPort => 3306;
    public string? DefaultDatabase => null;
    public int MaxUserNameLength => options.MySqlUserNameLimit;

    public async Task<DbConnection> OpenAsync(DatabaseLogin login, CancellationToken ct)
    {
        var builder = new MySqlConnectionStringBuilder
        {
            Server = login.Host,
            Port = checked((uint)login.Port),
            UserID = login.Username,
            Password = login.Password,
            ConnectionTimeout = (uint)Math.Max(1, options.ConnectTimeout.TotalSeconds),
            DefaultCommandTimeout = (uint)Math.Max(1, options.CommandTimeout.TotalSeconds),
            Pooling = false,
            SslMode = options.Tls switch
            {
                DatabaseTls.Required => MySqlSslMode.Required,
                DatabaseTls.VerifyFull => MySqlSslMode.VerifyFull,
                DatabaseTls.Disabled => MySqlSslMode.None,
                _ => MySqlSslMode.Preferred,
            },
            AllowPublicKeyRetrieval = false,
        };
        if (!string.IsNullOrEmpty(login.Database)) builder.Database = login.Database;
        var connection = new MySqlConnection(builder.ConnectionString);
        try
        {
            await connection.OpenAsync(ct).ConfigureAwait(false);
            return connection;
        }
        catch (Exception e)
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            if (e is MySqlException { ErrorCode: MySqlErrorCode.AccessDenied or MySqlErrorCode.DatabaseAccessDenied })
                throw new LoginRefusedException(e);
            if (e is OperationCanceledException && ct.IsCancellationRequested) throw;
            throw new RotationStepException(RotationFailureKind.Transient, "could not connect to the database (unreachable, refused or timed out)", e);
        }
    }

    public async Task CheckAsync(DbConnection connection, CancellationToken ct)
    {
        await ExecuteAsync(connection, "SELECT NOW()", ct).ConfigureAwait(false);
    }

    public async Task SetOwnPasswordAsync(DbConnection connection, string username, string password, CancellationToken ct)
    {
        CheckName(username);
        var sql = await IsMariaDbAsync(connection, ct).ConfigureAwait(false)
            ? $"SET PASSWORD = {Literal(NativeHash(password))}"
            : $"ALTER USER CURRENT_USER() IDENTIFIED BY {Literal(password)}";
        await ExecutePasswordAsync(connection, sql, ct).ConfigureAwait(false);
    }

    public async Task<bool> EnsureUserAsync(DbConnection connection, string username, string templateUser, string password, CancellationToken ct)
    {
        CheckName(username);
        CheckName(templateUser);
        var host = await TemplateHostAsync(connection, templateUser, ct).ConfigureAwait(false);
        var user = $"{Literal(username)}@{Literal(host)}";
        var mariaDb = await IsMariaDbAsync(connection, ct).ConfigureAwait(false);
        var exists = await ScalarAsync(connection, "SELECT COUNT(*) FROM mysql.user WHERE User = @u AND Host = @h", ct, ("@u", username), ("@h", host)) > 0;
        if (!exists)
        {
            var create = mariaDb
                ? $"CREATE USER IF NOT EXISTS {user} IDENTIFIED BY PASSWORD {Literal(NativeHash(password))}"
                : $"CREATE USER IF NOT EXISTS {user} IDENTIFIED BY {Literal(password)}";
            await ExecutePasswordAsync(connection, create, ct).ConfigureAwait(false);
        }
        // Copy every grant of the current user (SHOW GRANTS), with the grantee replaced and any password hash
        // dropped; TLS requirements (REQUIRE …) come along in the USAGE line.
        foreach (var grant in await GrantsAsync(connection, templateUser, host, ct).ConfigureAwait(false))
        {
            var m = GrantPattern().Match(grant);
            if (!m.Success) continue;
            var rest = IdentifiedByPattern().Replace(m.Groups[3].Value, "");
            if (m.Groups[1].Value.StartsWith("GRANT PROXY", StringComparison.OrdinalIgnoreCase)) continue;
            await ExecuteAsync(connection, m.Groups[1].Value + user + rest, ct).ConfigureAwait(false);
        }
        var set = mariaDb
            ? $"SET PASSWORD FOR {user} = {Literal(NativeHash(password))}"
            : $"ALTER USER {user} IDENTIFIED BY {Literal(password)}";
        await ExecutePasswordAsync(connection, set, ct).ConfigureAwait(false);
        return !exists;
    }

    private static async Task<string> TemplateHostAsync(DbConnection connection, string templateUser, CancellationToken ct)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT Host FROM mysql.user WHERE User = @u ORDER BY Host = '%' DESC LIMIT 1";
        var p = command.CreateParameter();
        p.ParameterName = "@u";
        p.Value = templateUser;
        command.Parameters.Add(p);
        var host = await Guard(() => command.ExecuteScalarAsync(ct)).ConfigureAwait(false) as string;
        return host ?? throw new RotationStepException(RotationFailureKind.Permanent, "the current user does not exist on the database");
    }

    private static async Task<List<string>> GrantsAsync(DbConnection connection, string user, string host, CancellationToken ct)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = $"SHOW GRANTS FOR {Literal(user)}@{Literal(host)}";
        var grants = new List<string>();
        await using var reader = await Guard(() => command.ExecuteReaderAsync(ct)).ConfigureAwait(false);
        while (await reader.ReadAsync(ct).ConfigureAwait(false)) grants.Add(reader.GetString(0));
        return grants;
    }

    private static async Task<bool> IsMariaDbAsync(DbConnection connection, CancellationToken ct)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT VERSION()";
        var version = await Guard(() => command.ExecuteScalarAsync(ct)).ConfigureAwait(false) as string;
        return version?.Contains("MariaDB", StringComparison.OrdinalIgnoreCase) == true;
    }

    private static async Task<long> ScalarAsync(DbConnection connection, string sql, CancellationToken ct, params (string Name, object Value)[] parameters)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            var p = command.CreateParameter();
            p.ParameterName = name;
            p.Value = value;
            command.Parameters.Add(p);
        }
        return Convert.ToInt64(await Guard(() => command.ExecuteScalarAsync(ct)).ConfigureAwait(false), System.Globalization.CultureInfo.InvariantCulture);
    }

    private static async Task ExecuteAsync(DbConnection connection, string sql, CancellationToken ct)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await Guard(() => command.ExecuteNonQueryAsync(ct)).ConfigureAwait(false);
    }

    /// <summary>A statement that sets a password: a policy refusal (ER_NOT_VALID_PASSWORD) means "try another password".</summary>
    private static async Task ExecutePasswordAsync(DbConnection connection, string sql, CancellationToken ct)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        try { await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false); }
        catch (MySqlException e) when ((int)e.ErrorCode == 1819)
        {
            throw new RotationStepException(RotationFailureKind.PasswordRejected, "the database refused the new password (password policy)", e);
        }
        catch (MySqlException e)
        {
            throw Failure(e);
        }
    }

    private static async Task<T> Guard<T>(Func<Task<T>> call)
    {
        try { return await call().ConfigureAwait(false); }
        catch (MySqlException e) { throw Failure(e); }
    }

    private static RotationStepException Failure(MySqlException e) =>
        e.ErrorCode is MySqlErrorCode.UnableToConnectToHost or MySqlErrorCode.CommandTimeoutExpired || e.IsTransient
            ? new RotationStepException(RotationFailureKind.Transient, "the database connection failed or timed out", e)
            : new RotationStepException(RotationFailureKind.Transient, $"the database answered error {(int)e.ErrorCode}", e);

    /// <summary>mysql_native_password's stored form: '*' + upper-case hex of SHA1(SHA1(password)).</summary>
    internal static string NativeHash(string password)
    {
        var bytes = Encoding.UTF8.GetBytes(password);
        try { return "*" + Convert.ToHexString(SHA1.HashData(SHA1.HashData(bytes))); }
        finally { CryptographicOperations.ZeroMemory(bytes); }
    }

    /// <summary>A single-quoted SQL string literal with backslash and quote escaped (safe with or without NO_BACKSLASH_ESCAPES).</summary>
    internal static string Literal(string value)
    {
        if (value.Contains('\\') || value.Any(char.IsControl))
            throw new RotationStepException(RotationFailureKind.Permanent, "a user name or host holds a backslash or control character");
        return "'" + value.Replace("'", "''", StringComparison.Ordinal) + "'";
    }

    private static void CheckName(string name)
    {
        if (name.Length is 0 or > 80 || name.Any(c => char.IsControl(c) || c is '\\' or '`'))
            throw new RotationStepException(RotationFailureKind.Permanent, "the user name is not allowed (empty, too long, or holding control characters, backslashes or backticks)");
    }

    [GeneratedRegex(@"^(GRANT .+? TO )(`(?:[^`]|``)*`@`(?:[^`]|``)*`|'[^']*'@'[^']*'|\S+)(.*)$", RegexOptions.Singleline)]
    private static partial Regex GrantPattern();

    [GeneratedRegex(@" IDENTIFIED (BY PASSWORD|VIA|WITH) .*?(?=( REQUIRE | WITH |$))", RegexOptions.Singleline)]
    private static partial Regex IdentifiedByPattern();
}
