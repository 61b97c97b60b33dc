"""TURN allocation state (RFC 8656 §2.2, §9, §12), with no I/O.

An allocation belongs to one client 5-tuple and one authenticated username. It owns:

    permissions   peer IP   -> expiry      (300 s, RFC 8656 §9; refreshed by CreatePermission
                                            and ChannelBind)
    channels      number    -> peer addr   (600 s, RFC 8656 §12; a number binds one peer and a
    peer_channels peer addr -> number       peer one number for the allocation's life)

The relay socket belongs to the adapter: the core asks for one with an ``OpenRelay`` effect and
learns its address through ``TurnCore.relay_opened``. ``channels``, ``peer_channels`` and
``permissions`` are plain dicts so that the core's per-datagram rules (``TurnCore.to_peer``,
``TurnCore.to_client``) cost a few lookups and no parsing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address

__all__ = [
    "CHANNEL_COOLDOWN",
    "CHANNEL_LIFETIME",
    "CHANNEL_MAX",
    "CHANNEL_MIN",
    "PERMISSION_LIFETIME",
    "Address",
    "Allocation",
    "ClientKey",
]

# Fixed by RFC 8656 §9 and §12; coturn's config says the permission lifetime "MUST not be changed".
PERMISSION_LIFETIME = 300.0
CHANNEL_LIFETIME = 600.0
CHANNEL_COOLDOWN = 300.0
CHANNEL_MIN = 0x4000
CHANNEL_MAX = 0x4FFF

Address = tuple[str, int]
# (transport "udp"/"tcp", client address, server address): the 5-tuple minus the protocol number.
ClientKey = tuple[str, Address, Address]


@dataclass(eq=False, slots=True)
class Allocation:
    key: ClientKey
    username: str
    user_id: str
    integrity_key: bytes
    family: int  # 4 or 6
    expires: float
    allocate_tid: bytes
    allocate_response: bytes = b""
    relayed_address: tuple[IPv4Address | IPv6Address, int] | None = None
    permissions: dict[str, float] = field(default_factory=dict)
    channels: dict[int, Address] = field(default_factory=dict)
    peer_channels: dict[Address, int] = field(default_factory=dict)
    channel_expiry: dict[int, float] = field(default_factory=dict)
    cooldown: dict[int, tuple[Address, float]] = field(default_factory=dict)
    # Token bucket for the bandwidth cap (bytes/s, bucket size, bytes available, last refill).
    # The bucket is small (see ``burst_for``) so that throughput over any second stays near the
    # cap (security.md T-20: at most 1.1 x the cap).
    rate: float = 0.0
    burst: float = 0.0
    tokens: float = 0.0
    tokens_at: float = 0.0
    # Where the bucket is kept when an adapter relays this allocation's datagrams elsewhere too
    # (the native data path, ``telex.turn.native``): one bucket for every datagram, with this
    # allocation's ``rate`` and ``burst``. ``None``: the fields above are the bucket.
    meter: Callable[[int], bool] | None = None

    def charge(self, size: int, now: float) -> bool:
        """Spend ``size`` bytes of the bandwidth budget; False means drop the datagram."""
        rate = self.rate
        if rate <= 0:
            return True
        if self.meter is not None:
            return self.meter(size)
        tokens = self.tokens + (now - self.tokens_at) * rate
        burst = self.burst
        if tokens > burst:
            tokens = burst
        self.tokens_at = now
        if tokens < size:
            self.tokens = tokens
            return False
        self.tokens = tokens - size
        return True

    @staticmethod
    def burst_for(rate: float) -> float:
        """A fifth of a second of traffic, but never less than one full-size Ethernet datagram."""
        return max(rate * 0.2, 1500.0)

    def permit(self, peer_ip: str, now: float) -> None:
        self.permissions[peer_ip] = now + PERMISSION_LIFETIME

    def bind_channel(self, number: int, peer: Address, now: float) -> None:
        self.cooldown.pop(number, None)
        self.channels[number] = peer
        self.peer_channels[peer] = number
        self.channel_expiry[number] = now + CHANNEL_LIFETIME
        self.permit(peer[0], now)

    def expire(self, now: float) -> None:
        """Drop permissions and channel bindings whose time has come."""
        for ip in [ip for ip, t in self.permissions.items() if t <= now]:
            del self.permissions[ip]
        for number, expired_at in [(n, t) for n, t in self.channel_expiry.items() if t <= now]:
            del self.channel_expiry[number]
            peer = self.channels.pop(number)
            self.peer_channels.pop(peer, None)
            # RFC 8656 §12: for 5 minutes after expiry neither the number nor the peer may be
            # bound to anything else, so late ChannelData cannot reach a different peer.
            self.cooldown[number] = (peer, expired_at + CHANNEL_COOLDOWN)
        for number in [n for n, (_, t) in self.cooldown.items() if t <= now]:
            del self.cooldown[number]

    def channel_conflict(self, number: int, peer: Address) -> bool:
        """True if binding ``number`` to ``peer`` breaks the one-to-one rule (RFC 8656 §12)."""
        bound = self.channels.get(number)
        if bound is not None and bound != peer:
            return True
        if self.peer_channels.get(peer, number) != number:
            return True
        cooling = self.cooldown.get(number)
        if cooling is not None and cooling[0] != peer:
            return True
        return any(p == peer and n != number for n, (p, _) in self.cooldown.items())

    def next_deadline(self) -> float:
        return min(
            [
                self.expires,
                *self.permissions.values(),
                *self.channel_expiry.values(),
                *(t for _, t in self.cooldown.values()),
            ],
        )
