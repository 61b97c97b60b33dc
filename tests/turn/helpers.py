"""Drive ``TurnCore`` directly: a fake relay opener that carries out the core's ``OpenRelay`` and
``CloseRelay`` effects, and a raw STUN client with full control over every attribute (aioice
normalises addresses, so adversarial encodings need our own builder)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address, ip_address

from telex.core.clock import FakeClock
from telex.turn.allocation import Address, Allocation, ClientKey
from telex.turn.core import CheckUser, CloseRelay, CoreConfig, Event, OpenRelay, Reply, ToPeer, TurnCore
from telex.turn.credentials import make_credentials
from telex.turn.policy import PeerPolicy
from telex.turn.stun import (
    Attr,
    Class,
    Message,
    Method,
    encode_message,
    encode_uint,
    encode_xor_address,
    long_term_key,
    parse_message,
)

__all__ = ["SECRET", "Client", "FakeOpener", "Harness", "code_of", "make_harness", "relayed", "xor_peer"]

SECRET = b"test-secret"
SERVER: Address = ("127.0.0.1", 3478)


@dataclass
class FakeRelay:
    address: Address
    closed: bool = False

    def close(self) -> None:
        self.closed = True


@dataclass
class FakeOpener:
    """Hands out relay ports from a small range; ``None`` when exhausted (the core answers 508)."""

    host: str = "127.0.0.1"
    host6: str = "::1"
    ports: list[int] = field(default_factory=lambda: list(range(50000, 50010)))
    open_relays: dict[int, FakeRelay] = field(default_factory=dict)
    dont_fragment: list[bool] = field(default_factory=list)

    by_allocation: dict[ClientKey, FakeRelay] = field(default_factory=dict)

    def open(
        self, allocation: Allocation, family: int, *, even_port: bool, dont_fragment: bool
    ) -> FakeRelay | None:
        self.dont_fragment.append(dont_fragment)
        for stale in [p for p, r in self.open_relays.items() if r.closed]:
            del self.open_relays[stale]
        for port in self.ports:
            if port not in self.open_relays and not (even_port and port % 2):
                relay = FakeRelay((self.host if family == 4 else self.host6, port))
                self.open_relays[port] = relay
                self.by_allocation[allocation.key] = relay
                return relay
        return None


@dataclass
class Harness:
    core: TurnCore
    opener: FakeOpener
    clock: FakeClock
    secrets: list[bytes]
    # User lookups the core asked for (``CheckUser``), for the test to answer.
    checks: list[str] = field(default_factory=list)

    def client(
        self,
        user: str = "alice",
        port: int = 40000,
        *,
        transport: str = "udp",
        host: str = "127.0.0.1",
        generation: int | None = None,
    ) -> Client:
        return Client(self, (host, port), user, transport, generation)

    def apply(self, events: list[Event]) -> list[Reply | ToPeer]:
        """Carry out the effects as the adapter would; return the replies and relayed payloads."""
        out: list[Reply | ToPeer] = []
        for event in events:
            if isinstance(event, OpenRelay):
                relay = self.opener.open(
                    event.allocation,
                    event.family,
                    even_port=event.even_port,
                    dont_fragment=event.dont_fragment,
                )
                now = self.clock.now()
                if relay is None:
                    out += self.apply(self.core.relay_failed(event.allocation, now))
                else:
                    out += self.apply(self.core.relay_opened(event.allocation, relay.address, now))
            elif isinstance(event, CloseRelay):
                closing = self.opener.by_allocation.pop(event.allocation.key, None)
                if closing is not None:
                    closing.close()
            elif isinstance(event, CheckUser):
                self.checks.append(event.user_id)
            else:
                out.append(event)
        return out

    def run_timers(self) -> None:
        """Run what is due at the clock's ``now`` and carry out its effects (timers only close relays)."""
        assert self.apply(self.core.handle_timer(self.clock.now())) == []


def make_harness(**overrides: object) -> Harness:
    clock = FakeClock()
    opener = FakeOpener()
    allow_loopback = bool(overrides.pop("allow_loopback", False))
    own = overrides.pop("own", ("127.0.0.1",))
    users = overrides.pop("users", None)
    config = CoreConfig(**{"realm": "telex", "ipv6_relay": True, **overrides})  # type: ignore[arg-type]
    policy = PeerPolicy(
        allow_loopback=allow_loopback,
        own_addresses=own,  # type: ignore[arg-type]
        relay_ports=range(50000, 50010),
    )
    secrets = [SECRET]
    core = TurnCore(config, lambda: secrets, policy, os.urandom(32), users)  # type: ignore[arg-type]
    return Harness(core, opener, clock, secrets)


