using System.CommandLine;
using Coffer.Agent;

namespace Coffer.Cli;

/// <summary>`coffer agent`: the local caching agent (docs/agent.md). Most settings come from the environment and --config.</summary>
internal static class AgentCommand
{
    public static Command Create()
    {
        var config = new Option<string?>("--config")
        {
            Description = "TOML config file in the AWS Secrets Manager Agent's format (unknown keys are refused).",
        };
        var endpointUrl = new Option<string?>("--endpoint-url")
        {
            Description = "Coffer server URL. Default: endpoint_url in the config file, else $AWS_ENDPOINT_URL_SECRETS_MANAGER, else $AWS_ENDPOINT_URL.",
        };
        var port = new Option<int?>("--port")
        {
            Description = "Loopback port (default 2773, or http_port / PARAMETERS_SECRETS_EXTENSION_HTTP_PORT).",
        };
        var region = new Option<string?>("--region")
        {
            Description = "Region to sign upstream calls for. Default: region in the config file, else $AWS_REGION, $AWS_DEFAULT_REGION, us-east-1.",
        };
        var command = new Command("agent", "Run the local caching agent (AWS Secrets Manager Agent / Lambda extension compatible).")
        {
            config, endpointUrl, port, region,
        };
        command.SetAction((result, _) => AgentHost.RunAsync(new AgentCommandLine
        {
            ConfigFile = result.GetValue(config),
            EndpointUrl = result.GetValue(endpointUrl),
            Port = result.GetValue(port),
            Region = result.GetValue(region),
        }, Console.Out, Console.Error));
        return command;
    }
}
