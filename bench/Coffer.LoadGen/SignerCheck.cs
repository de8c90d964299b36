using System.Text;
using System.Text.Json;

namespace Coffer.LoadGen;

/// <summary>
/// Prints, for random requests from a fixed seed, the inputs and what <see cref="SigV4Signer"/> made of them,
/// one JSON object per line. bench/signer-check.py signs the same inputs with botocore's SigV4Auth and compares
/// canonical request, string to sign and Authorization header (reliability-matrix §3.8).
/// Request 0 is the worked example of the AWS SigV4 documentation (IAM ListUsers).
/// </summary>
internal static class SignerCheck
{
    // botocore never signs these (SIGNED_HEADERS_BLACKLIST) or sets them itself (date, token, payload hash).
    private static readonly HashSet<string> Reserved = new(StringComparer.OrdinalIgnoreCase)
    {
        "connection", "expect", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
        "transfer-encoding", "upgrade", "user-agent", "x-amzn-trace-id",
        "host", "date", "x-amz-date", "x-amz-security-token", "x-amz-content-sha256", "authorization",
    };

    private static readonly string[] Regions =
    [
        "us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-2", "sa-east-1", "me-south-1",
        "us-gov-west-1", "cn-north-1", "local",
    ];

    private static readonly string[] Services = ["secretsmanager", "secretsmanager", "secretsmanager", "kms", "iam", "s3", "execute-api"];

    private static readonly string[] Actions =
    [
        "GetSecretValue", "PutSecretValue", "CreateSecret", "DescribeSecret", "ListSecrets", "BatchGetSecretValue",
        "UpdateSecret", "DeleteSecret", "RestoreSecret", "TagResource", "GetRandomPassword",
    ];

    private static readonly string[] Hosts =
    [
        "127.0.0.1", "localhost", "LocalHost", "coffer.example", "Secrets.Example.COM", "10.0.0.7",
        "secretsmanager.us-east-1.amazonaws.com", "[::1]", "[2001:db8::7]",
    ];

    // Pieces that exercise encoding: reserved characters, spaces, non-ASCII, a surrogate pair.
    private static readonly string[] TextPieces =
    [
        "a", "Z", "0", "9", "-", "_", ".", "~", " ", "+", "*", "/", "&", "=", "%", "?", "#", ":", "@", "!", "$",
        "'", "(", ")", ",", ";", "é", "ü", "日本", "€", "😀", "\"", "\\", "value", "Secret",
    ];

    // Characters legal in a path segment on the wire (RFC 3986 pchar without '%'), plus percent-escapes.
    private const string PathChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=:@";
    private static readonly string[] PathEscapes = ["%20", "%2F", "%25", "%C3%A9", "%e2%82%ac", "%7E", "%41"];

    private const string AccessKeyChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    private const string SecretKeyChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    private const string HeaderNameChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-";

    public static int Run(LoadOptions options, TextWriter output)
    {
        var random = new Random(options.Seed);
        using var stdout = new Utf8JsonWriterLines(output);
        stdout.Write(0, DocumentationExample());
        for (int i = 1; i < options.Count; i++)
        {
            stdout.Write(i, RandomCase(random));
        }
        return 0;
    }

    private sealed record Case(
        string Scheme, string Host, int? Port, string Path,
        List<KeyValuePair<string, string>> Query, List<KeyValuePair<string, string>> Headers,
        byte[] Body, string AmzDate, string Region, string Service,
        string AccessKey, string SecretKey, string? Token)
    {
        public string Url => $"{Scheme}://{Host}{(Port is int p ? ":" + p : "")}{Path}";
    }

    private static Case DocumentationExample() => new(
        "https", "iam.amazonaws.com", null, "/",
        [new("Action", "ListUsers"), new("Version", "2010-05-08")],
        [new("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")],
        [], "20150830T123600Z", "us-east-1", "iam",
        "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", null);

