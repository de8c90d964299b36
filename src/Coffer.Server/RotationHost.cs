using Coffer.Core.Audit;
using Coffer.Core.Secrets;
using Coffer.Functions;
using Coffer.Rotation;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Coffer.Server;

/// <summary>
/// Runs the rotation engine for the life of the server: registers the built-in rotators as the service's rotation
/// functions, then ticks. Runs interrupted by shutdown stay recorded and resume at the next start.
/// </summary>
internal sealed class RotationHost(RotationEngine engine) : BackgroundService
{
    public static RotationHost Create(SecretService secrets, RotationOptions options, TimeProvider time, ILoggerFactory logs, AuditTrail? audit = null,
        FunctionRotations? functions = null)
    {
        var catalog = new RotationFunctionCatalog();
        BuiltInRotators.Register(catalog, secrets, options.Database);
        // After the built-in rotators: the functions stored in Coffer (docs/functions.md, "Rotation with your own function").
        if (functions is not null) catalog.Fallback = functions.Find;
        secrets.RotationFunctions = catalog;
        secrets.AllowTestSchedules = options.AllowTestSchedules;
        return new RotationHost(new RotationEngine(secrets, catalog, options, time, logs.CreateLogger<RotationEngine>()) { Audit = audit });
    }

    protected override Task ExecuteAsync(CancellationToken stoppingToken) => engine.RunAsync(stoppingToken);
}
