using Coffer.Core.Secrets;
using Coffer.Rotation.Database;
using Coffer.Rotation.MySql;
using Coffer.Rotation.Postgres;

namespace Coffer.Rotation;

/// <summary>
/// The built-in rotation functions, selected by the function name in RotationLambdaARN (docs/rotation.md):
/// <list type="bullet">
/// <item><c>coffer-mysql-single-user</c>, <c>coffer-mysql-alternating-users</c> (MySQL and MariaDB; the
/// aliases <c>coffer-mariadb-single-user</c>, <c>coffer-mariadb-alternating-users</c> are the same functions);</item>
/// <item><c>coffer-postgresql-single-user</c>, <c>coffer-postgresql-alternating-users</c>.</item>
/// </list>
/// </summary>
public static class BuiltInRotators
{
    public const string MySqlSingleUser = "coffer-mysql-single-user";
    public const string MySqlAlternatingUsers = "coffer-mysql-alternating-users";
    public const string MariaDbSingleUser = "coffer-mariadb-single-user";
    public const string MariaDbAlternatingUsers = "coffer-mariadb-alternating-users";
    public const string PostgreSqlSingleUser = "coffer-postgresql-single-user";
    public const string PostgreSqlAlternatingUsers = "coffer-postgresql-alternating-users";

    public static void Register(RotationFunctionCatalog catalog, SecretService secrets, DatabaseRotatorOptions options)
    {
        var mysql = new MySqlTarget(options);
        var postgres = new PostgresTarget(options);
        var mysqlSingle = new DatabaseRotator(secrets, mysql, RotationStrategy.SingleUser, options);
        var mysqlAlternating = new DatabaseRotator(secrets, mysql, RotationStrategy.AlternatingUsers, options);
        catalog.Register(MySqlSingleUser, mysqlSingle);
        catalog.Register(MariaDbSingleUser, mysqlSingle);
        catalog.Register(MySqlAlternatingUsers, mysqlAlternating);
        catalog.Register(MariaDbAlternatingUsers, mysqlAlternating);
        catalog.Register(PostgreSqlSingleUser, new DatabaseRotator(secrets, postgres, RotationStrategy.SingleUser, options));
        catalog.Register(PostgreSqlAlternatingUsers, new DatabaseRotator(secrets, postgres, RotationStrategy.AlternatingUsers, options));
    }
}
