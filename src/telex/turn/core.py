"""The sans-I/O TURN server core (RFC 8489 STUN, RFC 8656 TURN over a UDP relay).

Theory of operation: the adapter hands every datagram from a client to ``handle_client`` with the
5-tuple and ``now``; the core answers with events: ``Reply`` bytes for the client, ``ToPeer`` for
the relay socket, and two effects on relay sockets, ``OpenRelay`` (bind one, then report back
with ``relay_opened`` or ``relay_failed``) and ``CloseRelay``. Datagrams from peers go to
``handle_peer``. Time only moves when the adapter calls ``handle_timer(now)`` at ``next_timer()``.
Nothing here opens a socket or reads a clock.

    datagram ─► ChannelData? ─► channel_data() ─► to_peer() ─► ToPeer
            └─► parse ─► FINGERPRINT ─► Binding ─► Reply(XOR-MAPPED-ADDRESS)
                                    └─► Send indication ─► policy ─► ToPeer
                                    └─► request ─► authenticate ─► _allocate ─► OpenRelay
                                                                   _refresh, _create_permission,
                                                                   _channel_bind ─► Reply
    OpenRelay ─► adapter binds ─► relay_opened(alloc, address) ─► Reply(XOR-RELAYED-ADDRESS)
                            └──► relay_failed(alloc) ─► Reply(508)
    peer datagram ─► handle_peer() ─► to_client() ─► ChannelData / Data indication

Fast path: ``to_peer`` and ``to_client`` are the per-datagram relay rules (channel lookup,
permission, bandwidth) on their own, taking only numbers and addresses, so an adapter can relay
ChannelData straight between its receive buffer and a socket and still have every rule decided
here, once. ``channel_data`` and ``handle_peer`` are the same rules plus parsing and framing. An
adapter that relays outside these calls (the native data path) mirrors the outcome instead:
``take_relay_changes`` names the allocations whose permissions or channels changed.

Authentication comes before anything that allocates state or parses optional variable-length
attributes (security.md §5.2, the CVE-2026-43994 lesson). Error responses and Binding responses
go through per-source rate limiters (amplification guard); responses to unauthenticated requests
carry no SOFTWARE and nothing beyond what the RFC requires (security.md §1.2, T-18).

A credential is bound to its user: after authentication, every request (Allocate, Refresh,
CreatePermission, ChannelBind) asks the injected ``users`` check whether the user is still live
and its tokens of the credential's generation not revoked, from a cache at most ~1 s old (the
token verifier's). When the cache does not know, the request is parked and ``CheckUser`` asks the
adapter to look the user up; ``user_checked`` then answers the parked requests. A refused user
gets 401 and loses the allocation the request was about.

    authenticated ─► users(user, generation): LIVE ─► the method
                                             REFUSED ─► 401 (and the allocation deleted)
                                             UNKNOWN ─► parked, CheckUser ─► adapter looks up
                                                        ─► user_checked(user) ─► re-run (500 if still unknown)

An allocation's own requests (same 5-tuple, same username) are verified with the key it was
created with even after the credential's expiry: a credential lives minutes (renewed by the SDKs
for new allocations), a call lives as long as it lasts, and the user check still applies.
"""

from __future__ import annotations

import heapq
import itertools
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from ipaddress import ip_address

from telex.turn import stun
from telex.turn.allocation import (
    CHANNEL_MAX,
    CHANNEL_MIN,
    Address,
    Allocation,
    ClientKey,
)
from telex.turn.credentials import (
    NonceStatus,
    RestUser,
    candidate_keys,
    check_nonce,
    make_nonce,
    parse_rest_username,
    split_generation,
)
from telex.turn.policy import PeerPolicy
from telex.turn.ratelimit import SourceLimiter
from telex.turn.stun import Attr, Class, Message, Method

__all__ = [
    "CheckUser",
    "CloseRelay",
    "CoreConfig",
    "Counters",
    "Event",
    "OpenRelay",
    "Reply",
    "ToPeer",
    "TurnCore",
    "UserCheck",
    "UserVerdict",
]


