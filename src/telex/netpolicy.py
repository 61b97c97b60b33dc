"""Which network addresses Telex may send traffic to on a user's behalf.

One policy serves every place where a user chooses a destination: TURN peers (CreatePermission,
ChannelBind, Send) and, later, webhook URLs after DNS resolution. A relay that forwards to
``127.0.0.1`` or ``169.254.169.254`` is an SSRF gadget (security.md §1.1, the Slack TURN case),
so the policy is deny-by-default:

    address ──► strip zone ──► canonicalise every IPv4-in-IPv6 form ──► explicit denies
                                                                         │
                                      allowed ◄── globally routable unicast only

Canonicalising first matters: Python's ``ipaddress`` reports ``::ffff:127.0.0.1`` as not loopback
(cpython#117566) and 6to4/NAT64 forms of loopback as ``is_global`` — the same bug class as coturn's
CVE-2026-27624 (security.md §1.3, §1.4).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

__all__ = ["IPAddress", "address_in", "canonical_address", "embeds_ipv4", "parse_address", "peer_allowed"]

IPAddress = IPv4Address | IPv6Address
_Network = IPv4Network | IPv6Network

_NAT64_WELL_KNOWN = IPv6Network("64:ff9b::/96")  # RFC 6052
_IPV4_COMPATIBLE = IPv6Network("::/96")  # RFC 4291 §2.5.5.1, deprecated

# Encodings whose embedded IPv4 address cannot be recovered reliably (the RFC 8215 local-use NAT64
# prefix may put it at several offsets) or which exist only for translation: refused outright.
_DENY_ENCODINGS: tuple[_Network, ...] = (
    IPv6Network("64:ff9b:1::/48"),  # RFC 8215 local-use NAT64
    IPv6Network("::ffff:0:0:0/96"),  # RFC 2765 IPv4-translated
    IPv6Network("2001::/32"),  # Teredo (RFC 4380): the client part is obfuscated, never a real peer
)

# Ranges that some Python versions call global, or that are never a legitimate peer
# (security.md §1.4 step 3).
_EXTRA_DENIES: tuple[_Network, ...] = (
    IPv4Network("0.0.0.0/8"),
    IPv4Network("100.64.0.0/10"),
    IPv4Network("192.0.0.0/24"),
    IPv4Network("192.88.99.0/24"),  # 6to4 relay anycast (RFC 7526)
    IPv4Network("198.18.0.0/15"),
    IPv4Network("224.0.0.0/4"),
    IPv4Network("240.0.0.0/4"),
    IPv6Network("::/128"),
    IPv6Network("::1/128"),
    IPv6Network("fe80::/10"),
    IPv6Network("fc00::/7"),
    IPv6Network("ff00::/8"),
    IPv6Network("100::/64"),
    IPv6Network("2001:db8::/32"),
)

_LOOPBACK: tuple[_Network, ...] = (IPv4Network("127.0.0.0/8"), IPv6Network("::1/128"))


def parse_address(text: str) -> IPAddress:
    """Parse an IP literal, dropping an IPv6 zone id (``fe80::1%eth0``); raises ``ValueError``."""
    return ipaddress.ip_address(text.split("%", 1)[0].strip("[]"))


def embeds_ipv4(address: IPAddress) -> bool:
    """True if an IPv6 address is one of the encodings that carry an IPv4 address."""
    if isinstance(address, IPv4Address):
        return False
    return canonical_address(address) != address or any(address in net for net in _DENY_ENCODINGS)


def canonical_address(address: IPAddress) -> IPAddress:
    """The IPv4 address hidden in an IPv4-mapped, IPv4-compatible, 6to4 or NAT64 address, else itself.

    ``::`` and ``::1`` are kept as IPv6 (they are the unspecified and loopback addresses, not
    IPv4-compatible encodings of 0.0.0.0 and 0.0.0.1); both are denied below anyway.
    """
    if isinstance(address, IPv4Address):
        return address
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64_WELL_KNOWN or (address in _IPV4_COMPATIBLE and int(address) > 1):
        return IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def address_in(address: IPAddress, entries: Iterable[_Network | IPAddress]) -> bool:
    """True if ``address``, as written or in its canonical IPv4 form, is one of ``entries``.

    Matching both forms keeps an operator's list honest: denying ``10.0.0.0/8`` also denies
    ``::ffff:10.0.0.1``, and allowing ``127.0.0.1`` also allows ``::ffff:127.0.0.1``.
    """
    canon = canonical_address(address)
    for entry in entries:
        for candidate in (address, canon):
            if isinstance(entry, IPv4Network | IPv6Network):
                if candidate.version == entry.version and candidate in entry:
                    return True
            elif candidate == entry:
                return True
    return False


def peer_allowed(
    address: IPAddress | str,
    *,
    allow_loopback: bool = False,
    denied: Iterable[_Network | IPAddress] = (),
    allowed: Iterable[_Network | IPAddress] = (),
) -> bool:
    """True if Telex may send to ``address``.

    ``denied`` adds deployment-specific denies (the relay's own addresses, operator CIDRs); they are
    matched against both the literal and the canonical form. ``allowed`` is the operator's
    override the other way (a webhook receiver on a private network, a loopback receiver in a
    demo): it wins over the built-in denies but never over ``denied`` nor over the encodings that
    are refused outright. ``allow_loopback`` exists for tests that relay between two local peers
    and must stay off in production (security.md §4).
    """
    try:
        literal = parse_address(address) if isinstance(address, str) else address
    except ValueError:
        return False
    if any(literal in net for net in _DENY_ENCODINGS if net.version == literal.version):
        return False
    canon = canonical_address(literal)
    if address_in(literal, denied):
        return False
    if address_in(literal, allowed):
        return True
    if allow_loopback and any(canon in net for net in _LOOPBACK if net.version == canon.version):
        return True
    if any(canon in net for net in _EXTRA_DENIES if net.version == canon.version):
        return False
    return canon.is_global and not canon.is_multicast
