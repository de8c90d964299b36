namespace Coffer.Rotation;

/// <summary>The rotation engine's settings (`coffer server --rotation-*`; docs/rotation.md lists them).</summary>
public sealed class RotationOptions
{
    /// <summary>Rotations running at the same time (each holds at most two database connections).</summary>
    public int MaxConcurrentRotations { get; set; } = 4;
    /// <summary>Time limit of one step; a step that runs longer fails as transient.</summary>
    public TimeSpan StepTimeout { get; set; } = TimeSpan.FromSeconds(30);
    /// <summary>Attempts of one rotation before it is recorded as failed and left for an operator.</summary>
    public int MaxAttempts { get; set; } = 5;
    /// <summary>Delay before the second attempt; doubles per attempt up to <see cref="RetryMaxDelay"/>.</summary>
    public TimeSpan RetryBaseDelay { get; set; } = TimeSpan.FromMinutes(1);
    public TimeSpan RetryMaxDelay { get; set; } = TimeSpan.FromHours(1);
    /// <summary>How often the scheduler looks for due rotations (RotateSecret wakes it at once).</summary>
    public TimeSpan TickInterval { get; set; } = TimeSpan.FromSeconds(10);
    /// <summary>Accept rate(N minutes) schedules (tests and demos only).</summary>
    public bool AllowTestSchedules { get; set; }

    /// <summary>Settings of the built-in database rotators.</summary>
    public DatabaseRotatorOptions Database { get; set; } = new();

    public TimeSpan RetryDelay(int attempt)
    {
        var factor = Math.Pow(2, Math.Clamp(attempt - 1, 0, 30));
        var delay = TimeSpan.FromTicks((long)Math.Min(RetryBaseDelay.Ticks * factor, RetryMaxDelay.Ticks));
        return delay;
    }

    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (MaxConcurrentRotations is < 1 or > 256) errors.Add("--rotation-concurrency must be between 1 and 256.");
        if (StepTimeout <= TimeSpan.Zero) errors.Add("--rotation-step-timeout must be positive.");
        if (MaxAttempts < 1) errors.Add("--rotation-max-attempts must be at least 1.");
        if (RetryBaseDelay < TimeSpan.Zero || RetryMaxDelay < RetryBaseDelay) errors.Add("--rotation-retry-base must be between 0 and --rotation-retry-max.");
        if (TickInterval <= TimeSpan.Zero) errors.Add("--rotation-tick must be positive.");
        if (Database.ConnectTimeout < TimeSpan.FromSeconds(1)) errors.Add("--rotation-connect-timeout must be at least 1 second.");
        return errors;
    }
}

/// <summary>TLS towards the target databases, as the AWS templates do: try TLS, fall back unless required.</summary>
public enum DatabaseTls
{
    /// <summary>Use TLS when the server offers it, plain TCP otherwise (the AWS templates' default).</summary>
    Preferred,
    /// <summary>Refuse to connect without TLS (certificate not verified).</summary>
    Required,
    /// <summary>TLS with the server certificate verified against the system trust store and the host name.</summary>
    VerifyFull,
    /// <summary>Never TLS.</summary>
    Disabled,
}

public sealed class DatabaseRotatorOptions
{
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(5);
    public TimeSpan CommandTimeout { get; set; } = TimeSpan.FromSeconds(15);
    public DatabaseTls Tls { get; set; } = DatabaseTls.Preferred;
    /// <summary>New passwords: length and excluded characters (AWS template defaults: 32, <c>/@"'\</c>).</summary>
    public int PasswordLength { get; set; } = 32;
    public string ExcludeCharacters { get; set; } = "/@\"'\\";
    /// <summary>Longest MySQL/MariaDB user name the alternating strategy creates (MySQL 5.7+: 32).</summary>
    public int MySqlUserNameLimit { get; set; } = 32;
}
