"""The shared half of the UA core: state, configuration, the plumbing that moves bytes through
transactions, and how a call ends. ``UserAgent`` (user_agent.py) is this plus the UAS half
(_uas.py: requests we receive) and the UAC half (_uac.py: requests we send)."""

from __future__ import annotations

import heapq
import ipaddress
import itertools
import os
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from telex.sip.dialog import DialogState
from telex.sip.digest import CredentialLookup, DigestClient, DigestServer
from telex.sip.errors import SipParseError, SipUsageError
from telex.sip.events import (
    Ended,
    Event,
    Outgoing,
    Peer,
)
from telex.sip.headers import Headers, Via
from telex.sip.leg import Leg, LegState, LegTimer
from telex.sip.message import (
    DEFAULT_LIMITS,
    Limits,
    Request,
    Response,
    StreamParser,
    make_response,
)
from telex.sip.reasons import EndCause, Reason, parse_reasons
from telex.sip.sdp import SdpNegotiationError, parse_sdp
from telex.sip.transaction import (
    Deliver,
    Effect,
    Kind,
    TimedOut,
    TimerConfig,
    Transaction,
    Transmit,
    TransportFailed,
    client_key,
    new_branch,
)
from telex.sip.uri import NameAddr, SipUri

__all__ = [
    "ALLOW",
    "DTMF_SIGNALS",
    "KNOWN_METHODS",
    "SDP",
    "ClientEntry",
    "Counters",
    "ServerEntry",
    "UaBase",
    "UaConfig",
    "challenge_realm",
    "credentials_of",
    "first_reason",
    "token",
]

ALLOW = "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO"
KNOWN_METHODS = frozenset(
    {"REGISTER", "SUBSCRIBE", "NOTIFY", "MESSAGE", "REFER", "PUBLISH", "UPDATE", "PRACK"}
)
SDP = "application/sdp"
DTMF_SIGNALS = {"10": "*", "11": "#", "12": "A", "13": "B", "14": "C", "15": "D"}


@dataclass(frozen=True, slots=True)
class UaConfig:
    """``host`` is the address peers reach us at (Via, Contact); ``ports`` maps each transport
    the shell listens on to its port. ``credentials`` answers 401/407 (by realm); ``auth``
    challenges incoming INVITEs; ``accept_from`` (None: everyone) decides which addresses may
    start calls at all: others are dropped without an answer."""

    host: str
    ports: dict[str, int] = field(default_factory=lambda: {"udp": 5060})
    user: str = "telex"
    user_agent: str = "Telex"
    timers: TimerConfig = field(default_factory=TimerConfig)
    limits: Limits = DEFAULT_LIMITS
    credentials: CredentialLookup | None = None
    auth: DigestServer | None = None
    accept_from: Callable[[Peer], bool] | None = None


@dataclass(slots=True)
class Counters:
    received: int = 0
    malformed_unknown: int = 0  # unparseable, from an address we have no call or trunk with
    malformed_known: int = 0
    refused: int = 0  # well-formed requests from addresses ``accept_from`` turned down
    unmatched_responses: int = 0
    stream_errors: int = 0


@dataclass(slots=True, eq=False)
class ClientEntry:
    key: tuple[str, str]
    tx: Transaction
    peer: Peer
    on_response: Callable[[Response, float], None]
    on_failure: Callable[[bool, float], None]  # (timed out, now); False: transport failure


@dataclass(slots=True, eq=False)
class ServerEntry:
    key: tuple[str, str, int | None, str]
    tx: Transaction
    peer: Peer


TimerOwner = ClientEntry | ServerEntry | Leg


def token() -> str:
    return os.urandom(8).hex()


