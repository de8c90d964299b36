using System.Net;
using System.Net.Sockets;
using Coffer.Core.Rotation;

namespace Coffer.Rotation.Database;

/// <summary>
/// Where a rotator may connect (reliability matrix, "R" rows): the secret's host is resolved once, every address
/// is checked, and the connection goes to the checked address, so a name that re-resolves elsewhere between two
/// lookups (DNS rebinding) cannot redirect it. Refused: link-local (169.254/16, fe80::/10 — cloud metadata lives
/// there), the EC2 IPv6 metadata address fd00:ec2::254, unspecified (0.0.0.0, ::), multicast and broadcast.
/// Loopback and private ranges are allowed (self-hosted databases live there). The error text is the same for
/// every refusal and says nothing about DNS or ports, so rotation cannot be used to map the network.
/// </summary>
internal static class TargetGuard
{
    public const string NotAllowed = "target not allowed";
    private static readonly IPAddress Ec2MetadataV6 = IPAddress.Parse("fd00:ec2::254");

    public static async Task<string> ResolveAsync(string host, CancellationToken ct)
    {
        var literal = host.StartsWith('[') && host.EndsWith(']') ? host[1..^1] : host;
        IPAddress[] addresses;
        if (IPAddress.TryParse(literal, out var ip)) addresses = [ip];
        else
        {
            try { addresses = await Dns.GetHostAddressesAsync(host, ct).ConfigureAwait(false); }
            catch (SocketException e)
            {
                throw new RotationStepException(RotationFailureKind.Transient, "could not connect to the database (unreachable, refused or timed out)", e);
            }
        }
        if (addresses.Length == 0 || addresses.Any(IsBlocked))
            throw new RotationStepException(RotationFailureKind.Permanent, NotAllowed);
        var chosen = addresses.FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork) ?? addresses[0];
        return chosen.ToString();
    }

    internal static bool IsBlocked(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6) address = address.MapToIPv4();
        if (address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any) || address.Equals(IPAddress.Broadcast)) return true;
        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            var b = address.GetAddressBytes();
            return (b[0] == 169 && b[1] == 254) || b[0] == 0 || b[0] >= 224;
        }
        return address.IsIPv6LinkLocal || address.IsIPv6Multicast || address.Equals(Ec2MetadataV6);
    }
}