@dataclass(frozen=True, slots=True)
class CoreConfig:
    realm: str
    default_lifetime: int = 600
    max_lifetime: int = 3600
    nonce_lifetime: int = 600
    max_credential_ttl: int = 172800
    user_quota: int = 20
    total_quota: int = 2000
    max_bytes_per_second: int = 0
    error_rate_per_source: float = 100.0
    binding_rate_per_source: float = 200.0
    ipv6_relay: bool = False
    ipv4_relay: bool = True
    # RFC 8656 §12 narrowed channels to 0x4000-0x4FFF; RFC 5766 allowed up to 0x7FFF and some
    # clients (coturn 4.6's turnutils_uclient) still pick numbers there.
    max_channel: int = CHANNEL_MAX


@dataclass(slots=True)
class Reply:
    """Bytes to send back to the client on the 5-tuple the request came from."""

    data: bytes


@dataclass(slots=True)
class ToPeer:
    """Payload to send from ``allocation``'s relay socket to ``peer``."""

    allocation: Allocation
    data: bytes | memoryview
    peer: Address


@dataclass(slots=True)
class OpenRelay:
    """Effect: bind a UDP relay socket for ``allocation`` (``family`` 4 or 6; an even port if
    ``even_port``; the DF bit on everything it sends if ``dont_fragment``), then call
    ``relay_opened`` with its address, or ``relay_failed`` when no port is free."""

    allocation: Allocation
    family: int
    even_port: bool
    dont_fragment: bool


@dataclass(slots=True)
class CloseRelay:
    """Effect: the allocation is gone; close its relay socket and forget its fast paths."""

    allocation: Allocation


@dataclass(slots=True)
class CheckUser:
    """Effect: look ``user_id`` up (so the ``users`` check knows it), then call ``user_checked``."""

    user_id: str


Event = Reply | ToPeer | OpenRelay | CloseRelay | CheckUser


class UserVerdict(Enum):
    LIVE = "live"  # or not a user this check knows about (no tokens to revoke)
    REFUSED = "refused"  # deleted, or its tokens of that generation revoked
    UNKNOWN = "unknown"  # not in the cache: look it up


# (user id, the credential's token generation or None) -> verdict, without I/O.
UserCheck = Callable[[str, int | None], UserVerdict]
_PARKED_PER_USER = 16
_PARKED = 4096


@dataclass(slots=True)
class _Opening:
    """An Allocate waiting for its relay socket: what the success response needs."""

    msg: Message
    user: RestUser
    lifetime: int


@dataclass(slots=True)
class Counters:
    """Plain counters the adapter exports as metrics (no labels per user: they would leak ids)."""

    malformed: int = 0
    dropped: int = 0
    rate_limited: int = 0
    users_refused: int = 0
    errors: dict[int, int] = field(default_factory=dict)

    def error(self, code: int) -> None:
        self.errors[code] = self.errors.get(code, 0) + 1


_REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    420: "Unknown Attribute",
    437: "Allocation Mismatch",
    438: "Stale Nonce",
    440: "Address Family not Supported",
    441: "Wrong Credentials",
    442: "Unsupported Transport Protocol",
    443: "Peer Address Family Mismatch",
    486: "Allocation Quota Reached",
    500: "Server Error",
    508: "Insufficient Capacity",
}
_UDP = 17
# Failed authentications per user id: a real client fails at most once per nonce refresh.
_GUESSES_PER_SECOND = 5.0
_GUESS_BURST = 20.0
_FAMILY = {0x01: 4, 0x02: 6}


