using System.Runtime.InteropServices;

namespace Coffer.Functions;

/// <summary>The few libc calls .NET does not offer: effective uid, chown, and signalling a process group.</summary>
internal static partial class Native
{
    public const int SigKill = 9;

    [LibraryImport("libc", EntryPoint = "geteuid")]
    public static partial uint GetEuid();

    [LibraryImport("libc", EntryPoint = "lchown", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int LchownCore(string path, int owner, int group);

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int KillCore(int pid, int signal);

    public static void Chown(string path, int uid, int gid)
    {
        if (LchownCore(path, uid, gid) != 0)
            throw new IOException($"chown {path} failed (errno {Marshal.GetLastPInvokeError()})");
    }

    /// <summary>SIGKILL to every process of the group (the invocation's session); a group already gone is fine.</summary>
    public static void KillGroup(int pgid) => _ = KillCore(-pgid, SigKill);

}

/// <summary>The unprivileged account function processes run as when the server runs as root.</summary>
internal sealed record RunAs(string User, int Uid, int Gid)
{
    /// <summary>Looks <paramref name="user"/> up in /etc/passwd (its primary group is the process group).</summary>
    public static RunAs? Lookup(string user)
    {
        if (!File.Exists("/etc/passwd")) return null;
        foreach (var line in File.ReadLines("/etc/passwd"))
        {
            var f = line.Split(':');
            if (f.Length >= 4 && f[0] == user && int.TryParse(f[2], out var uid) && int.TryParse(f[3], out var gid))
                return new RunAs(user, uid, gid);
        }
        return null;
    }
}
