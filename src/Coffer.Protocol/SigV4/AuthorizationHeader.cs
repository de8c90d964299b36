namespace Coffer.Protocol.SigV4;

/// <summary>
/// The parts of <c>Authorization: AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/SERVICE/aws4_request,
/// SignedHeaders=a;b, Signature=hex</c>, as ranges into the header string (no substrings are allocated;
/// ranges survive an await where spans cannot).
/// </summary>
internal readonly record struct AuthorizationHeader(
    Range Credential,
    Range AccessKeyId,
    Range Date,
    Range Region,
    Range Service,
    Range Terminator,
    Range SignedHeaders,
    Range Signature)
{
    public const string Algorithm = "AWS4-HMAC-SHA256";

    /// <summary>Parses the header; a malformed one is an <c>IncompleteSignatureException</c>.</summary>
    public static AuthorizationHeader Parse(string header)
    {
        var span = header.AsSpan();
        var space = span.IndexOf(' ');
        if (space < 0)
            throw ProtocolErrors.IncompleteSignature("Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters.");
        if (!span[..space].SequenceEqual(Algorithm))
            throw ProtocolErrors.IncompleteSignature("Unsupported AWS 'algorithm': only AWS4-HMAC-SHA256 is accepted.");

        Range credential = default, signedHeaders = default, signature = default;
        bool haveCredential = false, haveSignedHeaders = false, haveSignature = false;
        var pos = space;
        while (pos < span.Length && span[pos] == ' ') pos++;
        while (pos < span.Length)
        {
            var end = span[pos..].IndexOf(',');
            end = end < 0 ? span.Length : pos + end;
            var part = span[pos..end];
            var eq = part.IndexOf('=');
            if (eq <= 0)
                throw ProtocolErrors.IncompleteSignature("Authorization header parameters must have the form Name=Value, separated by commas.");
            var name = part[..eq];
            var value = new Range(pos + eq + 1, end);
            if (value.GetOffsetAndLength(span.Length).Length == 0 || span[value].ContainsAny(' ', '\t'))
                throw ProtocolErrors.IncompleteSignature("Authorization header parameters must not be empty or contain whitespace.");
            if (name.SequenceEqual("Credential") && !haveCredential) { credential = value; haveCredential = true; }
            else if (name.SequenceEqual("SignedHeaders") && !haveSignedHeaders) { signedHeaders = value; haveSignedHeaders = true; }
            else if (name.SequenceEqual("Signature") && !haveSignature) { signature = value; haveSignature = true; }
            else throw ProtocolErrors.IncompleteSignature("Authorization header has an unknown or repeated parameter.");
            pos = end;
            if (pos < span.Length)
            {
                pos++; // the comma
                while (pos < span.Length && span[pos] == ' ') pos++;
                if (pos == span.Length)
                    throw ProtocolErrors.IncompleteSignature("Authorization header ends with a separator.");
            }
        }
        if (!haveCredential || !haveSignedHeaders || !haveSignature)
            throw ProtocolErrors.IncompleteSignature("Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters.");

        // Credential = AKID/yyyyMMdd/region/service/terminator: exactly five non-empty parts.
        Span<Range> parts = stackalloc Range[6];
        var credentialSpan = span[credential];
        var count = credentialSpan.Split(parts, '/');
        if (count != 5)
            throw ProtocolErrors.IncompleteSignature("Credential must have the form ACCESS_KEY_ID/DATE/REGION/SERVICE/aws4_request.");
        var start = credential.Start.Value;
        for (var i = 0; i < 5; i++)
        {
            var (offset, length) = parts[i].GetOffsetAndLength(credentialSpan.Length);
            if (length == 0)
                throw ProtocolErrors.IncompleteSignature("Credential must have the form ACCESS_KEY_ID/DATE/REGION/SERVICE/aws4_request.");
            parts[i] = new Range(start + offset, start + offset + length);
        }
        return new AuthorizationHeader(credential, parts[0], parts[1], parts[2], parts[3], parts[4], signedHeaders, signature);
    }
}