    private static Case RandomCase(Random r)
    {
        string scheme = r.Next(4) == 0 ? "https" : "http";
        int? port = r.Next(5) switch
        {
            0 => null,
            1 => scheme == "https" ? 443 : 80, // a default port: the host header leaves it out
            _ => r.Next(1, 65536),
        };
        string service = Pick(r, Services);

        var headers = new List<KeyValuePair<string, string>>();
        if (r.Next(10) != 0)
        {
            headers.Add(new(r.Next(2) == 0 ? "Content-Type" : "content-type", "application/x-amz-json-1.1"));
        }
        if (r.Next(10) != 0)
        {
            headers.Add(new("X-Amz-Target", service + "." + Pick(r, Actions)));
        }
        int extra = r.Next(4);
        for (int i = 0; i < extra; i++)
        {
            string name = RandomHeaderName(r);
            headers.Add(new(name, RandomHeaderValue(r)));
            if (r.Next(6) == 0)
            {
                // The same header again under another case: botocore joins the values with ','.
                headers.Add(new(name.ToUpperInvariant(), RandomHeaderValue(r)));
            }
        }
        Shuffle(r, headers);

        var query = new List<KeyValuePair<string, string>>();
        if (r.Next(3) == 0)
        {
            int n = r.Next(1, 5);
            for (int i = 0; i < n; i++)
            {
                query.Add(new(RandomText(r, 1, 4), RandomText(r, 0, 4)));
            }
            if (r.Next(3) == 0)
            {
                query.Add(new(query[0].Key, RandomText(r, 0, 3))); // repeated name: sorted by value
            }
        }

        var date = new DateTime(1995, 1, 1, 0, 0, 0, DateTimeKind.Utc)
            .AddSeconds(r.NextInt64(0, (long)(new DateTime(2099, 12, 31) - new DateTime(1995, 1, 1)).TotalSeconds));

        return new Case(
            scheme, Pick(r, Hosts), port, RandomPath(r), query, headers, RandomBody(r),
            SigV4Signer.FormatAmzDate(date),
            r.Next(8) == 0 ? "xx-" + RandomFrom(r, "abcdefghijklmnopqrstuvwxyz", 4) + "-" + r.Next(1, 10) : Pick(r, Regions),
            service,
            (r.Next(2) == 0 ? "AKIA" : "ASIA") + RandomFrom(r, AccessKeyChars, 16),
            r.Next(10) == 0 ? "test" : RandomFrom(r, SecretKeyChars, 40),
            r.Next(5) == 0 ? RandomFrom(r, SecretKeyChars, r.Next(20, 200)) : null);
    }

    private static string RandomPath(Random r)
    {
        if (r.Next(2) == 0)
        {
            return "/";
        }
        var sb = new StringBuilder();
        int segments = r.Next(1, 5);
        for (int s = 0; s < segments; s++)
        {
            sb.Append('/');
            int kind = r.Next(12);
            if (kind == 0)
            {
                sb.Append('.');
            }
            else if (kind == 1)
            {
                sb.Append("..");
            }
            else if (kind == 2)
            {
                // empty segment: '//' on the wire
            }
            else
            {
                int len = r.Next(1, 8);
                for (int i = 0; i < len; i++)
                {
                    sb.Append(r.Next(6) == 0 ? Pick(r, PathEscapes) : PathChars[r.Next(PathChars.Length)].ToString());
                }
            }
        }
        if (r.Next(4) == 0)
        {
            sb.Append('/');
        }
        return sb.ToString();
    }

    private static byte[] RandomBody(Random r)
    {
        switch (r.Next(5))
        {
            case 0:
                return [];
            case 1:
                var bytes = new byte[r.Next(1, 300)];
                r.NextBytes(bytes);
                return bytes;
            default:
                var sb = new StringBuilder("{\"SecretId\":\"");
                sb.Append(JsonEncodedText.Encode(RandomText(r, 1, 12)).Value).Append('"');
                if (r.Next(2) == 0)
                {
                    sb.Append(",\"SecretString\":\"").Append(JsonEncodedText.Encode(RandomText(r, 0, 200)).Value).Append('"');
                }
                sb.Append('}');
                return Encoding.UTF8.GetBytes(sb.ToString());
        }
    }

