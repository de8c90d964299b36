using System.Buffers.Text;
using System.Text;

namespace Coffer.Core.Secrets;

/// <summary>
/// Opaque pagination tokens: the offset into the ordered result, tagged with the operation so that a token of
/// one listing is refused by another. Anything that does not decode is InvalidNextTokenException.
/// </summary>
internal static class PageToken
{
    public static string Create(string scope, int offset) =>
        Base64Url.EncodeToString(Encoding.UTF8.GetBytes($"v1:{scope}:{offset}"));

    public static int Read(string? token, string scope)
    {
        if (token is null) return 0;
        try
        {
            var text = Encoding.UTF8.GetString(Base64Url.DecodeFromChars(token));
            var parts = text.Split(':');
            if (parts.Length == 3 && parts[0] == "v1" && parts[1] == scope
                && int.TryParse(parts[2], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var offset))
                return offset;
        }
        catch (FormatException) { }
        throw ServiceException.InvalidNextToken();
    }
}
