using System.CommandLine;
using System.Text.Json;
using System.Xml.Linq;
using Coffer.Server;

namespace Coffer.Cli;

/// <summary>
/// `coffer admin`: everyday access administration for people who do not use the AWS CLI (docs/access-control.md).
/// It calls the running server's IAM, STS and Secrets Manager APIs with the administrator's credentials.
/// </summary>
internal static class AdminCommand
{
    public static Command Create()
    {
        var endpoint = new Option<string>("--endpoint-url")
        {
            Description = "The server's URL.",
            DefaultValueFactory = _ => Environment.GetEnvironmentVariable("COFFER_ENDPOINT_URL") is { Length: > 0 } e ? e : "http://" + CofferServerOptions.DefaultListen,
            Recursive = true,
        };
        var dataDir = new Option<string>("--data-dir")
        {
            Description = "Where to find admin-credentials when no credentials are given otherwise.",
            DefaultValueFactory = _ => CofferServerOptions.DefaultDataDir,
            Recursive = true,
        };
        var region = new Option<string>("--region") { Description = "Region of the secrets.", DefaultValueFactory = _ => CofferServerOptions.DefaultRegion, Recursive = true };

        var admin = new Command("admin", "Manage principals, keys and policies on a running Coffer server.") { endpoint, dataDir, region };

        // create-principal NAME --secret ID [--action A]...
        var name = new Argument<string>("name") { Description = "User name." };
        var secret = new Option<string>("--secret") { Description = "The secret (name or ARN) the principal may use.", Required = true };
        var actions = new Option<string[]>("--action")
        {
            Description = "Secrets Manager actions to allow (repeatable). Default: GetSecretValue and DescribeSecret.",
            AllowMultipleArgumentsPerToken = true,
        };
        var create = new Command("create-principal", "Create a user whose only permission is on one secret, and issue its access key.") { name, secret, actions };
        create.SetAction((r, ct) => Run(r, endpoint, dataDir, region, async c =>
        {
            var user = r.GetValue(name)!;
            var described = await c.SecretsManagerAsync("DescribeSecret", new Dictionary<string, string> { ["SecretId"] = r.GetValue(secret)! }, ct).ConfigureAwait(false);
            var arn = described.GetProperty("ARN").GetString()!;
            var allowed = (r.GetValue(actions) is { Length: > 0 } a ? a : ["GetSecretValue", "DescribeSecret"])
                .Select(x => x.Contains(':', StringComparison.Ordinal) ? x : "secretsmanager:" + x).ToArray();
            var policy = JsonSerializer.Serialize(new Dictionary<string, object>
            {
                ["Version"] = "2012-10-17",
                ["Statement"] = new[] { new Dictionary<string, object> { ["Effect"] = "Allow", ["Action"] = allowed, ["Resource"] = arn } },
            }, AdminJson.Options);
            var created = await c.QueryAsync("iam", "CreateUser", [new("UserName", user)], ct).ConfigureAwait(false);
            await c.QueryAsync("iam", "PutUserPolicy", [new("UserName", user), new("PolicyName", "coffer-admin-scoped"), new("PolicyDocument", policy)], ct).ConfigureAwait(false);
            var key = await c.QueryAsync("iam", "CreateAccessKey", [new("UserName", user)], ct).ConfigureAwait(false);
            Console.WriteLine($"Created {AdminClient.Child(created.Elements().First(), "Arn")} allowed {string.Join(", ", allowed)} on {arn}.");
            PrintKey(key);
        }, ct));

        var keyUser = new Argument<string>("user") { Description = "User name." };
        var issue = new Command("issue-key", "Issue a new access key for a user (at most two per user).") { keyUser };
        issue.SetAction((r, ct) => Run(r, endpoint, dataDir, region, async c =>
            PrintKey(await c.QueryAsync("iam", "CreateAccessKey", [new("UserName", r.GetValue(keyUser)!)], ct).ConfigureAwait(false)), ct));

        var revokeUser = new Argument<string>("user") { Description = "User name." };
        var keyId = new Argument<string>("access-key-id") { Description = "The key to revoke." };
        var deactivate = new Option<bool>("--deactivate") { Description = "Mark the key Inactive instead of deleting it." };
        var revoke = new Command("revoke-key", "Delete (or deactivate) an access key; it stops working within seconds.") { revokeUser, keyId, deactivate };
        revoke.SetAction((r, ct) => Run(r, endpoint, dataDir, region, async c =>
        {
            var p = new List<KeyValuePair<string, string>> { new("UserName", r.GetValue(revokeUser)!), new("AccessKeyId", r.GetValue(keyId)!) };
            if (r.GetValue(deactivate)) { p.Add(new("Status", "Inactive")); await c.QueryAsync("iam", "UpdateAccessKey", p, ct).ConfigureAwait(false); }
            else await c.QueryAsync("iam", "DeleteAccessKey", p, ct).ConfigureAwait(false);
            Console.WriteLine(r.GetValue(deactivate) ? "Deactivated." : "Deleted.");
        }, ct));

        var principal = new Argument<string>("principal") { Description = "A user name, or a user or role ARN." };
        var action = new Argument<string>("action") { Description = "e.g. secretsmanager:GetSecretValue" };
        var resource = new Argument<string>("resource") { Description = "A resource ARN, or a secret name (resolved to its ARN), or *." };
        var can = new Command("can", "Print whether a principal's policies allow an action on a resource, and the statements that decided it.") { principal, action, resource };
        can.SetAction((r, ct) => Run(r, endpoint, dataDir, region, async c =>
        {
            var who = r.GetValue(principal)!;
            if (!who.StartsWith("arn:", StringComparison.Ordinal))
                who = AdminClient.Child((await c.QueryAsync("iam", "GetUser", [new("UserName", who)], ct).ConfigureAwait(false)).Elements().First(), "Arn")!;
            var what = r.GetValue(resource)!;
            if (what != "*" && !what.StartsWith("arn:", StringComparison.Ordinal))
                what = (await c.SecretsManagerAsync("DescribeSecret", new Dictionary<string, string> { ["SecretId"] = what }, ct).ConfigureAwait(false)).GetProperty("ARN").GetString()!;
            var act = r.GetValue(action)!;
            var result = await c.QueryAsync("iam", "SimulatePrincipalPolicy",
                [new("PolicySourceArn", who), new("ActionNames.member.1", act), new("ResourceArns.member.1", what)], ct).ConfigureAwait(false);
            var member = result.Descendants().First(e => e.Name.LocalName == "member");
            var decision = AdminClient.Child(member, "EvalDecision");
            Console.WriteLine($"{(decision == "allowed" ? "ALLOWED" : "DENIED")} ({decision}): {who} {act} on {what}");
            var statements = member.Descendants().Where(e => e.Name.LocalName == "SourcePolicyId").Select(e => e.Value).ToList();
            foreach (var s in statements) Console.WriteLine($"  decided by: {s}");
            var boundary = member.Descendants().FirstOrDefault(e => e.Name.LocalName == "AllowedByPermissionsBoundary")?.Value;
            if (statements.Count == 0)
                Console.WriteLine(boundary == "false" && decision == "implicitDeny"
                    ? "  the permissions boundary does not allow it (implicit deny)."
                    : "  no statement allows it (implicit deny).");
            Console.WriteLine(boundary is null
                ? "  (identity policies only; a secret's resource policy can still allow or deny)"
                : "  (identity policies and the permissions boundary; a secret's resource policy can still allow or deny)");
            Environment.ExitCode = decision == "allowed" ? 0 : 3;
        }, ct));

        admin.Subcommands.Add(create);
        admin.Subcommands.Add(issue);
        admin.Subcommands.Add(revoke);
        admin.Subcommands.Add(can);
        return admin;
    }

