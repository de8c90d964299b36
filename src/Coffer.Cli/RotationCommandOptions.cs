using System.CommandLine;
using Coffer.Rotation;

namespace Coffer.Cli;

/// <summary>The `coffer server --rotation-*` options (docs/rotation.md), mapped onto <see cref="RotationOptions"/>.</summary>
internal sealed class RotationCommandOptions
{
    private static readonly RotationOptions Defaults = new();

    private readonly Option<int> _concurrency = new("--rotation-concurrency")
    { Description = "Rotations running at the same time.", DefaultValueFactory = _ => Defaults.MaxConcurrentRotations };
    private readonly Option<double> _stepTimeout = new("--rotation-step-timeout")
    { Description = "Seconds one rotation step may take.", DefaultValueFactory = _ => Defaults.StepTimeout.TotalSeconds };
    private readonly Option<int> _maxAttempts = new("--rotation-max-attempts")
    { Description = "Attempts of a failing rotation before it is left as failed.", DefaultValueFactory = _ => Defaults.MaxAttempts };
    private readonly Option<double> _retryBase = new("--rotation-retry-base")
    { Description = "Seconds before the first retry; doubles per attempt.", DefaultValueFactory = _ => Defaults.RetryBaseDelay.TotalSeconds };
    private readonly Option<double> _retryMax = new("--rotation-retry-max")
    { Description = "Longest delay between attempts, seconds.", DefaultValueFactory = _ => Defaults.RetryMaxDelay.TotalSeconds };
    private readonly Option<double> _tick = new("--rotation-tick")
    { Description = "Seconds between scheduler passes.", DefaultValueFactory = _ => Defaults.TickInterval.TotalSeconds };
    private readonly Option<bool> _testSchedules = new("--rotation-test-schedules")
    { Description = "Accept rate(N minutes) schedules (tests and demos only)." };
    private readonly Option<double> _connectTimeout = new("--rotation-connect-timeout")
    { Description = "Seconds to connect to a target database.", DefaultValueFactory = _ => Defaults.Database.ConnectTimeout.TotalSeconds };
    private readonly Option<DatabaseTls> _tls = new("--rotation-tls")
    { Description = "TLS to target databases: Preferred, Required, VerifyFull or Disabled.", DefaultValueFactory = _ => Defaults.Database.Tls };

    public static RotationCommandOptions Create() => new();

    public void AddTo(Command command)
    {
        command.Options.Add(_concurrency);
        command.Options.Add(_stepTimeout);
        command.Options.Add(_maxAttempts);
        command.Options.Add(_retryBase);
        command.Options.Add(_retryMax);
        command.Options.Add(_tick);
        command.Options.Add(_testSchedules);
        command.Options.Add(_connectTimeout);
        command.Options.Add(_tls);
    }

    public RotationOptions Read(ParseResult result) => new()
    {
        MaxConcurrentRotations = result.GetValue(_concurrency),
        StepTimeout = TimeSpan.FromSeconds(result.GetValue(_stepTimeout)),
        MaxAttempts = result.GetValue(_maxAttempts),
        RetryBaseDelay = TimeSpan.FromSeconds(result.GetValue(_retryBase)),
        RetryMaxDelay = TimeSpan.FromSeconds(result.GetValue(_retryMax)),
        TickInterval = TimeSpan.FromSeconds(result.GetValue(_tick)),
        AllowTestSchedules = result.GetValue(_testSchedules),
        Database = new DatabaseRotatorOptions
        {
            ConnectTimeout = TimeSpan.FromSeconds(result.GetValue(_connectTimeout)),
            Tls = result.GetValue(_tls),
        },
    };
}
