namespace Coffer.Core.Policies;

public enum Decision { Allowed, ImplicitDeny, ExplicitDeny }

/// <summary>A statement that took part in a decision, named for people: policy source, index and Sid.</summary>
public sealed record DecidingStatement(string PolicySource, PolicyKind Kind, int Index, string? Sid, string Effect)
{
    public override string ToString() =>
        $"{Effect} by {PolicySource} statement {Index}{(Sid is { Length: > 0 } ? $" (Sid {Sid})" : "")}";
}

/// <summary>The outcome and why: the statements that decided it, and AWS's "because …" clause for denials.</summary>
public sealed record EvaluationResult(Decision Decision, IReadOnlyList<DecidingStatement> Statements, string Reason)
{
    /// <summary>With a permissions boundary: whether it allows the request (an Allow matches, no Deny); else null.</summary>
    public bool? AllowedByPermissionsBoundary { get; init; }

    public bool IsAllowed => Decision == Decision.Allowed;
}

/// <summary>One question: may this caller perform this action on this resource, in this context?</summary>
public sealed record AuthorizationQuery(CallerIdentity Caller, string Action, string Resource, IConditionValues Context);

/// <summary>
/// IAM's evaluation logic for one account (spec §8), pure and allocation-light:
/// 1. an explicit Deny in any applicable policy (identity, session, resource, permissions boundary) wins;
/// 2. otherwise an Allow from the resource policy naming the caller itself (its user or session ARN, or "*") allows;
/// 3. otherwise an Allow from an identity policy, or from the resource policy naming the caller's role, allows,
///    provided the permissions boundary (if any) and every session policy (if any) also allow;
/// 4. otherwise the request is implicitly denied.
/// (IAM User Guide, "Permissions boundaries for IAM entities", "Session policies".) A resource policy that names
/// only the caller's account delegates to identity policies and grants nothing by itself. The result lists the
/// statements that decided it.
/// </summary>
public static class PolicyEvaluator
{
    public static EvaluationResult Evaluate(AuthorizationQuery query, IReadOnlyList<Policy> identity,
        IReadOnlyList<Policy>? session = null, Policy? resource = null, Policy? boundary = null)
    {
        var lowerAction = query.Action.ToLowerInvariant();
        List<DecidingStatement>? denies = null, identityAllows = null, directAllows = null, sessionAllows = null, boundaryAllows = null;
        List<DecidingStatement>? roleAllows = null;   // resource-policy allows naming the caller's role, not the caller
        string? denyIn = null;

        if (boundary is not null)
            Scan(boundary, query, lowerAction, ref denies, ref boundaryAllows, ref denyIn, "a permissions boundary");
        bool? allowedByBoundary = boundary is null ? null : boundaryAllows is not null && denies is null;
        EvaluationResult Done(EvaluationResult r) => allowedByBoundary is null ? r : r with { AllowedByPermissionsBoundary = allowedByBoundary };

        foreach (var policy in identity)
            Scan(policy, query, lowerAction, ref denies, ref identityAllows, ref denyIn, "an identity-based policy");
        if (session is not null)
            foreach (var policy in session)
                Scan(policy, query, lowerAction, ref denies, ref sessionAllows, ref denyIn, "a session policy");
        if (resource is not null)
        {
            foreach (var s in resource.Statements)
            {
                var who = s.MatchPrincipal(query.Caller);
                // IAM User Guide, "Permissions boundaries for IAM entities": a Deny with NotPrincipal "will always deny
                // any IAM principal that has a permissions boundary policy attached, regardless of the values
                // specified in the NotPrincipal element".
                if (boundary is not null && s.NotPrincipal && !s.IsAllow) who = PrincipalMatch.Direct;
                if (who == PrincipalMatch.None) continue;
                if (!s.MatchesAction(lowerAction) || !s.MatchesResource(query.Resource, query.Context) || !s.MatchesConditions(query.Context))
                    continue;
                if (!s.IsAllow)
                {
                    (denies ??= []).Add(Describe(resource, s));
                    denyIn ??= "a resource-based policy";
                }
                else if (who == PrincipalMatch.Direct)
                {
                    if (s.NamesOnlyRoleOf(query.Caller)) (roleAllows ??= []).Add(Describe(resource, s));
                    else (directAllows ??= []).Add(Describe(resource, s));
                }
            }
        }

        if (denies is not null)
            return Done(new EvaluationResult(Decision.ExplicitDeny, denies, $"with an explicit deny in {denyIn}"));
        // A grant to the caller itself (its user or session ARN, or "*") is added after the session is created: neither
        // the permissions boundary nor a session policy limits it (IAM User Guide, "Policy evaluation logic" and
        // "Session policies"; STS API reference, AssumeRole Policy).
        if (directAllows is not null)
            return Done(new EvaluationResult(Decision.Allowed, directAllows, ""));
        // Identity-policy allows and grants to the caller's role are what the boundary and the session policy limit.
        if (identityAllows is null && roleAllows is null)
            return Done(new EvaluationResult(Decision.ImplicitDeny, [], $"because no identity-based policy allows the {query.Action} action"));
        if (boundary is not null && boundaryAllows is null)
            return Done(new EvaluationResult(Decision.ImplicitDeny, [], $"because no permissions boundary allows the {query.Action} action"));
        if (session is not null && sessionAllows is null)
            return Done(new EvaluationResult(Decision.ImplicitDeny, [], $"because no session policy allows the {query.Action} action"));
        var allows = new List<DecidingStatement>();
        if (identityAllows is not null) allows.AddRange(identityAllows);
        if (roleAllows is not null) allows.AddRange(roleAllows);
        if (sessionAllows is not null) allows.AddRange(sessionAllows);
        if (boundaryAllows is not null) allows.AddRange(boundaryAllows);
        return Done(new EvaluationResult(Decision.Allowed, allows, ""));
    }

    private static void Scan(Policy policy, AuthorizationQuery query, string lowerAction,
        ref List<DecidingStatement>? denies, ref List<DecidingStatement>? allows, ref string? denyIn, string where)
    {
        foreach (var s in policy.Statements)
        {
            if (!s.MatchesAction(lowerAction) || !s.MatchesResource(query.Resource, query.Context) || !s.MatchesConditions(query.Context))
                continue;
            if (s.IsAllow) (allows ??= []).Add(Describe(policy, s));
            else
            {
                (denies ??= []).Add(Describe(policy, s));
                denyIn ??= where;
            }
        }
    }

    private static DecidingStatement Describe(Policy p, PolicyStatementRule s) =>
        new(p.Source, p.Kind, s.Index, s.Sid, s.IsAllow ? "Allow" : "Deny");

    /// <summary>AWS's AccessDenied message form.</summary>
    public static string DeniedMessage(string callerArn, string action, string resource, EvaluationResult result) =>
        $"User: {callerArn} is not authorized to perform: {action} on resource: {resource} {result.Reason}";
}