    private static void PrintKey(XElement result)
    {
        var key = result.Elements().First();
        // The secret is shown once, on stdout only; Coffer stores it sealed and never shows it again.
        Console.WriteLine($"aws_access_key_id = {AdminClient.Child(key, "AccessKeyId")}");
        Console.WriteLine($"aws_secret_access_key = {AdminClient.Child(key, "SecretAccessKey")}");
    }

    private static async Task<int> Run(ParseResult r, Option<string> endpoint, Option<string> dataDir, Option<string> region,
        Func<AdminClient, Task> work, CancellationToken ct)
    {
        var (id, secret) = Credentials(r.GetValue(dataDir)!);
        if (id is null || secret is null)
        {
            await Console.Error.WriteLineAsync("coffer admin: no credentials (set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or point --data-dir at the server's data directory).").ConfigureAwait(false);
            return 2;
        }
        using var client = new AdminClient(new Uri(r.GetValue(endpoint)!), id, secret, r.GetValue(region)!);
        try
        {
            await work(client).ConfigureAwait(false);
            return Environment.ExitCode;
        }
        catch (AdminCallException e)
        {
            await Console.Error.WriteLineAsync("coffer admin: " + e.Message).ConfigureAwait(false);
            return 1;
        }
        catch (HttpRequestException e)
        {
            await Console.Error.WriteLineAsync($"coffer admin: cannot reach {r.GetValue(endpoint)}: {e.Message}").ConfigureAwait(false);
            return 1;
        }
        finally { _ = ct; }
    }

    private static (string? Id, string? Secret) Credentials(string dataDir)
    {
        var id = Environment.GetEnvironmentVariable("AWS_ACCESS_KEY_ID");
        var secret = Environment.GetEnvironmentVariable("AWS_SECRET_ACCESS_KEY");
        if (!string.IsNullOrEmpty(id) && !string.IsNullOrEmpty(secret)) return (id, secret);
        var file = Path.Combine(dataDir, "admin-credentials");
        if (!File.Exists(file)) return (null, null);
        foreach (var line in File.ReadAllLines(file))
        {
            var eq = line.IndexOf('=');
            if (eq < 0) continue;
            var key = line[..eq].Trim();
            var value = line[(eq + 1)..].Trim();
            if (key == "aws_access_key_id") id = value;
            else if (key == "aws_secret_access_key") secret = value;
        }
        return (id, secret);
    }
}