class UaBase:
    """State and plumbing; the halves add the handlers."""

    def __init__(self, config: UaConfig, *, rng: random.Random | None = None) -> None:
        self.config = config
        self.counters = Counters()
        self._rng = rng or random.Random()
        self._out: list[Outgoing] = []
        self._events: list[Event] = []
        self._legs: dict[str, Leg] = {}
        self._clients: dict[tuple[str, str], ClientEntry] = {}
        self._servers: dict[tuple[str, str, int | None, str], ServerEntry] = {}
        self._streams: dict[Peer, StreamParser] = {}
        self._by_tx: dict[Transaction, ServerEntry] = {}
        self._known_hosts: Counter[str] = Counter()
        # Every deadline of every transaction and leg, lazily invalidated: an entry counts only
        # while it equals its owner's current earliest deadline, so nothing is ever scanned.
        self._heap: list[tuple[float, int, TimerOwner]] = []
        self._order = itertools.count()

    def data_to_send(self) -> list[Outgoing]:
        out, self._out = self._out, []
        return out

    def events(self) -> list[Event]:
        out, self._events = self._events, []
        return out

    def next_timer(self) -> float | None:
        heap = self._heap
        while heap:
            due, _, owner = heap[0]
            if self._deadline_of(owner) == due:
                return due
            heapq.heappop(heap)
        return None

    def _deadline_of(self, owner: TimerOwner) -> float | None:
        if isinstance(owner, Leg):
            return owner.next_deadline() if self._legs.get(owner.call_id) is owner else None
        return None if owner.tx.terminated else owner.tx.next_timer()

    def _schedule(self, owner: TimerOwner) -> None:
        due = self._deadline_of(owner)
        if due is not None:
            heapq.heappush(self._heap, (due, next(self._order), owner))

    def _due_owners(self, now: float) -> list[TimerOwner]:
        """Owners with a deadline at or before ``now``, earliest first, each once."""
        out: list[TimerOwner] = []
        seen: set[int] = set()
        heap = self._heap
        while heap and heap[0][0] <= now:
            due, _, owner = heapq.heappop(heap)
            if self._deadline_of(owner) == due and id(owner) not in seen:
                seen.add(id(owner))
                out.append(owner)
        return out

    def _arm(self, leg: Leg, timer: LegTimer, at: float) -> None:
        leg.deadlines[timer] = at
        heapq.heappush(self._heap, (at, next(self._order), leg))

    def _add_leg(self, leg: Leg) -> None:
        self._legs[leg.call_id] = leg
        self._known_hosts[leg.peer.host] += 1

    def _drop_leg(self, leg: Leg) -> None:
        if self._legs.get(leg.call_id) is leg:
            del self._legs[leg.call_id]
            self._known_hosts[leg.peer.host] -= 1
            if self._known_hosts[leg.peer.host] <= 0:
                del self._known_hosts[leg.peer.host]

    def leg(self, call_id: str) -> Leg | None:
        """The leg's state, for inspection (tests, metrics); change it only through commands."""
        return self._legs.get(call_id)

    def _via(self, peer: Peer, branch: str | None = None) -> Via:
        port = self.config.ports.get(peer.transport) or next(iter(self.config.ports.values()))
        params: tuple[tuple[str, str | None], ...] = (("branch", branch or new_branch()), ("rport", None))
        return Via(peer.transport.upper(), self.config.host, port, params)

    def _contact(self, peer: Peer) -> NameAddr:
        port = self.config.ports.get(peer.transport) or next(iter(self.config.ports.values()))
        params: tuple[tuple[str, str | None], ...] = ()
        if peer.transport != "udp":
            params = (("transport", peer.transport),)
        scheme = "sips" if peer.transport == "tls" else "sip"
        return NameAddr(SipUri(self.config.host, self.config.user, port, scheme, None, params))

    def _count_malformed(self, peer: Peer) -> None:
        if self._is_known(peer):
            self.counters.malformed_known += 1
        else:
            self.counters.malformed_unknown += 1

    def _is_known(self, peer: Peer) -> bool:
        if self.config.accept_from is not None and self.config.accept_from(peer):
            return True
        return peer.host in self._known_hosts

    def _start_client(
        self,
        request: Request,
        peer: Peer,
        now: float,
        on_response: Callable[[Response, float], None],
        on_failure: Callable[[bool, float], None],
    ) -> Transaction:
        kind = Kind.INVITE_CLIENT if request.method == "INVITE" else Kind.NON_INVITE_CLIENT
        tx = Transaction(kind, request, reliable=peer.reliable, timers=self.config.timers)
        key = client_key(request.branch or "", request.method)
        entry = ClientEntry(key, tx, peer, on_response, on_failure)
        self._clients[key] = entry
        self._run_client(entry, tx.start(now), now)
        return tx

    def _run_client(self, entry: ClientEntry, effects: list[Effect], now: float) -> None:
        for effect in effects:
            if isinstance(effect, Transmit):
                self._out.append(Outgoing(entry.peer, effect.data))
            elif isinstance(effect, Deliver):
                assert isinstance(effect.message, Response)
                entry.on_response(effect.message, now)
            elif isinstance(effect, TimedOut):
                entry.on_failure(True, now)
            elif isinstance(effect, TransportFailed):
                entry.on_failure(False, now)
        if entry.tx.terminated:
            if self._clients.get(entry.key) is entry:
                del self._clients[entry.key]
        else:
            self._schedule(entry)

    def _run_server(self, entry: ServerEntry, effects: list[Effect], now: float) -> None:
        for effect in effects:
            if isinstance(effect, Transmit):
                self._out.append(Outgoing(entry.peer, effect.data))
            elif isinstance(effect, Deliver) and isinstance(effect.message, Request):
                self._on_ack(effect.message, now)
        if entry.tx.terminated:
            if self._servers.get(entry.key) is entry:
                del self._servers[entry.key]
            self._by_tx.pop(entry.tx, None)
        else:
            self._schedule(entry)

    def _response_peer(self, request: Request, peer: Peer) -> Peer:
        if peer.reliable:
            return peer
        via = request.via[0]
        if via.param("rport") is not None:
            return peer
        return Peer(peer.transport, peer.host, via.port or 5060)

    def _next_hop(self, leg: Leg) -> Peer:
        if leg.dialog is None:
            return leg.peer
        uri = leg.dialog.next_hop()
        if isinstance(uri, SipUri):
            host = uri.host.strip("[]")
            try:
                ipaddress.ip_address(host)
            except ValueError:
                return leg.peer
            transport = uri.transport if uri.param("transport") else leg.peer.transport
            default = 5061 if transport == "tls" else 5060
            return Peer(transport, host, uri.port or default)
        return leg.peer

    def _reply(
        self,
        entry: ServerEntry,
        request: Request,
        status: int,
        now: float,
        *,
        extra: list[tuple[str, str]] | None = None,
        to_tag: str | None = None,
        body: bytes = b"",
        content_type: str | None = None,
    ) -> None:
        response = make_response(request, status, to_tag=to_tag or (token() if status > 100 else None))
        for name, value in extra or ():
            response.headers.add(name, value)
        response.headers.add("Server", self.config.user_agent)
        if body:
            response.headers.add("Content-Type", content_type or SDP)
            response.body = body
        self._run_server(entry, entry.tx.respond(response, now), now)

    def _server_entry(self, tx: Transaction) -> ServerEntry:
        entry = self._by_tx.get(tx)
        if entry is None:
            raise SipUsageError("the INVITE transaction is gone")
        return entry

    def _take_answer(self, leg: Leg, body: bytes) -> bool:
        if leg.audio is None or not body:
            return False
        try:
            leg.media = leg.audio.accept_answer(parse_sdp(body))
        except (SipParseError, SdpNegotiationError):
            return False
        leg.offered_direction = leg.direction
        return True

    def _send_bye(self, leg: Leg, now: float, reason: Reason | None = None) -> None:
        dialog = leg.dialog
        if dialog is None or dialog.state is DialogState.TERMINATED:
            return
        extra = []
        if reason or leg.end_reason:
            extra.append(("Reason", str(reason or leg.end_reason)))
        bye = dialog.create_request("BYE", self._via(self._next_hop(leg)), extra=extra)
        dialog.terminate()
        peer = self._next_hop(leg)
        auth = DigestClient(self.config.credentials) if self.config.credentials else None

        def on_response(response: Response, now: float) -> None:
            if response.status in (401, 407) and auth is not None:
                headers = auth.authorize(bye, response)
                if headers:
                    retry = Headers()
                    for name, value in bye.headers:
                        if name.lower() == "via":
                            value = str(self._via(peer))
                        elif name.lower() == "cseq":
                            value = f"{bye.cseq.seq + 1} BYE"
                        retry.add(name, value)
                    for name, value in headers:
                        retry.add(name, value)
                    self._start_client(
                        Request(retry, b"", "BYE", bye.uri), peer, now, lambda r, n: None, lambda t, n: None
                    )

        self._start_client(bye, peer, now, on_response, lambda t, n: None)

    def _end(
        self,
        leg: Leg,
        cause: EndCause,
        by_remote: bool,
        status: int | None,
        now: float,
        reason: Reason | None = None,
    ) -> None:
        if leg.ended:
            return
        leg.ended = True
        if leg.state is not LegState.CANCELLING:
            leg.state = LegState.ENDED
        leg.deadlines.pop(LegTimer.REINVITE_RETRY, None)
        self._arm(leg, LegTimer.LINGER, now + 64 * self.config.timers.t1)
        self._events.append(Ended(leg.call_id, cause, by_remote, status, reason))

    def _on_ack(self, ack: Request, now: float) -> None:
        raise NotImplementedError  # the UAS half


def first_reason(message: Request | Response) -> Reason | None:
    """The first Reason value, preferring Q.850 (RFC 3326); a malformed header is ignored."""
    try:
        reasons = parse_reasons(message.headers.get_all("reason"))
    except SipParseError:
        return None
    for reason in reasons:
        if reason.protocol.upper() == "Q.850":
            return reason
    return reasons[0] if reasons else None


def challenge_realm(response: Response) -> str:
    for name in ("www-authenticate", "proxy-authenticate"):
        value = response.headers.get(name)
        if value and 'realm="' in value:
            return value.split('realm="', 1)[1].split('"', 1)[0]
    return ""


def credentials_of(request: Request) -> list[tuple[str, str]]:
    return [
        (name, value)
        for name, value in request.headers
        if name.lower() in ("authorization", "proxy-authorization")
    ]
