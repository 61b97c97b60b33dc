"""One notification socket's state machine, sans I/O: client frames and ``now`` in; frames,
effects and a close out; timers exposed (``next_timer()`` / ``handle_timer(now)``).

Theory of operation. The JS chat SDK's signaling client allocates a connection (``POST /v4/a``,
authenticated by the user token), is given *connection parameters* (``connectparams``) and opens
a socket.io 0.9 WebSocket carrying them. Telex puts two things there: a short-lived signed
ticket that names the user (the socket itself carries no token), and ``cur``, the log position
after which this client wants events. The shell checks the ticket (``CheckTicket``), registers
the socket with the hub and reports ``verified``; the session then sends socket.io's connect
packet and ``trouter.connected`` (which the client waits for), and replays the user's visible
events after ``cur`` (``ReadReplay``, page by page) while holding live ones, then goes LIVE.

    VERIFYING ─verified─► REPLAYING ─last page─► LIVE
        │ rejected           │                     │
        └────────────────────┴── close ────────────┴─► CLOSED

Exactly once across a server restart. Each notification travels as a request (a message
packet) that the client handles and answers; the client keeps no position of its own, but it
keeps the last ``connectparams`` it was given and sends them back when it allocates again. So
every frame that carries durable events also carries a ``trouter.connected`` packet whose
``connectparams`` name the position of its last event: the client handles all packets of one
frame in one task, so after any crash of the server it holds the position of exactly the events
its handlers saw, and the next socket resumes after it. Typing (ephemeral) moves no position.

Keep-alive. The client pings (an event with an acknowledgement) every 40 s and after each
response, and drops the socket when the acknowledgement is 5 s late; the session acknowledges
every event that asks. Socket.io's own heartbeat goes out after ``heartbeat`` seconds without
traffic; a client silent for ``client_timeout`` seconds is gone.

The outbox is bounded: past ``queue_limit`` packets or ``queue_bytes`` the session closes (slow
consumer); the client reconnects and resumes from its position, so nothing is lost.

Errors: a client that breaks the protocol is disconnected (``CloseConnection``); a shell that
feeds an input the state cannot take is a bug (``SessionMisuse``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from telex.events.model import DomainEvent
from telex.identity import Principal
from telex.notifications import framing as f
from telex.notifications.render import body, payload

__all__ = [
    "TRANSITIONS",
    "CheckTicket",
    "CloseConnection",
    "Input",
    "NotificationSession",
    "ReadReplay",
    "SessionMisuse",
    "State",
]


class State(Enum):
    VERIFYING = "verifying"
    REPLAYING = "replaying"
    LIVE = "live"
    CLOSED = "closed"


class Input(Enum):
    HEARTBEAT = "heartbeat"  # client: 2::
    CLIENT_EVENT = "clientEvent"  # client: 5:… (ping, user.activity, …)
    RESPONSE = "response"  # client: 3::: its answer to a notification
    QUIET = "quiet"  # client: connect, ack, noop, json: nothing to do
    DISCONNECT = "disconnect"  # client: 0::
    BAD_FRAME = "badFrame"  # client: anything malformed or unexpected
    VERIFIED = "verified"  # shell: the ticket is good and the socket is registered
    REJECTED = "rejected"  # shell: it is not
    REPLAY_PAGE = "replayPage"  # shell: a page of the log after the cursor
    EVENT = "event"  # hub: an event for this user
    TIMER = "timer"  # the shell's timer fired
    REVOKED = "revoked"  # shell: the token behind the ticket was revoked or expired
    PEER_GONE = "peerGone"  # shell: the transport closed


_V, _R, _L, _C = State.VERIFYING, State.REPLAYING, State.LIVE, State.CLOSED
_CLIENT_INPUTS = frozenset(
    {Input.HEARTBEAT, Input.CLIENT_EVENT, Input.RESPONSE, Input.QUIET, Input.DISCONNECT, Input.BAD_FRAME}
)

# (state, input) → the state after it. A client input missing here breaks the protocol (the
# session disconnects); a shell input missing here is ``SessionMisuse``. CLOSED takes everything.
# Inputs whose effect depends on more than the state (a cursor ahead of the log, the last replay
# page, an overflowing outbox, a deadline) may also close; the table says where they go otherwise.
TRANSITIONS: dict[tuple[State, Input], State] = {
    # Before the connect packet a socket.io client sends nothing but a disconnect.
    (_V, Input.DISCONNECT): _C,
    (_V, Input.VERIFIED): _R,  # LIVE at once when the log has nothing after the cursor
    (_V, Input.REJECTED): _C,
    (_V, Input.EVENT): _V,  # held: the shell registers with the hub just before verified
    (_V, Input.TIMER): _V,
    (_V, Input.PEER_GONE): _C,
}
for _state in (_R, _L):
    TRANSITIONS.update(
        {
            (_state, Input.HEARTBEAT): _state,
            (_state, Input.CLIENT_EVENT): _state,
            (_state, Input.RESPONSE): _state,
            (_state, Input.QUIET): _state,
            (_state, Input.DISCONNECT): _C,
            (_state, Input.EVENT): _state,
            (_state, Input.TIMER): _state,
            (_state, Input.REVOKED): _C,
            (_state, Input.PEER_GONE): _C,
        }
    )
TRANSITIONS[(_R, Input.REPLAY_PAGE)] = _R  # LIVE after the last page
TRANSITIONS.update({(_C, i): _C for i in Input})


class SessionMisuse(Exception):
    """The shell fed an input the session's state cannot take (a bug in the shell)."""


