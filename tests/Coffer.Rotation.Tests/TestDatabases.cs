using System.Data.Common;
using System.Text.Json;
using MySqlConnector;
using Npgsql;

namespace Coffer.Rotation.Tests;

/// <summary>
/// The real MariaDB and PostgreSQL started by scripts/databases.sh, found through its environment variables.
/// A missing database skips its tests locally and fails them in CI (CI=true).
/// </summary>
public abstract class TestDatabase
{
    public static bool InCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    protected TestDatabase(string prefix)
    {
        Host = Environment.GetEnvironmentVariable($"COFFER_TEST_{prefix}_HOST") ?? "";
        Port = int.TryParse(Environment.GetEnvironmentVariable($"COFFER_TEST_{prefix}_PORT"), out var p) ? p : 0;
        AdminUser = Environment.GetEnvironmentVariable($"COFFER_TEST_{prefix}_ADMIN_USER") ?? "";
        AdminPassword = Environment.GetEnvironmentVariable($"COFFER_TEST_{prefix}_ADMIN_PASSWORD") ?? "";
    }

    public string Host { get; }
    public int Port { get; }
    public string AdminUser { get; }
    public string AdminPassword { get; }
    public bool Available => Host.Length > 0 && Port > 0;
    public abstract string Engine { get; }
    public abstract string FunctionPrefix { get; }
    /// <summary>The server's statement log (general_log / log_statement=all), for the leak scan.</summary>
    public abstract string? StatementLog { get; }

    public string SecretJson(string user, string password, int? port = null, string? masterArn = null) =>
        JsonSerializer.Serialize(new Dictionary<string, object?>
        {
            ["engine"] = Engine, ["host"] = Host, ["port"] = port ?? Port, ["username"] = user, ["password"] = password,
            ["dbname"] = DbName, ["masterarn"] = masterArn,
        }.Where(kv => kv.Value is not null).ToDictionary());

    public abstract string? DbName { get; }
    public abstract Task CreateUserAsync(string user, string password);
    public abstract Task<DbConnection> OpenAsync(string user, string password);
    public abstract Task<List<string>> UsersAsync();

    public async Task<bool> CanLoginAsync(string user, string password)
    {
        try
        {
            await using var c = await OpenAsync(user, password);
            return true;
        }
        catch (DbException) { return false; }
    }
}

public sealed class MariaDb : TestDatabase
{
    public static readonly MariaDb Instance = new();
    private MariaDb() : base("MARIADB") { }
    public override string Engine => "mariadb";
    public override string FunctionPrefix => "coffer-mysql";
    public override string? DbName => "coffer_rot";
    public override string? StatementLog => Environment.GetEnvironmentVariable("COFFER_DB_DIR") is { } d ? Path.Combine(d, "mariadb", "general.log") : null;

    private string Cs(string user, string password, string? db = null) => new MySqlConnectionStringBuilder
    {
        Server = Host, Port = (uint)Port, UserID = user, Password = password, Pooling = false, Database = db ?? "", ConnectionTimeout = 5,
    }.ConnectionString;

    public override async Task<DbConnection> OpenAsync(string user, string password)
    {
        var c = new MySqlConnection(Cs(user, password, DbName));
        try { await c.OpenAsync(); }
        catch { await c.DisposeAsync(); throw; }
        return c;
    }

    public override async Task CreateUserAsync(string user, string password)
    {
        await using var c = new MySqlConnection(Cs(AdminUser, AdminPassword));
        await c.OpenAsync();
        await using var cmd = c.CreateCommand();
        var u = "'" + user.Replace("'", "''") + "'@'%'";
        cmd.CommandText = $"CREATE DATABASE IF NOT EXISTS coffer_rot; CREATE USER {u} IDENTIFIED BY '{password}'; GRANT SELECT ON coffer_rot.* TO {u}";
        await cmd.ExecuteNonQueryAsync();
    }

    public override async Task<List<string>> UsersAsync()
    {
        await using var c = new MySqlConnection(Cs(AdminUser, AdminPassword));
        await c.OpenAsync();
        await using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT CONCAT(User, '@', Host) FROM mysql.user ORDER BY 1";
        var list = new List<string>();
        await using var r = await cmd.ExecuteReaderAsync();
        while (await r.ReadAsync()) list.Add(r.GetString(0));
        return list;
    }
}

public sealed class Postgres : TestDatabase
{
    public static readonly Postgres Instance = new();
    private Postgres() : base("POSTGRES") { }
    public override string Engine => "postgres";
    public override string FunctionPrefix => "coffer-postgresql";
    public override string? DbName => "postgres";
    public override string? StatementLog => Environment.GetEnvironmentVariable("COFFER_DB_DIR") is { } d ? Path.Combine(d, "postgres", "server.log") : null;

    private string Cs(string user, string password) => new NpgsqlConnectionStringBuilder
    {
        Host = Host, Port = Port, Username = user, Password = password, Database = "postgres", Pooling = false, Timeout = 5,
    }.ConnectionString;

    public override async Task<DbConnection> OpenAsync(string user, string password)
    {
        var c = new NpgsqlConnection(Cs(user, password));
        try { await c.OpenAsync(); }
        catch { await c.DisposeAsync(); throw; }
        return c;
    }

    public override async Task CreateUserAsync(string user, string password)
    {
        await using var c = new NpgsqlConnection(Cs(AdminUser, AdminPassword));
        await c.OpenAsync();
        await using var cmd = c.CreateCommand();
        cmd.CommandText = $"CREATE ROLE \"{user.Replace("\"", "\"\"")}\" WITH LOGIN PASSWORD '{password}'";
        await cmd.ExecuteNonQueryAsync();
    }

    public override async Task<List<string>> UsersAsync()
    {
        await using var c = new NpgsqlConnection(Cs(AdminUser, AdminPassword));
        await c.OpenAsync();
        await using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT rolname FROM pg_roles ORDER BY 1";
        var list = new List<string>();
        await using var r = await cmd.ExecuteReaderAsync();
        while (await r.ReadAsync()) list.Add(r.GetString(0));
        return list;
    }
}

/// <summary>A theory that needs MariaDB: skipped when it is missing, unless CI=true (then it runs and fails).</summary>
public sealed class MariaDbTheoryAttribute : TheoryAttribute
{
    public MariaDbTheoryAttribute()
    {
        if (!MariaDb.Instance.Available && !TestDatabase.InCi) Skip = "MariaDB not running (eval \"$(scripts/databases.sh start)\")";
    }
}

/// <summary>A theory that needs PostgreSQL: skipped when it is missing, unless CI=true (then it runs and fails).</summary>
public sealed class PostgresTheoryAttribute : TheoryAttribute
{
    public PostgresTheoryAttribute()
    {
        if (!Postgres.Instance.Available && !TestDatabase.InCi) Skip = "PostgreSQL not running (eval \"$(scripts/databases.sh start)\")";
    }
}
