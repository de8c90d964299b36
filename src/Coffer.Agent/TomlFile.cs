using System.Globalization;
using System.Text;

namespace Coffer.Agent;

/// <summary>A value from the agent's TOML config file: a string, a whole number, a boolean or a list of strings.</summary>
internal sealed record TomlValue(object Value, int Line)
{
    public override string ToString() => Value switch
    {
        string s => s,
        IReadOnlyList<string> list => "[" + string.Join(", ", list) + "]",
        bool b => b ? "true" : "false",
        _ => Convert.ToString(Value, CultureInfo.InvariantCulture) ?? "",
    };
}

/// <summary>
/// The subset of TOML the Secrets Manager Agent's config file uses (spec §6.6): top-level <c>key = value</c> lines
/// with basic or literal strings, integers, booleans and arrays of strings (which may span lines), and comments.
/// Tables are refused: the agent has none, so a <c>[section]</c> is a mistake worth reporting.
/// </summary>
internal static class TomlFile
{
    public static Dictionary<string, TomlValue> Parse(string text)
    {
        var result = new Dictionary<string, TomlValue>(StringComparer.Ordinal);
        var lines = text.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            var lineNo = i + 1;
            var line = StripComment(lines[i]).Trim();
            if (line.Length == 0) continue;
            if (line.StartsWith('['))
                throw new FormatException($"line {lineNo}: tables are not supported; every key goes at the top level.");
            var eq = line.IndexOf('=');
            if (eq <= 0) throw new FormatException($"line {lineNo}: expected key = value.");
            var key = line[..eq].Trim().Trim('"');
            var raw = line[(eq + 1)..].Trim();
            if (raw.StartsWith('[') && !raw.EndsWith(']'))
            {
                // A multi-line array: gather lines until the closing bracket.
                var sb = new StringBuilder(raw);
                while (++i < lines.Length)
                {
                    var more = StripComment(lines[i]).Trim();
                    sb.Append(' ').Append(more);
                    if (more.EndsWith(']')) break;
                }
                raw = sb.ToString();
            }
            if (result.ContainsKey(key)) throw new FormatException($"line {lineNo}: key {key} is set twice.");
            result[key] = new TomlValue(ParseValue(raw, lineNo), lineNo);
        }
        return result;
    }

    private static object ParseValue(string raw, int line)
    {
        if (raw.Length == 0) throw new FormatException($"line {line}: missing value.");
        if (raw is "true") return true;
        if (raw is "false") return false;
        if (raw[0] is '"' or '\'')
        {
            var (s, rest) = ParseString(raw, line);
            if (rest.Trim().Length != 0) throw new FormatException($"line {line}: unexpected text after the string.");
            return s;
        }
        if (raw[0] == '[')
        {
            var items = new List<string>();
            var rest = raw[1..].TrimStart();
            while (true)
            {
                if (rest.StartsWith(']')) { rest = rest[1..]; break; }
                if (rest.Length == 0 || rest[0] is not ('"' or '\''))
                    throw new FormatException($"line {line}: arrays may hold strings only.");
                var (item, after) = ParseString(rest, line);
                items.Add(item);
                rest = after.TrimStart();
                if (rest.StartsWith(',')) rest = rest[1..].TrimStart();
                else if (!rest.StartsWith(']')) throw new FormatException($"line {line}: expected ',' or ']' in the array.");
            }
            if (rest.Trim().Length != 0) throw new FormatException($"line {line}: unexpected text after the array.");
            return items;
        }
        if (long.TryParse(raw.Replace("_", "", StringComparison.Ordinal), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n))
            return n;
        throw new FormatException($"line {line}: the value is not a string, whole number, boolean or array of strings.");
    }

    private static (string Value, string Remaining) ParseString(string raw, int line)
    {
        var quote = raw[0];
        var sb = new StringBuilder();
        for (var i = 1; i < raw.Length; i++)
        {
            var c = raw[i];
            if (c == quote) return (sb.ToString(), raw[(i + 1)..]);
            if (c == '\\' && quote == '"' && i + 1 < raw.Length)
            {
                var e = raw[++i];
                sb.Append(e switch
                {
                    'n' => '\n', 't' => '\t', 'r' => '\r', '"' => '"', '\\' => '\\',
                    _ => throw new FormatException($"line {line}: unsupported escape \\{e}."),
                });
                continue;
            }
            sb.Append(c);
        }
        throw new FormatException($"line {line}: unterminated string.");
    }

    private static string StripComment(string line)
    {
        char? quote = null;
        for (var i = 0; i < line.Length; i++)
        {
            var c = line[i];
            if (quote is null && c == '#') return line[..i];
            if (quote is null && c is '"' or '\'') quote = c;
            else if (quote == c && (c == '\'' || i == 0 || line[i - 1] != '\\')) quote = null;
        }
        return line;
    }
}
