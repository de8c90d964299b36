namespace Coffer.Core.Rotation;

/// <summary>
/// Named crash points for fault tests (reliability matrix §3.3). Off unless the environment variable
/// <c>COFFER_FAULT_POINT</c> names a point and an action: <c>NAME=kill</c> (the process kills itself with
/// SIGKILL), <c>NAME=throw</c> or <c>NAME=delay:MS</c>. When unset, a hit costs one static field read.
/// Every point is listed in <see cref="All"/>, so tests can check that each is reached.
/// </summary>
public static class FaultPoints
{
    public const string CreateBeforePutPending = "rotation.createSecret.beforePutPending";
    public const string CreateAfterPutPending = "rotation.createSecret.afterPutPending";
    public const string SetBeforeTargetChange = "rotation.setSecret.beforeTargetChange";
    public const string SetAfterTargetChange = "rotation.setSecret.afterTargetChange";
    public const string TestAfterLogin = "rotation.testSecret.afterLogin";
    public const string FinishBeforeLabelMove = "rotation.finishSecret.beforeLabelMove";
    public const string FinishAfterLabelMove = "rotation.finishSecret.afterLabelMove";
    public const string AlternatingAfterCreateCloneUser = "rotation.alternating.afterCreateCloneUser";

    public static readonly IReadOnlyList<string> All =
    [
        CreateBeforePutPending, CreateAfterPutPending, SetBeforeTargetChange, SetAfterTargetChange, TestAfterLogin,
        FinishBeforeLabelMove, FinishAfterLabelMove, AlternatingAfterCreateCloneUser,
    ];

    public const string Variable = "COFFER_FAULT_POINT";

    private static readonly (string Name, string Action)? Armed = Read();

    private static (string, string)? Read()
    {
        var value = Environment.GetEnvironmentVariable(Variable);
        if (string.IsNullOrEmpty(value)) return null;
        var eq = value.IndexOf('=');
        return eq <= 0 ? null : (value[..eq], value[(eq + 1)..]);
    }

    public static void Hit(string name)
    {
        if (Armed is not { } armed || armed.Name != name) return;
        if (armed.Action == "kill")
        {
            Console.Error.WriteLine($"fault point {name}: SIGKILL");
            Console.Error.Flush();
            System.Diagnostics.Process.GetCurrentProcess().Kill();
            Thread.Sleep(Timeout.Infinite);
        }
        else if (armed.Action == "throw")
        {
            throw new RotationStepException(RotationFailureKind.Transient, $"fault point {name}");
        }
        else if (armed.Action.StartsWith("delay:", StringComparison.Ordinal)
            && int.TryParse(armed.Action.AsSpan(6), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var ms))
        {
            Thread.Sleep(ms);
        }
    }
}
