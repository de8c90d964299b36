using System.Collections.Concurrent;
using System.IO.Compression;
using System.Security.Cryptography;
using Coffer.Core;

namespace Coffer.Functions;

/// <summary>
/// Deployment packages unpacked once per code version: <c>ROOT/&lt;sha256 hex of the zip&gt;/</c>, keyed by the hash
/// Coffer computes itself (not the CodeSha256 it was told). Unpacking goes to a temporary sibling that is renamed
/// into place, so a half-unpacked directory is never used. Entries whose path leaves the directory (zip-slip:
/// <c>../x</c>, absolute paths) and symbolic links are refused. File modes come from the zip's external attributes
/// (as <c>zip</c> on Unix stores them); <c>bootstrap</c> is always made executable.
/// </summary>
internal sealed class CodeCache(string root, RunAs? owner)
{
    public const long MaxUnpackedBytes = 250L * 1024 * 1024;   // AWS's unzipped deployment package limit
    private readonly ConcurrentDictionary<string, SemaphoreSlim> _locks = new(StringComparer.Ordinal);

    public string Root => root;

    /// <summary>The directory holding the unpacked code (read-only for the function).</summary>
    public async Task<string> GetAsync(ReadOnlyMemory<byte> zip, CancellationToken ct)
    {
        var key = Convert.ToHexStringLower(SHA256.HashData(zip.Span));
        var dir = Path.Combine(root, key);
        if (Directory.Exists(dir)) return dir;
        var gate = _locks.GetOrAdd(key, _ => new SemaphoreSlim(1, 1));
        await gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (Directory.Exists(dir)) return dir;
            var staging = Path.Combine(root, ".unpack-" + Guid.NewGuid().ToString("N"));
            try
            {
                Unpack(zip, staging);
                Directory.Move(staging, dir);
            }
            catch
            {
                try { Directory.Delete(staging, recursive: true); } catch (IOException) { }
                throw;
            }
            return dir;
        }
        finally { gate.Release(); }
    }

    private void Unpack(ReadOnlyMemory<byte> zip, string target)
    {
        Directory.CreateDirectory(target);
        var full = Path.GetFullPath(target) + Path.DirectorySeparatorChar;
        long total = 0;
        using var stream = new MemoryStream(zip.ToArray(), writable: false);
        ZipArchive archive;
        try { archive = new ZipArchive(stream, ZipArchiveMode.Read); }
        catch (InvalidDataException) { throw InvalidZip("Could not unzip uploaded file. Please check your file, then try to upload again."); }
        using (archive)
        {
            foreach (var entry in archive.Entries)
            {
                var name = entry.FullName.Replace('\\', '/');
                if (name.Length == 0) continue;
                if (name.StartsWith('/') || name.Split('/').Any(part => part == ".."))
                    throw InvalidZip($"The deployment package has an entry outside its root: {name}");
                var path = Path.GetFullPath(Path.Combine(target, name));
                if (!path.StartsWith(full, StringComparison.Ordinal) && path + Path.DirectorySeparatorChar != full)
                    throw InvalidZip($"The deployment package has an entry outside its root: {name}");
                var unixMode = (entry.ExternalAttributes >> 16) & 0xFFFF;
                var type = unixMode & 0xF000;
                if (type == 0xA000) throw InvalidZip($"The deployment package has a symbolic link, which Coffer does not unpack: {name}");
                if (name.EndsWith('/'))
                {
                    Directory.CreateDirectory(path);
                    continue;
                }
                total += entry.Length;
                if (total > MaxUnpackedBytes)
                    throw InvalidZip($"Unzipped size must be smaller than {MaxUnpackedBytes} bytes");
                Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                using (var input = entry.Open())
                using (var output = new FileStream(path, FileMode.CreateNew, FileAccess.Write))
                    input.CopyTo(output);
                var mode = (UnixFileMode)(unixMode & 0x1FF);
                if (mode == 0) mode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;
                if (name == "bootstrap") mode |= UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute;
                File.SetUnixFileMode(path, Readable(mode));
            }
        }
        foreach (var d in Directory.EnumerateDirectories(target, "*", SearchOption.AllDirectories).Append(target))
            File.SetUnixFileMode(d, DirMode);
        if (owner is not null)
            foreach (var p in Directory.EnumerateFileSystemEntries(target, "*", SearchOption.AllDirectories).Append(target))
                Native.Chown(p, 0, owner.Gid);
    }

    /// <summary>The deployment package cannot be used (not a zip, zip-slip, too large); Lambda's error code.</summary>
    private static ServiceException InvalidZip(string message) => new("InvalidZipFileException", message);

    // The code is the server's: the function's user reads it through its group and cannot change it.
    private const UnixFileMode DirMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
        | UnixFileMode.GroupRead | UnixFileMode.GroupExecute;

    private static UnixFileMode Readable(UnixFileMode mode)
    {
        var m = (mode & (UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute)) | UnixFileMode.UserRead | UnixFileMode.GroupRead;
        if ((mode & (UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute)) != 0)
            m |= UnixFileMode.UserExecute | UnixFileMode.GroupExecute;
        return m;
    }
}