@dataclass(frozen=True, slots=True)
class CheckTicket:
    """Check the connection's ticket; answer with ``verified`` or ``rejected``."""


@dataclass(frozen=True, slots=True)
class ReadReplay:
    """Read the user's visible events after ``after``; answer with ``replayed``."""

    after: int


@dataclass(frozen=True, slots=True)
class CloseConnection:
    """Send ``frame`` (a disconnect packet), then close the WebSocket with ``code``."""

    code: int
    reason: str
    frame: str


Effect = CheckTicket | ReadReplay | CloseConnection
Permits = Callable[[DomainEvent, frozenset[str]], bool]

# WebSocket close codes (RFC 6455 §7.4): the client reconnects after any of them.
NORMAL, POLICY, TOO_BIG, TRY_AGAIN = 1000, 1008, 1009, 1013


@dataclass(frozen=True, slots=True)
class Connection:
    """What ``trouter.connected`` tells the client about its connection (the allocation's
    answer: the signaling client caches these and sends ``connectparams`` back on reconnect)."""

    socketio: str
    url: str
    surl: str
    ccid: str
    id: str
    ttl: int
    reconnect_url: str

    def connected_packet(self, cursor: int) -> str:
        return f.event_packet(
            "trouter.connected",
            {
                "id": self.id, "ccid": self.ccid, "socketio": self.socketio, "url": self.url,
                "surl": self.surl, "ttl": self.ttl, "reconnectUrl": self.reconnect_url,
                "connectparams": {"cur": str(cursor)},
            },
        )  # fmt: skip


