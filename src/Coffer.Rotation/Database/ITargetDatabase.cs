using System.Data.Common;

namespace Coffer.Rotation.Database;

/// <summary>
/// One database engine as the rotators need it. Implementations quote every identifier and literal themselves
/// and never put a plaintext password in SQL text the server could log when the engine lets them avoid it.
/// Errors are <see cref="Core.Rotation.RotationStepException"/>s: unreachable or timed out = transient, login
/// refused = <see cref="LoginRefusedException"/>, password refused by a policy = PasswordRejected.
/// </summary>
internal interface ITargetDatabase
{
    /// <summary>The engine's default port (3306, 5432).</summary>
    int DefaultPort { get; }

    /// <summary>The database used when the secret names none (PostgreSQL: postgres).</summary>
    string? DefaultDatabase { get; }

    /// <summary>Longest user name the alternating strategy may create.</summary>
    int MaxUserNameLength { get; }

    /// <summary>Opens a connection (pooling off, connect timeout applied).</summary>
    Task<DbConnection> OpenAsync(DatabaseLogin login, CancellationToken ct);

    /// <summary>Runs a trivial query (testSecret).</summary>
    Task CheckAsync(DbConnection connection, CancellationToken ct);

    /// <summary>The logged-in user changes its own password (single-user strategy).</summary>
    Task SetOwnPasswordAsync(DbConnection connection, string username, string password, CancellationToken ct);

    /// <summary>
    /// As a superuser: makes <paramref name="username"/> exist with the rights of <paramref name="templateUser"/>
    /// and the given password. Returns true when the user was created now. Creating a user that exists is not an
    /// error (a crash after creation and before the step was recorded).
    /// </summary>
    Task<bool> EnsureUserAsync(DbConnection connection, string username, string templateUser, string password, CancellationToken ct);
}

/// <summary>The database refused the login (wrong password or unknown user).</summary>
internal sealed class LoginRefusedException(Exception inner) : Exception("the database refused the login", inner);