    private static string RandomHeaderName(Random r)
    {
        while (true)
        {
            string name = (r.Next(2) == 0 ? "X-" : "x-amz-meta-") + RandomFrom(r, HeaderNameChars, r.Next(1, 12));
            if (!Reserved.Contains(name))
            {
                return name;
            }
        }
    }

    /// <summary>Printable ASCII with leading, trailing and inner runs of spaces and tabs.</summary>
    private static string RandomHeaderValue(Random r)
    {
        var sb = new StringBuilder();
        int len = r.Next(0, 30);
        for (int i = 0; i < len; i++)
        {
            int kind = r.Next(8);
            sb.Append(kind switch
            {
                0 => ' ',
                1 => r.Next(3) == 0 ? '\t' : ' ',
                _ => (char)r.Next(0x21, 0x7F),
            });
        }
        return sb.ToString();
    }

    private static string RandomText(Random r, int minPieces, int maxPieces)
    {
        var sb = new StringBuilder();
        int n = r.Next(minPieces, maxPieces + 1);
        for (int i = 0; i < n; i++)
        {
            sb.Append(Pick(r, TextPieces));
        }
        return sb.ToString();
    }

    private static string RandomFrom(Random r, string alphabet, int length) =>
        string.Create(length, (r, alphabet), static (span, state) =>
        {
            for (int i = 0; i < span.Length; i++)
            {
                span[i] = state.alphabet[state.r.Next(state.alphabet.Length)];
            }
        });

    private static T Pick<T>(Random r, T[] items) => items[r.Next(items.Length)];

    private static void Shuffle<T>(Random r, List<T> items)
    {
        for (int i = items.Count - 1; i > 0; i--)
        {
            int j = r.Next(i + 1);
            (items[i], items[j]) = (items[j], items[i]);
        }
    }

    /// <summary>Signs one case and writes it with its inputs as one JSON line.</summary>
    private sealed class Utf8JsonWriterLines(TextWriter output) : IDisposable
    {
        public void Write(int index, Case c)
        {
            var endpoint = new Uri(c.Url);
            var signer = new SigV4Signer(c.AccessKey, c.SecretKey, c.Region, c.Service, c.Token);
            var method = index % 3 == 0 ? "GET" : "POST";
            if (index == 0)
            {
                method = "GET";
            }
            SignedRequest signed = signer.Sign(new SignableRequest(method, endpoint, c.Path, c.Query, c.Headers, c.Body), c.AmzDate);

            using var stream = new MemoryStream();
            using (var w = new Utf8JsonWriter(stream))
            {
                w.WriteStartObject();
                w.WriteNumber("index", index);
                w.WriteString("method", method);
                w.WriteString("url", c.Url);
                w.WritePropertyName("query");
                WritePairs(w, c.Query);
                w.WritePropertyName("headers");
                WritePairs(w, c.Headers);
                w.WriteString("bodyHex", Convert.ToHexStringLower(c.Body));
                w.WriteString("amzDate", c.AmzDate);
                w.WriteString("region", c.Region);
                w.WriteString("service", c.Service);
                w.WriteString("accessKey", c.AccessKey);
                w.WriteString("secretKey", c.SecretKey);
                if (c.Token is not null)
                {
                    w.WriteString("token", c.Token);
                }
                w.WriteString("canonicalRequest", signed.CanonicalRequest);
                w.WriteString("stringToSign", signed.StringToSign);
                w.WriteString("authorization", signed.Authorization);
                w.WriteEndObject();
            }
            output.WriteLine(Encoding.UTF8.GetString(stream.ToArray()));
        }

        private static void WritePairs(Utf8JsonWriter w, List<KeyValuePair<string, string>> pairs)
        {
            w.WriteStartArray();
            foreach (var (key, value) in pairs)
            {
                w.WriteStartArray();
                w.WriteStringValue(key);
                w.WriteStringValue(value);
                w.WriteEndArray();
            }
            w.WriteEndArray();
        }

        public void Dispose() => output.Flush();
    }
}