class NotificationSession:
    __slots__ = (
        "_client_timeout",
        "_conn",
        "_cursor",
        "_delivered",
        "_effects",
        "_heartbeat",
        "_held",
        "_last_heard",
        "_last_sent",
        "_limit",
        "_limit_bytes",
        "_max_frame",
        "_next_id",
        "_outbox",
        "_permits",
        "_queued_bytes",
        "close",
        "principal",
        "state",
        "user_id",
    )

    def __init__(
        self,
        now: float,
        conn: Connection,
        cursor: int | None,
        *,
        heartbeat: float,
        client_timeout: float,
        max_frame_bytes: int,
        queue_limit: int,
        permits: Permits,
        queue_bytes: int = 0,
    ) -> None:
        self.state = State.VERIFYING
        self.principal: Principal | None = None
        self.user_id = ""
        self.close: CloseConnection | None = None
        self._conn = conn
        # The client's position (events after it are owed); None: from when the hub takes it.
        self._cursor = cursor
        self._delivered = cursor or 0  # the newest position queued for the client
        self._heartbeat = heartbeat
        self._client_timeout = client_timeout
        self._max_frame = max_frame_bytes
        self._limit = queue_limit
        self._limit_bytes = queue_bytes  # 0: items only
        self._queued_bytes = 0
        self._permits = permits
        # Packets to send, each with the log position it moves the client to (0: none).
        self._outbox: list[tuple[str, int]] = []
        self._effects: list[Effect] = [CheckTicket()]
        self._held: list[DomainEvent] = []
        self._next_id = 0
        self._last_sent = now
        self._last_heard = now

    # outputs --------------------------------------------------------------------------------------
    def effects(self) -> list[Effect]:
        """What the shell must do now (taken: each effect is returned once)."""
        out, self._effects = self._effects, []
        return out

    @property
    def has_effects(self) -> bool:
        return bool(self._effects)

    @property
    def pending_packets(self) -> int:
        return len(self._outbox)

    def pop_frame(self, now: float, max_packets: int = 64) -> str | None:
        """The next WebSocket frame: up to ``max_packets`` queued packets and, if any of them
        carries a durable event, the ``trouter.connected`` naming its position, in one payload."""
        if not self._outbox:
            return None
        batch, self._outbox = self._outbox[:max_packets], self._outbox[max_packets:]
        packets = [text for text, _ in batch]
        self._queued_bytes -= sum(len(text) for text in packets)
        position = max(pos for _, pos in batch)
        if position:
            packets.append(self._conn.connected_packet(position))
        self._last_sent = now
        return f.encode_payload(packets)

    def next_timer(self) -> float | None:
        if self.state is State.CLOSED:
            return None
        if self.state is State.VERIFYING:
            return self._last_heard + self._client_timeout
        return min(self._last_sent + self._heartbeat, self._last_heard + self._client_timeout)

    # inputs ---------------------------------------------------------------------------------------
    def _enter(self, event: Input) -> State:
        after = TRANSITIONS.get((self.state, event))
        if after is None:
            if event in _CLIENT_INPUTS:
                self._close(POLICY, "protocol")
                return State.CLOSED
            raise SessionMisuse(f"{event.value} in state {self.state.value}")
        return after

    def receive(self, text: str | None, now: float) -> None:
        """A WebSocket frame from the client (None: a binary one)."""
        if self.state is State.CLOSED:
            return
        self._last_heard = now
        if text is None or len(text) > self._max_frame or len(text.encode()) > self._max_frame:
            self._enter(Input.BAD_FRAME)
            self._close(TOO_BIG if text is not None else POLICY, "protocol")
            return
        try:
            packets = f.decode_frame(text)
            for packet in packets:
                self._packet(packet)
                if self.close is not None:
                    return
        except f.FramingError:
            self._enter(Input.BAD_FRAME)
            self._close(POLICY, "protocol")

    def _packet(self, packet: f.Packet) -> None:
        kind = packet.type
        if kind is f.PacketType.HEARTBEAT:
            self.state = self._enter(Input.HEARTBEAT)
        elif kind is f.PacketType.EVENT:
            packet.event()  # raises FramingError if it is not an event
            self.state = self._enter(Input.CLIENT_EVENT)
            if self.state is not State.CLOSED and packet.id:
                self._queue(f.ack_packet(packet.id))
        elif kind is f.PacketType.MESSAGE:
            try:
                answer = json.loads(packet.data)
            except ValueError as exc:
                raise f.FramingError("a response is a JSON object") from exc
            if not isinstance(answer, dict):
                raise f.FramingError("a response is a JSON object")
            self.state = self._enter(Input.RESPONSE)
        elif kind is f.PacketType.DISCONNECT:
            self._enter(Input.DISCONNECT)
            self._close(NORMAL, "")
        elif kind in (f.PacketType.ERROR,):
            raise f.FramingError("clients send no error packets")
        else:  # connect, json, ack, noop: nothing to do
            self.state = self._enter(Input.QUIET)

    def verified(self, principal: Principal, head: int, hub_cursor: int, now: float) -> None:
        """The ticket is good; the shell has registered with the hub, which delivers events after
        ``hub_cursor``. ``head`` is the log's newest position."""
        after = self._enter(Input.VERIFIED)
        if after is State.CLOSED:
            return
        cursor = hub_cursor if self._cursor is None else self._cursor
        if cursor > head:
            # Allocation clamps the cursor, so only a forged one gets here: allocate again.
            self._close(TRY_AGAIN, "cursor")
            return
        self.principal, self.user_id = principal, principal.user_id
        self._cursor = self._delivered = cursor
        self._last_sent = self._last_heard = now
        self._queue(f.CONNECT)
        self._queue(self._conn.connected_packet(cursor))
        if hub_cursor <= cursor:
            # Nothing committed after the cursor before the hub took this socket: live now.
            self.state = State.LIVE
            self._release_held()
        else:
            self.state = after
            self._effects.append(ReadReplay(cursor))

    def rejected(self, reason: str) -> None:
        """The ticket is not good (expired, forged, revoked): the client fetches a fresh token."""
        self._enter(Input.REJECTED)
        self._close(POLICY, reason)

    def replayed(self, events: list[DomainEvent], next_after: int, done: bool) -> None:
        """A page of the user's visible events after the cursor (oldest first)."""
        self.state = self._enter(Input.REPLAY_PAGE)
        if self.state is State.CLOSED:
            return
        for event in events:
            self._send_event(event)
        if not done:
            self._effects.append(ReadReplay(next_after))
            return
        self.state = State.LIVE
        self._release_held()

    def offer(self, event: DomainEvent) -> bool:
        """A live event for this user from the hub; False once the session cannot take more."""
        if self.state is State.LIVE:  # the fan-out path: (LIVE, EVENT) stays LIVE
            self._send_event(event)
            return self.close is None
        if self.state is State.CLOSED:
            return False
        self.state = self._enter(Input.EVENT)
        if len(self._held) >= self._limit:
            self._overflow()
            return False
        self._held.append(event)
        return True

    def handle_timer(self, now: float) -> None:
        self.state = self._enter(Input.TIMER)
        if now >= self._last_heard + self._client_timeout:
            self._close(NORMAL, "timeout")
        elif self.state is not State.VERIFYING and now >= self._last_sent + self._heartbeat:
            self._queue(f.HEARTBEAT)

    def revoked(self) -> None:
        self._enter(Input.REVOKED)
        self._close(POLICY, "unauthorized")

    def peer_gone(self) -> None:
        self.state = self._enter(Input.PEER_GONE)

    # helpers --------------------------------------------------------------------------------------
    def _release_held(self) -> None:
        held, self._held = self._held, []
        for event in held:
            self._send_event(event)

    def _send_event(self, event: DomainEvent) -> None:
        """Queue ``event``'s notification unless it went out already, is not for this user, is not
        chat's, or the token's scopes exclude its topic."""
        principal = self.principal
        assert principal is not None
        position = 0
        if event.durable:
            if event.position <= self._delivered:
                return  # replayed already, or held and replayed
            self._delivered = position = event.position
        note = payload(event.type, event.data)
        if note is None or not event.reaches(self.user_id) or not self._permits(event, principal.scopes):
            # Nothing for this socket (a call's event, say). The client's position stays where it
            # is: a resume reads such events again and skips them again, which costs no traffic.
            return
        self._next_id += 1
        request = {
            "id": self._next_id,
            "method": "POST",
            "url": self._conn.url + "chat",
            "headers": {"Content-Type": "application/json"},
            "body": body(note, self.user_id),
        }
        self._queue(
            f.message_packet(json.dumps(request, separators=(",", ":"), ensure_ascii=False)), position
        )

    def _queue(self, packet: str, position: int = 0) -> None:
        size = len(packet)  # characters: close enough to bytes for a bound
        if len(self._outbox) >= self._limit or (
            self._limit_bytes and self._queued_bytes + size > self._limit_bytes
        ):
            self._overflow()
            return
        self._outbox.append((packet, position))
        self._queued_bytes += size

    def _overflow(self) -> None:
        self._close(TRY_AGAIN, "slow")

    def _close(self, code: int, reason: str) -> None:
        if self.state is State.CLOSED and self.close is not None:
            return
        self.state = State.CLOSED
        self.close = CloseConnection(code, reason, f.disconnect_packet(reason) if reason else "0::")
        self._outbox.clear()
        self._queued_bytes = 0
        self._held.clear()
        self._effects.append(self.close)


def parse_cursor(value: Any) -> int | None:
    """A ``cur`` connection parameter: a decimal log position; None if absent or malformed."""
    if isinstance(value, str) and value.isdigit() and len(value) <= 19:
        return int(value)
    return None
