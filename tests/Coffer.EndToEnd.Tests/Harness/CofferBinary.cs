namespace Coffer.EndToEnd.Tests.Harness;

/// <summary>
/// Finds the <c>coffer</c> executable: <c>COFFER_BIN</c> (an apphost or a .dll run with dotnet), else the build
/// output of src/Coffer.Cli (the configuration of this test build first), else the repository's ./coffer wrapper.
/// </summary>
internal static class CofferBinary
{
    public static string RepositoryRoot { get; } = FindRepositoryRoot();

    public static (string FileName, IReadOnlyList<string> PrefixArguments) Locate()
    {
        string? fromEnv = Environment.GetEnvironmentVariable("COFFER_BIN");
        if (!string.IsNullOrWhiteSpace(fromEnv))
        {
            string full = Path.GetFullPath(fromEnv);
            if (!File.Exists(full))
            {
                throw new FileNotFoundException($"COFFER_BIN points to a missing file: {full}");
            }

            return Wrap(full);
        }

        string testConfiguration = AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
            ? "Release"
            : "Debug";
        string otherConfiguration = testConfiguration == "Release" ? "Debug" : "Release";
        foreach (string configuration in new[] { testConfiguration, otherConfiguration })
        {
            string dir = Path.Combine(RepositoryRoot, "src", "Coffer.Cli", "bin", configuration, "net10.0");
            string apphost = Path.Combine(dir, "coffer");
            if (File.Exists(apphost))
            {
                return (apphost, []);
            }

            string dll = Path.Combine(dir, "coffer.dll");
            if (File.Exists(dll))
            {
                return ("dotnet", [dll]);
            }
        }

        string wrapper = Path.Combine(RepositoryRoot, "coffer");
        if (File.Exists(wrapper))
        {
            return (wrapper, []);
        }

        throw new FileNotFoundException(
            "No coffer binary: set COFFER_BIN, or build src/Coffer.Cli (dotnet build src/Coffer.Cli), or add the ./coffer wrapper.");
    }

    private static (string, IReadOnlyList<string>) Wrap(string path) =>
        path.EndsWith(".dll", StringComparison.OrdinalIgnoreCase) ? ("dotnet", [path]) : (path, []);

    private static string FindRepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Coffer.sln")) || File.Exists(Path.Combine(dir.FullName, "Coffer.slnx")))
            {
                return dir.FullName;
            }
        }

        throw new DirectoryNotFoundException("Coffer.sln not found above " + AppContext.BaseDirectory);
    }
}
