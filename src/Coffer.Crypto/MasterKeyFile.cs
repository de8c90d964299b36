using System.Text;

namespace Coffer.Crypto;

/// <summary>
/// The master key as a file: 32 random bytes, base64 on one line, mode 0600.
/// A key file readable by group or others is refused: the key protects every secret.
/// </summary>
public static class MasterKeyFile
{
    public static MasterKey LoadOrCreate(string path, out bool created)
    {
        created = false;
        if (!File.Exists(path))
        {
            var dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
            Directory.CreateDirectory(dir);
            using var key = MasterKey.Generate();
            var text = Convert.ToBase64String(key.Material) + "\n";
            var options = new FileStreamOptions
            {
                Mode = FileMode.CreateNew,
                Access = FileAccess.Write,
                UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
            };
            using (var fs = new FileStream(path, options))
            {
                fs.Write(Encoding.ASCII.GetBytes(text));
                fs.Flush(flushToDisk: true);
            }
            created = true;
        }
        return Load(path);
    }

    public static MasterKey Load(string path)
    {
        {
            var mode = File.GetUnixFileMode(path);
            const UnixFileMode loose = UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute
                | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;
            if ((mode & loose) != 0)
                throw new MasterKeyException($"The master key file {path} is readable by group or others; run chmod 600 on it.");
        }
        var text = File.ReadAllText(path).Trim();
        byte[] bytes;
        try { bytes = Convert.FromBase64String(text); }
        catch (FormatException) { throw new MasterKeyException($"The master key file {path} does not hold base64 text."); }
        if (bytes.Length != MasterKey.KeySizeBytes)
            throw new MasterKeyException($"The master key file {path} must hold {MasterKey.KeySizeBytes} bytes, base64-encoded.");
        try { return MasterKey.FromBytes(bytes); }
        finally { System.Security.Cryptography.CryptographicOperations.ZeroMemory(bytes); }
    }
}

public sealed class MasterKeyException(string message) : Exception(message);