def xor_peer(address: str, port: int, tid: bytes) -> bytes:
    return encode_xor_address(ip_address(address), port, tid)


class Client:
    """A scripted client on one 5-tuple."""

    def __init__(
        self,
        harness: Harness,
        address: Address,
        user: str,
        transport: str = "udp",
        generation: int | None = None,
    ) -> None:
        self.h = harness
        self.key: ClientKey = (transport, address, SERVER)
        self.username, self.password = make_credentials(
            SECRET, user, int(harness.clock.now()) + 3600, generation
        )
        self.realm = "telex"
        self.nonce: str | None = None
        self.sent: list[bytes] = []

    def set_credentials(self, username: str, password: str) -> None:
        self.username, self.password = username, password

    @property
    def key_bytes(self) -> bytes:
        return long_term_key(self.username, self.realm, self.password)

    def raw(self, data: bytes) -> list[Reply | ToPeer]:
        self.sent.append(data)
        return self.h.apply(self.h.core.handle_client(data, self.key, self.h.clock.now()))

    def send(self, data: bytes) -> Message | None:
        replies = [e for e in self.raw(data) if isinstance(e, Reply)]
        assert len(replies) <= 1
        return parse_message(replies[0].data) if replies else None

    def build(
        self,
        method: int,
        attrs: list[tuple[int, bytes]],
        *,
        auth: bool = True,
        tid: bytes | None = None,
        fingerprint: bool = False,
        sha256: bool = False,
    ) -> bytes:
        tid = tid or os.urandom(12)
        attrs = [(a, v(tid) if callable(v) else v) for a, v in attrs]  # type: ignore[misc]
        if auth:
            if self.nonce is None:
                self.fetch_nonce()
            assert self.nonce is not None
            attrs += [
                (Attr.USERNAME, self.username.encode()),
                (Attr.REALM, self.realm.encode()),
                (Attr.NONCE, self.nonce.encode()),
            ]
            return encode_message(
                method,
                Class.REQUEST,
                tid,
                attrs,
                integrity_key=self.key_bytes,
                sha256=sha256,
                fingerprint=fingerprint,
            )
        return encode_message(method, Class.REQUEST, tid, attrs, fingerprint=fingerprint)

    def fetch_nonce(self) -> Message:
        reply = self.send(encode_message(Method.ALLOCATE, Class.REQUEST, os.urandom(12), _udp_transport()))
        assert reply is not None
        assert reply.get(Attr.NONCE) is not None
        self.nonce = reply.get(Attr.NONCE).decode()  # type: ignore[union-attr]
        return reply

    def request(self, method: int, attrs: list[tuple[int, object]] | None = None, **kw: object) -> Message:
        reply = self.send(self.build(method, list(attrs or []), **kw))  # type: ignore[arg-type]
        assert reply is not None, "no response"
        return reply

    def allocate(self, *extra: tuple[int, object], lifetime: int | None = None) -> Message:
        attrs: list[tuple[int, object]] = [*_udp_transport(), *extra]
        if lifetime is not None:
            attrs.append((Attr.LIFETIME, encode_uint(lifetime)))
        return self.request(Method.ALLOCATE, attrs)

    def permission(self, *peers: str) -> Message:
        return self.request(
            Method.CREATE_PERMISSION,
            [(Attr.XOR_PEER_ADDRESS, (lambda t, p=p: xor_peer(p, 9, t))) for p in peers],
        )

    def channel_bind(self, number: int, peer: str, port: int) -> Message:
        return self.request(
            Method.CHANNEL_BIND,
            [
                (Attr.CHANNEL_NUMBER, encode_uint(number << 16)),
                (Attr.XOR_PEER_ADDRESS, lambda t: xor_peer(peer, port, t)),
            ],
        )

    def send_indication(self, peer: str, port: int, data: bytes) -> list[Reply | ToPeer]:
        tid = os.urandom(12)
        msg = encode_message(
            Method.SEND,
            Class.INDICATION,
            tid,
            [(Attr.XOR_PEER_ADDRESS, xor_peer(peer, port, tid)), (Attr.DATA, data)],
        )
        return self.raw(msg)


def _udp_transport() -> list[tuple[int, bytes]]:
    return [(Attr.REQUESTED_TRANSPORT, bytes([17, 0, 0, 0]))]


def code_of(msg: Message) -> int | None:
    from telex.turn.stun import decode_error_code

    return decode_error_code(msg.get(Attr.ERROR_CODE)) if msg.cls == Class.ERROR else None


def relayed(msg: Message) -> tuple[IPv4Address | IPv6Address, int] | None:
    from telex.turn.stun import decode_xor_address

    return decode_xor_address(msg.get(Attr.XOR_RELAYED_ADDRESS), msg.transaction_id)
