using Coffer.Core.Principals;

namespace Coffer.Core;

/// <summary>
/// Who is calling, in which region, and from where. Built by the protocol edge after SigV4 verification.
/// <see cref="SecureTransport"/> is aws:SecureTransport (the request came over TLS).
/// </summary>
public sealed record RequestContext(
    Principal Caller,
    string Region,
    string RequestId,
    string? SourceIp = null,
    string? UserAgent = null,
    bool SecureTransport = false);
