using System.Data.Common;
using System.Security.Cryptography;
using System.Text;
using Coffer.Core.Rotation;
using Coffer.Rotation.Database;
using Npgsql;

namespace Coffer.Rotation.Postgres;

/// <summary>
/// PostgreSQL through Npgsql. Passwords reach the server only as SCRAM-SHA-256 verifiers computed here
/// (<see cref="ScramVerifier"/>), so <c>log_statement=all</c> shows a verifier, never the password. Role names
/// are quoted as identifiers (double quotes doubled, as quote_ident does).
/// </summary>
internal sealed class PostgresTarget(DatabaseRotatorOptions options) : ITargetDatabase
{
    public const int MaxIdentifierLength = 63;

    public int DefaultPort => 5432;
    public string? DefaultDatabase => "postgres";
    public int MaxUserNameLength => MaxIdentifierLength;

    public async Task<DbConnection> OpenAsync(DatabaseLogin login, CancellationToken ct)
    {
        var builder = new NpgsqlConnectionStringBuilder
        {
            Host = login.Host,
            Port = login.Port,
            Username = login.Username,
            Password = login.Password,
            Database = login.Database ?? "postgres",
            Timeout = (int)Math.Max(1, options.ConnectTimeout.TotalSeconds),
            CommandTimeout = (int)Math.Max(1, options.CommandTimeout.TotalSeconds),
            Pooling = false,
            SslMode = options.Tls switch
            {
                DatabaseTls.Required => SslMode.Require,
                DatabaseTls.VerifyFull => SslMode.VerifyFull,
                DatabaseTls.Disabled => SslMode.Disable,
                _ => SslMode.Prefer,
            },
            ApplicationName = "coffer-rotation",
        };
        var connection = new NpgsqlConnection(builder.ConnectionString);
        try
        {
            await connection.OpenAsync(ct).ConfigureAwait(false);
            return connection;
        }
        catch (Exception e)
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            // 28P01 invalid_password, 28000 invalid_authorization_specification (no such role, pg_hba refusal).
            if (e is PostgresException { SqlState: "28P01" or "28000" }) throw new LoginRefusedException(e);
            if (e is OperationCanceledException && ct.IsCancellationRequested) throw;
            throw new RotationStepException(RotationFailureKind.Transient, "could not connect to the database (unreachable, refused or timed out)", e);
        }
    }

    public Task CheckAsync(DbConnection connection, CancellationToken ct) => ExecuteAsync(connection, "SELECT now()", ct);

    public Task SetOwnPasswordAsync(DbConnection connection, string username, string password, CancellationToken ct) =>
        ExecutePasswordAsync(connection, $"ALTER ROLE {Identifier(username)} WITH PASSWORD {Literal(ScramVerifier(password))}", ct);

    public async Task<bool> EnsureUserAsync(DbConnection connection, string username, string templateUser, string password, CancellationToken ct)
    {
        var role = Identifier(username);
        var verifier = Literal(ScramVerifier(password));
        await using (var check = connection.CreateCommand())
        {
            check.CommandText = "SELECT count(*) FROM pg_roles WHERE rolname = @r";
            var p = check.CreateParameter();
            p.ParameterName = "r";
            p.Value = username;
            check.Parameters.Add(p);
            var exists = Convert.ToInt64(await Guard(() => check.ExecuteScalarAsync(ct)).ConfigureAwait(false), System.Globalization.CultureInfo.InvariantCulture) > 0;
            if (exists)
            {
                await ExecutePasswordAsync(connection, $"ALTER ROLE {role} WITH PASSWORD {verifier}", ct).ConfigureAwait(false);
                return false;
            }
        }
        try
        {
            await ExecutePasswordAsync(connection, $"CREATE ROLE {role} WITH LOGIN PASSWORD {verifier}", ct).ConfigureAwait(false);
        }
        catch (RotationStepException e) when (e.InnerException is PostgresException { SqlState: "42710" })
        {
            // duplicate_object: created by an earlier attempt that crashed before recording (matrix F3 R8).
            await ExecutePasswordAsync(connection, $"ALTER ROLE {role} WITH PASSWORD {verifier}", ct).ConfigureAwait(false);
            return false;
        }
        await ExecuteAsync(connection, $"GRANT {Identifier(templateUser)} TO {role}", ct).ConfigureAwait(false);
        return true;
    }

    private static async Task ExecuteAsync(DbConnection connection, string sql, CancellationToken ct)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await Guard(() => command.ExecuteNonQueryAsync(ct)).ConfigureAwait(false);
    }

    private static async Task ExecutePasswordAsync(DbConnection connection, string sql, CancellationToken ct)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        try { await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false); }
        // A password check hook (passwordcheck, credcheck) refuses with invalid_parameter_value.
        catch (PostgresException e) when (e.SqlState == "22023")
        {
            throw new RotationStepException(RotationFailureKind.PasswordRejected, "the database refused the new password (password policy)", e);
        }
        catch (NpgsqlException e)
        {
            throw Failure(e);
        }
    }

    private static async Task<T> Guard<T>(Func<Task<T>> call)
    {
        try { return await call().ConfigureAwait(false); }
        catch (NpgsqlException e) { throw Failure(e); }
    }

    private static RotationStepException Failure(NpgsqlException e) => e is PostgresException pg
        ? new RotationStepException(RotationFailureKind.Transient, $"the database answered SQLSTATE {pg.SqlState}", e)
        : new RotationStepException(RotationFailureKind.Transient, "the database connection failed or timed out", e);

    /// <summary>quote_ident: double quotes around, inner double quotes doubled; NUL refused; at most 63 bytes.</summary>
    internal static string Identifier(string name)
    {
        if (name.Length == 0 || name.Contains('\0') || Encoding.UTF8.GetByteCount(name) > MaxIdentifierLength)
            throw new RotationStepException(RotationFailureKind.Permanent, "the role name is not allowed (empty, NUL, or longer than 63 bytes)");
        return "\"" + name.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
    }

    private static string Literal(string value) => "'" + value.Replace("'", "''", StringComparison.Ordinal) + "'";

    /// <summary>
    /// The SCRAM-SHA-256 verifier PostgreSQL stores (RFC 5802/7677):
    /// <c>SCRAM-SHA-256$ITERATIONS:base64(salt)$base64(StoredKey):base64(ServerKey)</c>, where
    /// SaltedPassword = PBKDF2-HMAC-SHA-256(password, salt, ITERATIONS), StoredKey = SHA-256(HMAC(SaltedPassword,
    /// "Client Key")), ServerKey = HMAC(SaltedPassword, "Server Key"). Passwords are normalised with NFKC (the
    /// core of SASLprep) when they are not plain ASCII.
    /// </summary>
    internal static string ScramVerifier(string password, int iterations = 4096, byte[]? salt = null)
    {
        salt ??= RandomNumberGenerator.GetBytes(16);
        var normalized = password.All(char.IsAscii) ? password : password.Normalize(NormalizationForm.FormKC);
        var bytes = Encoding.UTF8.GetBytes(normalized);
        var salted = Rfc2898DeriveBytes.Pbkdf2(bytes, salt, iterations, HashAlgorithmName.SHA256, 32);
        try
        {
            var clientKey = HMACSHA256.HashData(salted, "Client Key"u8);
            var storedKey = SHA256.HashData(clientKey);
            var serverKey = HMACSHA256.HashData(salted, "Server Key"u8);
            return $"SCRAM-SHA-256${iterations}:{Convert.ToBase64String(salt)}${Convert.ToBase64String(storedKey)}:{Convert.ToBase64String(serverKey)}";
        }
        finally
        {
            CryptographicOperations.ZeroMemory(bytes);
            CryptographicOperations.ZeroMemory(salted);
        }
    }
}
