using Coffer.Core.Functions;
using Coffer.Functions;
using Microsoft.Extensions.Logging;

namespace Coffer.Server;

/// <summary>
/// The server's function runner, its function directory (the Lambda API's store: functions are deployed only with
/// CreateFunction / UpdateFunctionCode, which are authorised and audited) and the rotation catalog's view of them.
/// Functions call back to this server's own URL, known once it listens.
/// </summary>
internal sealed partial class ServerFunctions : IDisposable
{
    private readonly FunctionRunnerOptions _options;

    private ServerFunctions(FunctionRunnerOptions options, ProcessFunctionRunner runner, IFunctionDirectory directory)
    {
        _options = options;
        Runner = runner;
        Directory = directory;
        Rotations = new FunctionRotations(directory, runner);
    }

    public ProcessFunctionRunner Runner { get; }
    public IFunctionDirectory Directory { get; }
    public FunctionRotations Rotations { get; }

    /// <summary>Null (and a warning) when functions cannot run here, e.g. as root without the user they run as.</summary>
    /// <param name="directory">Where functions are found: the Lambda API's store.</param>
    public static ServerFunctions? Create(CofferServerOptions server, DataDirectory data, ILoggerFactory logs, IFunctionDirectory directory)
    {
        var options = new FunctionRunnerOptions { DataDir = data.Path, Region = server.Region };
        var log = logs.CreateLogger<ProcessFunctionRunner>();
        try
        {
            var runner = new ProcessFunctionRunner(options, data.Iam, log);
            if (runner.RunsAs is { } user) LogRunsAs(log, user);
            return new ServerFunctions(options, runner, directory);
        }
        catch (Exception e) when (e is InvalidOperationException or IOException or UnauthorizedAccessException)
        {
            LogDisabled(log, e.Message);
            return null;
        }
    }

    /// <summary>The URL functions reach Coffer at (AWS_ENDPOINT_URL).</summary>
    public void Listening(string url) => _options.EndpointUrl = url;

    public void Dispose() => Runner.Dispose();

    [LoggerMessage(Level = LogLevel.Information, Message = "Functions run as the unprivileged user {User}")]
    private static partial void LogRunsAs(ILogger log, string user);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Functions are disabled: {Reason}")]
    private static partial void LogDisabled(ILogger log, string reason);
}
