using System.CommandLine;
using Coffer.Cli;

// `coffer`: wiring only. Subcommands: server, admin, rotation, audit, agent, functions.
var root = new RootCommand("Coffer: a self-hosted secrets manager that speaks the AWS Secrets Manager API.");
root.Subcommands.Add(ServerCommand.Create());
root.Subcommands.Add(AdminCommand.Create());
root.Subcommands.Add(RotationCommand.Create());
root.Subcommands.Add(AuditCommand.Create());
root.Subcommands.Add(AgentCommand.Create());
root.Subcommands.Add(FunctionsCommand.Create());
return await root.Parse(args).InvokeAsync(new InvocationConfiguration
{
    // The server's host handles SIGINT/SIGTERM itself and shuts down gracefully.
    ProcessTerminationTimeout = null,
});
