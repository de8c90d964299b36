namespace Coffer.Storage.Sqlite;

/// <summary>
/// Every statement the store runs. Each has a slot in a <see cref="SqliteSession"/>, which prepares it once per
/// connection and reuses it; parameters are bound by position in <see cref="Parameters"/>.
/// </summary>
internal sealed class SqliteStatement
{
    private static int s_count;

    private SqliteStatement(string sql, string[] parameters)
    {
        Sql = sql;
        Parameters = parameters;
        Index = Interlocked.Increment(ref s_count) - 1;
    }

    public string Sql { get; }
    public string[] Parameters { get; }
    public int Index { get; }

    public static int Count => Volatile.Read(ref s_count);

    private const string SecretColumns =
        "s.id, s.region, s.name, s.arn, s.description, s.kms_key_id, s.type, s.tags, s.resource_policy, " +
        "s.created_ms, s.last_changed_ms, s.last_accessed_ms, s.deleted_ms, s.deletion_ms, s.rotation_enabled, " +
        "s.rotation_lambda_arn, s.rotation_rules, s.last_rotated_ms, s.next_rotation_ms, s.owning_service, s.primary_region, s.rotation_state";

    private const string VersionColumns =
        "v.version_id, v.stages, v.created_ms, v.last_accessed_ms, v.has_value, v.key_id";

    /// <summary>Column index of the first version column in the secret queries.</summary>
    public const int FirstVersionColumn = 22;

    // One statement per read, so a secret and its versions come from one snapshot.
    private const string SelectSecrets =
        "SELECT " + SecretColumns + ", " + VersionColumns + " FROM secrets s LEFT JOIN versions v ON v.secret_id = s.id ";

    public static readonly SqliteStatement FindByArn = new(
        SelectSecrets + "WHERE s.arn = $arn ORDER BY v.seq", ["$arn"]);

    public static readonly SqliteStatement FindByName = new(
        SelectSecrets + "WHERE s.region = $region AND s.name = $name ORDER BY v.seq", ["$region", "$name"]);

    public static readonly SqliteStatement ListByRegion = new(
        SelectSecrets + "WHERE s.region = $region ORDER BY s.id, v.seq", ["$region"]);

    public static readonly SqliteStatement ListDueForPurge = new(
        SelectSecrets + "WHERE s.deletion_ms IS NOT NULL AND s.deletion_ms <= $now ORDER BY s.id, v.seq", ["$now"]);

    // Migration 002: secrets the rotation scheduler looks at (enabled, or with a rotation run recorded).
    public static readonly SqliteStatement ListRotating = new(
        SelectSecrets + "WHERE s.rotation_enabled = 1 OR s.rotation_state IS NOT NULL ORDER BY s.id, v.seq", []);

    public static readonly SqliteStatement ReadBlob = new(
        "SELECT blob FROM version_blobs WHERE secret_id = $secret_id AND version_id = $version_id", ["$secret_id", "$version_id"]);

    private const string SecretValues =
        "$region, $name, $arn, $description, $kms_key_id, $type, $tags, $resource_policy, $created_ms, $last_changed_ms, " +
        "$last_accessed_ms, $deleted_ms, $deletion_ms, $rotation_enabled, $rotation_lambda_arn, $rotation_rules, " +
        "$last_rotated_ms, $next_rotation_ms, $owning_service, $primary_region, $rotation_state";

    private static readonly string[] SecretParameters =
    [
        "$region", "$name", "$arn", "$description", "$kms_key_id", "$type", "$tags", "$resource_policy", "$created_ms",
        "$last_changed_ms", "$last_accessed_ms", "$deleted_ms", "$deletion_ms", "$rotation_enabled",
        "$rotation_lambda_arn", "$rotation_rules", "$last_rotated_ms", "$next_rotation_ms", "$owning_service",
        "$primary_region", "$rotation_state",
    ];

    public static readonly SqliteStatement InsertSecret = new(
        "INSERT INTO secrets (region, name, arn, description, kms_key_id, type, tags, resource_policy, created_ms, " +
        "last_changed_ms, last_accessed_ms, deleted_ms, deletion_ms, rotation_enabled, rotation_lambda_arn, " +
        "rotation_rules, last_rotated_ms, next_rotation_ms, owning_service, primary_region, rotation_state) VALUES (" + SecretValues +
        ") RETURNING id", SecretParameters);

