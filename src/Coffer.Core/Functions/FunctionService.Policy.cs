using System.Buffers;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Coffer.Core.Policies;

namespace Coffer.Core.Functions;

/// <summary>
/// The function's resource policy (AddPermission, RemovePermission, GetPolicy): statements that let a principal
/// (an account, an IAM ARN, or a service such as secretsmanager.amazonaws.com) call a Lambda action on the
/// function, as AWS writes them: {"Version":"2012-10-17","Id":"default","Statement":[…]}.
/// </summary>
public sealed partial class FunctionService
{
    [GeneratedRegex(@"^[a-z0-9][a-z0-9.-]*\.amazonaws\.com(\.cn)?$")]
    private static partial Regex ServicePrincipalRegex();

    public async Task<AddPermissionResult> AddPermissionAsync(RequestContext ctx, AddPermissionRequest request, CancellationToken ct)
    {
        var (record, doc) = await ResolveAsync(ctx, request.FunctionName, request.Qualifier, "lambda:AddPermission", ct).ConfigureAwait(false);
        var sid = FunctionValidation.StatementId(request.StatementId);
        var action = FunctionValidation.PermissionAction(request.Action);
        if (string.IsNullOrEmpty(request.Principal))
            throw FunctionErrors.Validation("null", "principal", "Member must not be null");
        var statement = Statement(sid, action, request.Principal, record.Arn, request.SourceArn, request.SourceAccount);
        CheckRevision(request.RevisionId, record);
        if (doc.PolicyStatements.Any(s => StatementSid(s) == sid))
            throw FunctionErrors.Conflict("The statement id (sid) provided already exists. Please provide a new statement id, or remove the existing statement.");
        var updated = Copy(doc);
        updated.PolicyStatements.Add(statement);
        var text = PolicyText(updated.PolicyStatements);
        var size = Encoding.UTF8.GetByteCount(text);
        if (size > FunctionLimits.MaxPolicyBytes) throw FunctionErrors.PolicyTooLarge(size);
        Compiled(text); // refuses (MalformedPolicyDocument) what the evaluator could not read
        var next = record with { RevisionId = NewRevision(), Document = Serialize(updated), CodeBlob = null };
        await ReplaceAsync(next, record, ct).ConfigureAwait(false);
        return new AddPermissionResult(statement);
    }

    public async Task RemovePermissionAsync(RequestContext ctx, RemovePermissionRequest request, CancellationToken ct)
    {
        var (record, doc) = await ResolveAsync(ctx, request.FunctionName, request.Qualifier, "lambda:RemovePermission", ct).ConfigureAwait(false);
        var sid = FunctionValidation.StatementId(request.StatementId);
        CheckRevision(request.RevisionId, record);
        var updated = Copy(doc);
        if (updated.PolicyStatements.RemoveAll(s => StatementSid(s) == sid) == 0)
            throw FunctionErrors.ResourceNotFound($"Statement {sid} is not found in resource policy.");
        var next = record with { RevisionId = NewRevision(), Document = Serialize(updated), CodeBlob = null };
        await ReplaceAsync(next, record, ct).ConfigureAwait(false);
    }

    public async Task<GetPolicyResult> GetPolicyAsync(RequestContext ctx, FunctionRef request, CancellationToken ct)
    {
        var (record, doc) = await ResolveAsync(ctx, request.FunctionName, request.Qualifier, "lambda:GetPolicy", ct).ConfigureAwait(false);
        if (doc.PolicyStatements.Count == 0)
            throw FunctionErrors.ResourceNotFound("The resource you requested does not exist.");
        return new GetPolicyResult(PolicyText(doc.PolicyStatements), record.RevisionId);
    }

    /// <summary>
    /// One statement as AWS stores it: an account id becomes {"AWS":"arn:aws:iam::ID:root"}, an IAM or STS ARN
    /// {"AWS":ARN}, a service name {"Service":NAME}; SourceArn and SourceAccount become conditions.
    /// </summary>
    private static string Statement(string sid, string action, string principal, string arn, string? sourceArn, string? sourceAccount)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("Sid", sid);
            w.WriteString("Effect", "Allow");
            if (principal == "*") w.WriteString("Principal", "*");
            else
            {
                w.WriteStartObject("Principal");
                if (principal.Length == 12 && principal.All(char.IsAsciiDigit)) w.WriteString("AWS", $"arn:aws:iam::{principal}:root");
                else if (principal.StartsWith("arn:aws:iam::", StringComparison.Ordinal) || principal.StartsWith("arn:aws:sts::", StringComparison.Ordinal))
                    w.WriteString("AWS", principal);
                else if (ServicePrincipalRegex().IsMatch(principal)) w.WriteString("Service", principal);
                else throw FunctionErrors.InvalidParameter("The provided principal was invalid. Please check the principal and try again.");
                w.WriteEndObject();
            }
            w.WriteString("Action", action);
            w.WriteString("Resource", arn);
            if (sourceArn is not null || sourceAccount is not null)
            {
                w.WriteStartObject("Condition");
                if (sourceAccount is not null)
                {
                    w.WriteStartObject("StringEquals");
                    w.WriteString("AWS:SourceAccount", sourceAccount);
                    w.WriteEndObject();
                }
                if (sourceArn is not null)
                {
                    w.WriteStartObject("ArnLike");
                    w.WriteString("AWS:SourceArn", sourceArn);
                    w.WriteEndObject();
                }
                w.WriteEndObject();
            }
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    private static string? StatementSid(string statement)
    {
        using var doc = JsonDocument.Parse(statement);
        return doc.RootElement.TryGetProperty("Sid", out var sid) ? sid.GetString() : null;
    }

    private static string PolicyText(IReadOnlyList<string> statements) =>
        "{\"Version\":\"2012-10-17\",\"Id\":\"default\",\"Statement\":[" + string.Join(",", statements) + "]}";

    private Policy Compiled(string text)
    {
        if (_policies.TryGetValue(text, out var p)) return p;
        p = Policy.Parse(text, PolicyKind.Resource, "the function's resource policy");
        if (_policies.Count > 10_000) _policies.Clear();
        _policies[text] = p;
        return p;
    }
}