class TurnCore:
    """One TURN server's state: allocations, quotas, nonces, timers.

    Callers: the asyncio adapter (``telex.turn.server``) and tests. ``secrets`` is called on
    every authentication so rotated secrets apply without a restart. ``users``: the user check
    (see the module docstring); None checks nothing (a relay without an identity service).
    """

    def __init__(
        self,
        config: CoreConfig,
        secrets: Callable[[], Sequence[bytes]],
        policy: PeerPolicy,
        nonce_key: bytes,
        users: UserCheck | None = None,
    ) -> None:
        self.config = config
        self._secrets = secrets
        self._policy = policy
        self._nonce_key = nonce_key
        self._users = users
        # Requests waiting for a user lookup, by user id; the user whose lookup just finished.
        self._parked: dict[str, list[tuple[Message, ClientKey]]] = {}
        self._looked_up: str | None = None
        self._limiter = SourceLimiter(config.error_rate_per_source, config.error_rate_per_source)
        self._binding_limiter = SourceLimiter(config.binding_rate_per_source, config.binding_rate_per_source)
        self._guess_limiter = SourceLimiter(_GUESSES_PER_SECOND, _GUESS_BURST)
        self.allocations: dict[ClientKey, Allocation] = {}
        # Allocations whose relay socket the adapter is binding (between OpenRelay and its answer).
        self._opening: dict[ClientKey, tuple[Allocation, _Opening]] = {}
        self._per_user: dict[str, int] = {}
        self._timers: list[tuple[float, int, ClientKey]] = []
        self._seq = itertools.count()
        self.counters = Counters()
        # Allocations whose permissions or channel bindings changed since the adapter last asked
        # (``take_relay_changes``): what a data path outside the core must mirror.
        self._changed: dict[ClientKey, Allocation] = {}

    # ---------------------------------------------------------------- entry points

    def handle_client(self, data: bytes, key: ClientKey, now: float) -> list[Event]:
        """Process one datagram (or one framed TCP message) from a client."""
        if stun.is_channel_data(data):
            event = self.channel_data(data, key, now)
            return [event] if event is not None else []
        try:
            msg = stun.parse_message(data)
        except stun.StunError:
            self.counters.malformed += 1
            return []
        if msg.fingerprint_ok is False:
            # FINGERPRINT is a demultiplexing check; a wrong one is silently dropped (security.md §1.5).
            self.counters.malformed += 1
            return []
        if msg.cls == Class.INDICATION:
            if msg.method == Method.SEND:
                return self._send_indication(msg, key, now)
            return []
        if msg.cls != Class.REQUEST:
            return []
        if msg.method == Method.BINDING:
            return self._binding(msg, key, now)
        if msg.method not in _AUTHENTICATED_METHODS:
            return self._error(msg, key, now, 400)
        return self._authenticated_request(msg, key, now)

    def channel_data(self, data: bytes | memoryview, key: ClientKey, now: float) -> ToPeer | None:
        """ChannelData from a client (RFC 8656 §12.5): relay the payload to the bound peer."""
        alloc = self.allocations.get(key)
        if alloc is None or len(data) < 4:
            return None
        size = (data[2] << 8) | data[3]
        if 4 + size > len(data):
            self.counters.dropped += 1
            return None
        peer = self.to_peer(alloc, (data[0] << 8) | data[1], size, now)
        if peer is None:
            return None
        return ToPeer(alloc, memoryview(data)[4 : 4 + size], peer)

    def handle_peer(self, alloc: Allocation, data: bytes, peer: Address, now: float) -> bytes | None:
        """A datagram from ``peer`` reached ``alloc``'s relay socket: what to send to the client.

        Without a permission for the peer's IP it is dropped (RFC 8656 §10.3, T-15). With a bound
        channel it becomes ChannelData, otherwise a Data indication.
        """
        number = self.to_client(alloc, peer, len(data), now)
        if number < 0:
            return None
        if number:
            return number.to_bytes(2, "big") + len(data).to_bytes(2, "big") + data
        return self.data_indication(peer, data)

    # ---------------------------------------------------------------- fast path

    def to_peer(self, alloc: Allocation, number: int, size: int, now: float) -> Address | None:
        """The relay rule for ``size`` bytes of ChannelData on channel ``number`` from ``alloc``'s
        client: the bound peer to send them to, or ``None`` to drop them (unbound channel, or over
        the bandwidth cap; counted). Called once per datagram by the adapter's fast path."""
        peer = alloc.channels.get(number)
        if peer is None or (alloc.rate > 0 and not alloc.charge(size, now)):
            self.counters.dropped += 1
            return None
        return peer

    def to_client(self, alloc: Allocation, peer: Address, size: int, now: float) -> int:
        """The relay rule for ``size`` bytes from ``peer`` on ``alloc``'s relay socket: -1 to drop
        them (no permission for the peer's IP, RFC 8656 §10.3, or over the bandwidth cap;
        counted), else the channel number to frame them as ChannelData (RFC 8656 §12.5), or 0
        for a Data indication (``data_indication``). Called once per datagram by the fast path."""
        if peer[0] not in alloc.permissions or (alloc.rate > 0 and not alloc.charge(size, now)):
            self.counters.dropped += 1
            return -1
        return alloc.peer_channels.get(peer, 0)

    def data_indication(self, peer: Address, data: bytes) -> bytes:
        """A Data indication carrying ``data`` from ``peer`` (RFC 8656 §11.4)."""
        tid = os.urandom(12)
        xor_peer = stun.encode_xor_address(ip_address(peer[0]), peer[1], tid)
        attrs = [(Attr.XOR_PEER_ADDRESS, xor_peer), (Attr.DATA, data)]
        return stun.encode_message(Method.DATA, Class.INDICATION, tid, attrs)

    # ---------------------------------------------------------------- relay sockets

    def relay_opened(self, alloc: Allocation, address: Address, now: float) -> list[Event]:
        """The adapter bound ``alloc``'s relay socket (``OpenRelay``) at ``address``: answer the
        Allocate. If the allocation went away meanwhile (its TCP connection closed), the answer
        is ``CloseRelay`` instead."""
        entry = self._opening.pop(alloc.key, None)
        if entry is None or entry[0] is not alloc:
            return [CloseRelay(alloc)]
        opening = entry[1]
        msg = opening.msg
        alloc.expires = now + opening.lifetime
        alloc.tokens_at = now
        relayed_ip, relayed_port = self._policy.advertised(address, alloc.family)
        alloc.relayed_address = (relayed_ip, relayed_port)
        reply = self._reply(
            msg,
            [
                (
                    Attr.XOR_RELAYED_ADDRESS,
                    stun.encode_xor_address(relayed_ip, relayed_port, msg.transaction_id),
                ),
                (Attr.LIFETIME, stun.encode_uint(opening.lifetime)),
                (
                    Attr.XOR_MAPPED_ADDRESS,
                    stun.encode_xor_address(ip_address(alloc.key[1][0]), alloc.key[1][1], msg.transaction_id),
                ),
            ],
            opening.user,
        )
        alloc.allocate_response = reply.data
        self.allocations[alloc.key] = alloc
        self._schedule(alloc)
        return [reply]

    def relay_failed(self, alloc: Allocation, now: float) -> list[Event]:
        """No relay socket could be bound for ``alloc`` (no free port): 508, and no state."""
        entry = self._opening.pop(alloc.key, None)
        if entry is None or entry[0] is not alloc:
            return []
        self._release_quota(alloc)
        opening = entry[1]
        return self._error(opening.msg, alloc.key, now, 508, opening.user)

    # ---------------------------------------------------------------- timers

    def next_timer(self) -> float | None:
        """When ``handle_timer`` should next run (an absolute ``now`` value), or None."""
        return self._timers[0][0] if self._timers else None

    def handle_timer(self, now: float) -> list[Event]:
        """Expire allocations, permissions and channel bindings that are due; ``CloseRelay`` for
        every allocation that expired."""
        effects: list[Event] = []
        while self._timers and self._timers[0][0] <= now:
            _, _, key = heapq.heappop(self._timers)
            alloc = self.allocations.get(key)
            if alloc is None:
                continue
            if alloc.expires <= now:
                effects += self._delete(alloc)
            else:
                alloc.expire(now)
                self._changed[key] = alloc
                # Only the earliest deadline is ever queued; queue the next one.
                self._schedule(alloc)
        self._limiter.purge(now)
        self._binding_limiter.purge(now)
        self._guess_limiter.purge(now)
        return effects

    def user_checked(self, user_id: str, now: float) -> list[tuple[ClientKey, list[Event]]]:
        """The adapter has looked ``user_id`` up (``CheckUser``): answer its parked requests, each
        with the events for its 5-tuple. A user the check still does not know gets 500 (the
        lookup failed; the client may retry)."""
        parked = self._parked.pop(user_id, [])
        out: list[tuple[ClientKey, list[Event]]] = []
        self._looked_up = user_id  # no second lookup for these
        try:
            for msg, key in parked:
                out.append((key, self._authenticated_request(msg, key, now)))
        finally:
            self._looked_up = None
        return out

    def remove(self, key: ClientKey) -> list[Event]:
        """Delete the allocation of ``key`` if any (its TCP control connection closed)."""
        alloc = self.allocations.get(key)
        if alloc is not None:
            return self._delete(alloc)
        opening = self._opening.pop(key, None)
        if opening is not None:
            self._release_quota(opening[0])
        return []

    def close_all(self) -> list[Event]:
        """Delete every allocation (the server stops): ``CloseRelay`` for each."""
        effects: list[Event] = []
        for alloc in list(self.allocations.values()):
            effects += self._delete(alloc)
        for alloc, _ in self._opening.values():
            self._release_quota(alloc)
        self._opening.clear()
        return effects

    def take_relay_changes(self) -> list[Allocation]:
        """Live allocations whose permissions or channel bindings changed (granted, refreshed
        or expired) since the last call. An adapter that relays datagrams outside the core's
        ``to_peer``/``to_client`` mirrors ``permissions`` and ``channels`` of each; a deleted
        allocation comes as ``CloseRelay`` instead."""
        changed = list(self._changed.values())
        self._changed.clear()
        return changed

    def _schedule(self, alloc: Allocation) -> None:
        heapq.heappush(self._timers, (alloc.next_deadline(), next(self._seq), alloc.key))

    # ---------------------------------------------------------------- responses

    def _reply(
        self,
        msg: Message,
        attrs: Sequence[tuple[int, bytes]],
        user: RestUser | None = None,
        *,
        cls: Class = Class.SUCCESS,
    ) -> Reply:
        return Reply(
            stun.encode_message(
                msg.method,
                cls,
                msg.transaction_id,
                attrs,
                integrity_key=user.key if user is not None else None,
                sha256=msg.sha256_offset >= 0,
                fingerprint=msg.has(Attr.FINGERPRINT),
            )
        )

    def _error(
        self,
        msg: Message,
        key: ClientKey,
        now: float,
        code: int,
        user: RestUser | None = None,
        extra: Sequence[tuple[int, bytes]] = (),
    ) -> list[Event]:
        self.counters.error(code)
        if not self._limiter.allow(key[1][0], now):
            self.counters.rate_limited += 1
            return []
        # The reason phrase is optional (RFC 8489 §14.8); leaving it out keeps unauthenticated
        # error responses small (security.md T-01: at most twice the request).
        attrs = [(Attr.ERROR_CODE, stun.encode_error_code(code, "" if user is None else _REASONS[code]))]
        return [self._reply(msg, [*attrs, *extra], user, cls=Class.ERROR)]

    def _challenge(self, msg: Message, key: ClientKey, now: float, code: int) -> list[Event]:
        """401 or 438 with REALM and a fresh NONCE bound to this 5-tuple (RFC 8489 §9.2.4)."""
        nonce = make_nonce(self._nonce_key, _tuple_text(key), now, self.config.nonce_lifetime)
        extra = [(Attr.REALM, self.config.realm.encode()), (Attr.NONCE, nonce.encode())]
        return self._error(msg, key, now, code, extra=extra)

    # ---------------------------------------------------------------- Binding and Send

    def _binding(self, msg: Message, key: ClientKey, now: float) -> list[Event]:
        if not self._binding_limiter.allow(key[1][0], now):
            # Binding answers anyone, so spoofed sources could aim it at a victim (security.md
            # §1.2 "Reflection / amplification"): a per-source budget bounds what one receives.
            self.counters.rate_limited += 1
            return []
        if msg.unknown_required:
            return self._error(msg, key, now, 420, extra=[_unknown(msg)])
        ip, port = ip_address(key[1][0]), key[1][1]
        mapped = stun.encode_xor_address(ip, port, msg.transaction_id)
        return [self._reply(msg, [(Attr.XOR_MAPPED_ADDRESS, mapped)])]

    def _send_indication(self, msg: Message, key: ClientKey, now: float) -> list[Event]:
        """Send indication (RFC 8656 §11.3): relayed only with a permission and an allowed peer."""
        alloc = self.allocations.get(key)
        peer = stun.decode_xor_address(msg.get(Attr.XOR_PEER_ADDRESS), msg.transaction_id)
        data = msg.get(Attr.DATA)
        if alloc is None or peer is None or data is None:
            self.counters.dropped += 1
            return []
        ip, port = peer
        peer_ip = str(ip)
        if (
            self._policy.check(ip, port, alloc.family) is not None
            or peer_ip not in alloc.permissions
            or not alloc.charge(len(data), now)
        ):
            self.counters.dropped += 1
            return []
        return [ToPeer(alloc, data, (peer_ip, port))]

    # ---------------------------------------------------------------- authentication

    def _authenticate(self, msg: Message, key: ClientKey, now: float) -> RestUser | list[Event]:
        if msg.integrity_offset < 0 and msg.sha256_offset < 0:
            return self._challenge(msg, key, now, 401)
        username, realm, nonce = msg.get(Attr.USERNAME), msg.get(Attr.REALM), msg.get(Attr.NONCE)
        if username is None or realm is None or nonce is None:
            return self._error(msg, key, now, 400)
        sha = msg.get(Attr.MESSAGE_INTEGRITY_SHA256)
        if sha is not None and (len(sha) < 16 or len(sha) > 32 or len(sha) % 4):
            return self._error(msg, key, now, 400)  # RFC 8489 §14.6, T-22
        if msg.has(Attr.PASSWORD_ALGORITHM) or msg.has(Attr.PASSWORD_ALGORITHMS):
            # We never offer PASSWORD-ALGORITHMS (no nonce cookie), so a client naming one is
            # confused or attempting a bid-down (RFC 8489 §9.2.4).
            return self._error(msg, key, now, 400)
        status = check_nonce(self._nonce_key, nonce.decode("latin-1"), _tuple_text(key), now)
        if status is NonceStatus.INVALID or realm != self.config.realm.encode():
            return self._challenge(msg, key, now, 401)
        try:
            name = username.decode()
        except UnicodeDecodeError:
            return self._challenge(msg, key, now, 401)
        alloc = self.allocations.get(key)
        user: RestUser | None = None
        if alloc is not None and alloc.username == name and msg.check_integrity(alloc.integrity_key):
            # The allocation's own credential, past its expiry or not (see the module docstring).
            parsed = parse_rest_username(name)
            generation = split_generation(parsed[1])[1] if parsed else None
            user = RestUser(name, alloc.user_id, parsed[0] if parsed else 0, alloc.integrity_key, generation)
        else:
            candidates = candidate_keys(
                name, self.config.realm, self._secrets(), now, self.config.max_credential_ttl
            )
            user = next((c for c in candidates if msg.check_integrity(c.key)), None)
        if user is None:
            # Online guessing against one user id from many sources: past a few failures per
            # second for that id, stay silent (security.md §1.2 "Credential brute force").
            parsed = parse_rest_username(name)
            if parsed is not None and not self._guess_limiter.allow(parsed[1], now):
                self.counters.rate_limited += 1
                return []
            return self._challenge(msg, key, now, 401)
        if status is NonceStatus.STALE:
            return self._challenge(msg, key, now, 438)
        return user

    def _authenticated_request(self, msg: Message, key: ClientKey, now: float) -> list[Event]:
        auth = self._authenticate(msg, key, now)
        if isinstance(auth, list):
            return auth
        user = auth
        if self._users is not None:
            verdict = self._users(user.user_id, user.generation)
            if verdict is UserVerdict.UNKNOWN:
                return self._park(msg, key, now, user)
            if verdict is UserVerdict.REFUSED:
                self.counters.users_refused += 1
                alloc = self.allocations.get(key)
                effects = self._delete(alloc) if alloc is not None and alloc.user_id == user.user_id else []
                return [*effects, *self._challenge(msg, key, now, 401)]
        if msg.unknown_required:
            return self._error(msg, key, now, 420, user, [_unknown(msg)])
        if msg.method == Method.ALLOCATE:
            return self._allocate(msg, key, now, user)
        alloc = self.allocations.get(key)
        if alloc is None:
            return self._error(msg, key, now, 437, user)
        if alloc.username != user.username:
            return self._error(msg, key, now, 441, user)
        if msg.method == Method.REFRESH:
            return self._refresh(msg, key, now, user, alloc)
        if msg.method == Method.CREATE_PERMISSION:
            return self._create_permission(msg, key, now, user, alloc)
        return self._channel_bind(msg, key, now, user, alloc)

    def _park(self, msg: Message, key: ClientKey, now: float, user: RestUser) -> list[Event]:
        if user.user_id == self._looked_up:  # looked up already and still unknown: the store failed
            return self._error(msg, key, now, 500, user)
        waiting = self._parked.get(user.user_id)
        if waiting is None:
            if len(self._parked) >= _PARKED:
                return []  # a flood of unknown users: UDP clients retransmit
            self._parked[user.user_id] = [(msg, key)]
            return [CheckUser(user.user_id)]
        if len(waiting) < _PARKED_PER_USER:
            waiting.append((msg, key))
        return []  # one lookup per user at a time

    # ---------------------------------------------------------------- Allocate and Refresh

    def _allocate(self, msg: Message, key: ClientKey, now: float, user: RestUser) -> list[Event]:
        """Allocate (RFC 8656 §7.2), checked in the RFC's order; no state on any error."""
        existing = self.allocations.get(key)
        if existing is not None:
            if existing.allocate_tid == msg.transaction_id and existing.username == user.username:
                return [Reply(existing.allocate_response)]  # a retransmission
            return self._error(msg, key, now, 437, user)
        if key in self._opening:
            return []  # a retransmission while the relay socket is being bound: the answer comes
        transport = msg.get(Attr.REQUESTED_TRANSPORT)
        if transport is None or len(transport) != 4:
            return self._error(msg, key, now, 400, user)
        if transport[0] != _UDP:
            return self._error(msg, key, now, 442, user)
        if msg.has(Attr.RESERVATION_TOKEN):
            return self._error(msg, key, now, 400, user)  # reservations are not offered
        even = msg.get(Attr.EVEN_PORT)
        if even is not None and (len(even) != 1 or even[0] & 0x80):
            # EVEN-PORT with the R bit asks for a reserved pair; refused clearly rather than
            # half-supported (RFC 8656 §7.2 lets a server reject it).
            return self._error(msg, key, now, 400, user)
        family_attr = msg.get(Attr.REQUESTED_ADDRESS_FAMILY)
        family = 4
        if family_attr is not None:
            if msg.has(Attr.ADDITIONAL_ADDRESS_FAMILY):
                return self._error(msg, key, now, 400, user)
            if len(family_attr) != 4 or family_attr[0] not in _FAMILY:
                return self._error(msg, key, now, 440, user)
            family = _FAMILY[family_attr[0]]
        if not (self.config.ipv6_relay if family == 6 else self.config.ipv4_relay):
            return self._error(msg, key, now, 440, user)
        if self._per_user.get(user.user_id, 0) >= self.config.user_quota:
            return self._error(msg, key, now, 486, user)
        if len(self.allocations) + len(self._opening) >= self.config.total_quota:
            return self._error(msg, key, now, 508, user)
        lifetime = self._lifetime(msg, allocate=True)
        alloc = Allocation(
            key=key,
            username=user.username,
            user_id=user.user_id,
            integrity_key=user.key,
            family=family,
            expires=now + lifetime,
            allocate_tid=msg.transaction_id,
            rate=float(self.config.max_bytes_per_second),
            burst=Allocation.burst_for(self.config.max_bytes_per_second),
            tokens=Allocation.burst_for(self.config.max_bytes_per_second),
            tokens_at=now,
        )
        self._opening[key] = (alloc, _Opening(msg, user, lifetime))
        self._per_user[user.user_id] = self._per_user.get(user.user_id, 0) + 1
        return [OpenRelay(alloc, family, even is not None, msg.has(Attr.DONT_FRAGMENT))]

    def _lifetime(self, msg: Message, *, allocate: bool) -> int:
        requested = stun.decode_uint(msg.get(Attr.LIFETIME))
        if requested is None:
            return self.config.default_lifetime
        lifetime = min(requested, self.config.max_lifetime)
        # An Allocate may not ask for less than the default (RFC 8656 §7.2 step 7).
        return max(lifetime, self.config.default_lifetime) if allocate else lifetime

    def _refresh(
        self, msg: Message, key: ClientKey, now: float, user: RestUser, alloc: Allocation
    ) -> list[Event]:
        """Refresh (RFC 8656 §8): LIFETIME 0 deletes, anything else is clamped to the maximum."""
        family_attr = msg.get(Attr.REQUESTED_ADDRESS_FAMILY)
        if family_attr is not None and _FAMILY.get(family_attr[0] if family_attr else 0) != alloc.family:
            return self._error(msg, key, now, 443, user)
        lifetime = self._lifetime(msg, allocate=False)
        effects: list[Event] = []
        if lifetime == 0:
            effects = self._delete(alloc)
        else:
            alloc.expires = now + lifetime
            self._schedule(alloc)
        return [*effects, self._reply(msg, [(Attr.LIFETIME, stun.encode_uint(lifetime))], user)]

    def _delete(self, alloc: Allocation) -> list[Event]:
        if self.allocations.pop(alloc.key, None) is None:
            return []
        self._changed.pop(alloc.key, None)
        self._release_quota(alloc)
        return [CloseRelay(alloc)]

    def _release_quota(self, alloc: Allocation) -> None:
        left = self._per_user.get(alloc.user_id, 1) - 1
        if left:
            self._per_user[alloc.user_id] = left
        else:
            self._per_user.pop(alloc.user_id, None)

    # ---------------------------------------------------------------- permissions and channels

    def _create_permission(
        self, msg: Message, key: ClientKey, now: float, user: RestUser, alloc: Allocation
    ) -> list[Event]:
        """CreatePermission (RFC 8656 §10.2): all peers must pass, or none is installed."""
        peers = [
            stun.decode_xor_address(value, msg.transaction_id)
            for atype, value in _all_attributes(msg, Attr.XOR_PEER_ADDRESS)
        ]
        if not peers or any(p is None for p in peers):
            return self._error(msg, key, now, 400, user)
        for peer in peers:
            assert peer is not None
            code = self._policy.check(peer[0], None, alloc.family)
            if code is not None:
                return self._error(msg, key, now, code, user)
        for peer in peers:
            assert peer is not None
            alloc.permit(str(peer[0]), now)
        self._changed[key] = alloc
        self._schedule(alloc)
        return [self._reply(msg, [], user)]

    def _channel_bind(
        self, msg: Message, key: ClientKey, now: float, user: RestUser, alloc: Allocation
    ) -> list[Event]:
        """ChannelBind (RFC 8656 §11.2): 0x4000-0x4FFF (or RFC 5766's 0x7FFF if configured), one
        peer per number and one number per peer."""
        number = stun.decode_uint(msg.get(Attr.CHANNEL_NUMBER))
        peer = stun.decode_xor_address(msg.get(Attr.XOR_PEER_ADDRESS), msg.transaction_id)
        if number is None or peer is None:
            return self._error(msg, key, now, 400, user)
        number >>= 16  # the number is the high half; the low half is RFFU
        if not CHANNEL_MIN <= number <= self.config.max_channel:
            return self._error(msg, key, now, 400, user)
        ip, port = peer
        code = self._policy.check(ip, port, alloc.family)
        if code is not None:
            return self._error(msg, key, now, code, user)
        address = (str(ip), port)
        if alloc.channel_conflict(number, address):
            return self._error(msg, key, now, 400, user)
        alloc.bind_channel(number, address, now)
        self._changed[key] = alloc
        self._schedule(alloc)
        return [self._reply(msg, [], user)]


