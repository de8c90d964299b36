using System.Globalization;
using System.Reflection;

namespace Coffer.Storage.Sqlite;

/// <summary>
/// Applies the embedded scripts <c>Sqlite/Migrations/NNN_*.sql</c> in order, each recorded in
/// <c>schema_version</c>, all in one transaction: a crash mid-migration leaves the previous schema.
/// </summary>
internal static class SqliteMigrations
{
    private const string Prefix = "Coffer.Storage.Sqlite.Migrations.";

    public static IReadOnlyList<(int Version, string Resource)> All { get; } = Discover();

    public static int LatestVersion => All.Count == 0 ? 0 : All[^1].Version;

    public static void Apply(SqliteSession session)
    {
        var connection = session.Connection;
        using var command = connection.CreateCommand();
        command.CommandText = "BEGIN IMMEDIATE";
        command.ExecuteNonQuery();
        try
        {
            command.CommandText =
                "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_ms INTEGER NOT NULL); " +
                "SELECT coalesce(max(version), 0) FROM schema_version";
            var current = Convert.ToInt32(command.ExecuteScalar(), CultureInfo.InvariantCulture);
            if (current > LatestVersion)
                throw new InvalidOperationException(
                    $"The database has schema version {current}, newer than this Coffer knows ({LatestVersion}).");

            foreach (var (version, resource) in All)
            {
                if (version <= current) continue;
                command.CommandText = ReadScript(resource);
                command.ExecuteNonQuery();
                command.CommandText = "INSERT INTO schema_version (version, applied_ms) VALUES ($v, $t)";
                command.Parameters.AddWithValue("$v", version);
                command.Parameters.AddWithValue("$t", DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
                command.ExecuteNonQuery();
                command.Parameters.Clear();
            }
            command.CommandText = "COMMIT";
            command.ExecuteNonQuery();
        }
        catch
        {
            if (session.InTransaction)
            {
                command.Parameters.Clear();
                command.CommandText = "ROLLBACK";
                command.ExecuteNonQuery();
            }
            throw;
        }
    }

    private static List<(int, string)> Discover()
    {
        var list = new List<(int, string)>();
        foreach (var name in typeof(SqliteMigrations).Assembly.GetManifestResourceNames())
        {
            if (!name.StartsWith(Prefix, StringComparison.Ordinal) || !name.EndsWith(".sql", StringComparison.Ordinal))
                continue;
            var file = name[Prefix.Length..];
            var underscore = file.IndexOf('_');
            if (underscore <= 0 || !int.TryParse(file.AsSpan(0, underscore), NumberStyles.None, CultureInfo.InvariantCulture, out var version))
                throw new InvalidOperationException($"Migration resource {name} is not named NNN_description.sql.");
            list.Add((version, name));
        }
        list.Sort((a, b) => a.Item1.CompareTo(b.Item1));
        for (var i = 1; i < list.Count; i++)
            if (list[i].Item1 == list[i - 1].Item1)
                throw new InvalidOperationException($"Two migrations have version {list[i].Item1}.");
        return list;
    }

    private static string ReadScript(string resource)
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream(resource)
            ?? throw new InvalidOperationException($"Missing migration resource {resource}.");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}
