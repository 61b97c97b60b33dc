"""The TURN side of the peer address policy (security.md §1.4, §1.6 T-11/T-13).

``telex.netpolicy.peer_allowed`` decides which addresses are reachable at all; this adds what is
specific to a relay:

* the peer's family must match the allocation's (443, RFC 8656 §10.2);
* on an IPv6 allocation any IPv4-in-IPv6 encoding is refused outright (403) — the simplest
  hardening against the CVE-2026-27624 class;
* the relay's own addresses are refused, except on relay ports, so two clients of this server can
  still reach each other's relayed addresses (coturn#584). CreatePermission carries no port, so
  there the own address is allowed and Send/ChannelBind enforce the port rule. The test-only
  ``allow_loopback`` mode lifts this rule for loopback addresses.
"""

from __future__ import annotations

from collections.abc import Iterable
from ipaddress import IPv4Address, IPv6Address, ip_address, ip_network

from telex.netpolicy import IPAddress, canonical_address, embeds_ipv4, peer_allowed
from telex.turn.allocation import Address

__all__ = ["PeerPolicy"]


class PeerPolicy:
    def __init__(
        self,
        *,
        allow_loopback: bool,
        own_addresses: Iterable[str],
        relay_ports: range,
        denied: Iterable[str] = (),
        external_v4: str = "",
        external_v6: str = "",
    ) -> None:
        self._allow_loopback = allow_loopback
        self._own = frozenset(canonical_address(ip_address(a)) for a in own_addresses if a)
        self._relay_ports = relay_ports
        self._denied = tuple(ip_network(d, strict=False) for d in denied)
        self._external = {
            4: ip_address(external_v4) if external_v4 else None,
            6: ip_address(external_v6) if external_v6 else None,
        }

    def check(self, ip: IPAddress, port: int | None, family: int) -> int | None:
        """``None`` if the allocation may talk to ``ip:port``, else the STUN error code."""
        if ip.version != family:
            return 443
        if isinstance(ip, IPv6Address) and embeds_ipv4(ip):
            return 403
        if not peer_allowed(ip, allow_loopback=self._allow_loopback, denied=self._denied):
            return 403
        canon = canonical_address(ip)
        # In loopback test mode every peer shares the server's own 127.0.0.1, so the own-address
        # rule would forbid all of them; allow_loopback_peers is never on in production.
        own_exempt = self._allow_loopback and canon.is_loopback
        if canon in self._own and port is not None and port not in self._relay_ports and not own_exempt:
            return 403
        return None

    def advertised(self, bound: Address, family: int) -> tuple[IPv4Address | IPv6Address, int]:
        """The relayed address to put in XOR-RELAYED-ADDRESS (the external one behind NAT)."""
        external = self._external[family]
        return (external if external is not None else ip_address(bound[0])), bound[1]