_AUTHENTICATED_METHODS = frozenset(
    {Method.ALLOCATE, Method.REFRESH, Method.CREATE_PERMISSION, Method.CHANNEL_BIND}
)


def _tuple_text(key: ClientKey) -> str:
    return f"{key[0]}|{key[1][0]}|{key[1][1]}|{key[2][0]}|{key[2][1]}"


def _unknown(msg: Message) -> tuple[int, bytes]:
    return (Attr.UNKNOWN_ATTRIBUTES, b"".join(a.to_bytes(2, "big") for a in msg.unknown_required[:8]))


def _all_attributes(msg: Message, attr: int) -> list[tuple[int, bytes]]:
    """Every occurrence of ``attr`` (CreatePermission may carry several XOR-PEER-ADDRESS)."""
    out: list[tuple[int, bytes]] = []
    raw, pos, end = msg.raw, stun.HEADER_LENGTH, len(msg.raw)
    limit = min(o for o in (msg.integrity_offset, msg.sha256_offset, end) if o >= 0)
    while pos + 4 <= limit:
        atype = (raw[pos] << 8) | raw[pos + 1]
        alen = (raw[pos + 2] << 8) | raw[pos + 3]
        if atype == attr:
            out.append((atype, raw[pos + 4 : pos + 4 + alen]))
        pos += 4 + alen + (-alen % 4)
    return out