    public static readonly SqliteStatement UpdateSecret = new(
        "UPDATE secrets SET region = $region, name = $name, arn = $arn, description = $description, " +
        "kms_key_id = $kms_key_id, type = $type, tags = $tags, resource_policy = $resource_policy, " +
        "created_ms = $created_ms, last_changed_ms = $last_changed_ms, last_accessed_ms = $last_accessed_ms, " +
        "deleted_ms = $deleted_ms, deletion_ms = $deletion_ms, rotation_enabled = $rotation_enabled, " +
        "rotation_lambda_arn = $rotation_lambda_arn, rotation_rules = $rotation_rules, " +
        "last_rotated_ms = $last_rotated_ms, next_rotation_ms = $next_rotation_ms, owning_service = $owning_service, " +
        "primary_region = $primary_region, rotation_state = $rotation_state WHERE id = $id",
        [.. SecretParameters, "$id"]);

    // Values live in version_blobs (migration 005): a label move rewrites only the small version row.
    public static readonly SqliteStatement UpsertVersion = new(
        "INSERT INTO versions (secret_id, version_id, seq, stages, created_ms, last_accessed_ms, has_value, key_id) " +
        "VALUES ($secret_id, $version_id, $seq, $stages, $created_ms, $last_accessed_ms, $has_value, $key_id) " +
        "ON CONFLICT (secret_id, version_id) DO UPDATE SET stages = excluded.stages, created_ms = excluded.created_ms, " +
        "last_accessed_ms = excluded.last_accessed_ms, has_value = excluded.has_value, key_id = excluded.key_id",
        ["$secret_id", "$version_id", "$seq", "$stages", "$created_ms", "$last_accessed_ms", "$has_value", "$key_id"]);

    public static readonly SqliteStatement UpsertBlob = new(
        "INSERT INTO version_blobs (secret_id, version_id, blob) VALUES ($secret_id, $version_id, $blob) " +
        "ON CONFLICT (secret_id, version_id) DO UPDATE SET blob = excluded.blob",
        ["$secret_id", "$version_id", "$blob"]);

    // The foreign keys cascade too; deleting the value explicitly does not depend on PRAGMA foreign_keys.
    public static readonly SqliteStatement DeleteBlob = new(
        "DELETE FROM version_blobs WHERE secret_id = $secret_id AND version_id = $version_id", ["$secret_id", "$version_id"]);

    public static readonly SqliteStatement PurgeBlobs = new(
        "DELETE FROM version_blobs WHERE secret_id = $id", ["$id"]);

    public static readonly SqliteStatement DeleteVersion = new(
        "DELETE FROM versions WHERE secret_id = $secret_id AND version_id = $version_id", ["$secret_id", "$version_id"]);

    // Versions go with the secret (ON DELETE CASCADE).
    public static readonly SqliteStatement PurgeSecret = new(
        "DELETE FROM secrets WHERE id = $id", ["$id"]);

    public static readonly SqliteStatement MaxSequence = new(
        "SELECT coalesce(max(seq), 0) FROM versions", []);

    public static readonly SqliteStatement GetSetting = new(
        "SELECT value FROM settings WHERE name = $name", ["$name"]);

    public static readonly SqliteStatement InsertSettingIfAbsent = new(
        "INSERT INTO settings (name, value) VALUES ($name, $value) ON CONFLICT (name) DO NOTHING", ["$name", "$value"]);

    public static readonly SqliteStatement FindAccessKey = new(
        "SELECT access_key_id, secret_blob, user_name, principal_arn, status, created_ms FROM access_keys " +
        "WHERE access_key_id = $id", ["$id"]);

    public static readonly SqliteStatement InsertAccessKey = new(
        "INSERT INTO access_keys (access_key_id, secret_blob, user_name, principal_arn, status, created_ms) " +
        "VALUES ($id, $blob, $user_name, $principal_arn, $status, $created_ms) ON CONFLICT (access_key_id) DO NOTHING",
        ["$id", "$blob", "$user_name", "$principal_arn", "$status", "$created_ms"]);

    public static readonly SqliteStatement CheckpointPassive = new("PRAGMA wal_checkpoint(PASSIVE)", []);

    public static readonly SqliteStatement Begin = new("BEGIN IMMEDIATE", []);
    public static readonly SqliteStatement Commit = new("COMMIT", []);
    public static readonly SqliteStatement Rollback = new("ROLLBACK", []);
    public static readonly SqliteStatement Savepoint = new("SAVEPOINT work", []);
    public static readonly SqliteStatement ReleaseSavepoint = new("RELEASE work", []);
    public static readonly SqliteStatement RollbackToSavepoint = new("ROLLBACK TO work", []);
}
