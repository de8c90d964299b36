using System.Text.Json;
using Employees;
using MySqlConnector;

// The seed demo: a web app whose database credentials live in Coffer and are read at run time.
// Configuration is only where Coffer is and who the app is to Coffer — never the database password:
//   COFFER_ENDPOINT, AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, EMPLOYEES_SECRET_ID, and --urls.
var builder = WebApplication.CreateSlimBuilder(args);
string Setting(string name) => Environment.GetEnvironmentVariable(name) ?? throw new InvalidOperationException($"{name} is not set");
var secrets = new SecretsManagerClient(new HttpClient { Timeout = TimeSpan.FromSeconds(10) }, new Uri(Setting("COFFER_ENDPOINT")),
    Environment.GetEnvironmentVariable("AWS_REGION") ?? "us-east-1", Setting("AWS_ACCESS_KEY_ID"), Setting("AWS_SECRET_ACCESS_KEY"));
var database = new EmployeesDatabase(secrets, Setting("EMPLOYEES_SECRET_ID"));

var app = builder.Build();
app.MapGet("/", async (CancellationToken ct) =>
{
    var count = await database.CountEmployeesAsync(ct);
    return Results.Text($"Selected {count} items from RDS MySQL table");
});
app.Run();

/// <summary>
/// Reads the Employees table with the credentials in the secret's AWSCURRENT version, cached until the database
/// refuses them. A refusal means the password was rotated: fetch AWSCURRENT again (and AWSPENDING, which holds
/// the new password between setSecret and finishSecret of a single-user rotation) and retry with back-off.
/// </summary>
internal sealed class EmployeesDatabase(SecretsManagerClient secrets, string secretId)
{
    private volatile string? _cached;

    public async Task<long> CountEmployeesAsync(CancellationToken ct)
    {
        Exception? last = null;
        for (var attempt = 0; attempt < 8; attempt++)
        {
            var candidates = attempt == 0 && _cached is { } c ? [c] : await FetchAsync(ct);
            foreach (var secret in candidates)
            {
                try
                {
                    var count = await QueryAsync(secret, ct);
                    _cached = secret;
                    return count;
                }
                catch (MySqlException e) when (e.ErrorCode == MySqlErrorCode.AccessDenied) { last = e; }
            }
            _cached = null;
            if (attempt > 0) await Task.Delay(TimeSpan.FromMilliseconds(100 << Math.Min(attempt, 5)), ct);
        }
        throw new InvalidOperationException("the database refused every credential in the secret", last);
    }

    private async Task<List<string>> FetchAsync(CancellationToken ct)
    {
        var list = new List<string> { await secrets.GetSecretStringAsync(secretId, "AWSCURRENT", ct) };
        try { list.Add(await secrets.GetSecretStringAsync(secretId, "AWSPENDING", ct)); }
        catch (InvalidOperationException) { } // no rotation in progress
        return list;
    }

    private static async Task<long> QueryAsync(string secretString, CancellationToken ct)
    {
        using var doc = JsonDocument.Parse(secretString);
        var s = doc.RootElement;
        var port = s.TryGetProperty("port", out var p) ? (p.ValueKind == JsonValueKind.Number ? p.GetUInt32() : uint.Parse(p.GetString()!, System.Globalization.CultureInfo.InvariantCulture)) : 3306;
        var cs = new MySqlConnectionStringBuilder
        {
            Server = s.GetProperty("host").GetString(), Port = port,
            UserID = s.GetProperty("username").GetString(), Password = s.GetProperty("password").GetString(),
            Database = s.GetProperty("dbname").GetString(), Pooling = false, ConnectionTimeout = 5,
        };
        await using var connection = new MySqlConnection(cs.ConnectionString);
        await connection.OpenAsync(ct);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT COUNT(*) FROM Employees";
        return Convert.ToInt64(await command.ExecuteScalarAsync(ct), System.Globalization.CultureInfo.InvariantCulture);
    }
}
