"""One ``/realtime`` connection's state machine, sans I/O: frames and ``now`` in, frames, effects
and a close out, timers exposed (``next_timer()`` / ``handle_timer(now)``).

Theory of operation. A session starts AWAITING_AUTH. The client's first frame must be ``auth``:
the session asks its shell to verify the token (``VerifyToken``) and waits in VERIFYING; frames
the client sends meanwhile are held and handled once it is ready. When the shell reports the
token valid (``verified``) the session sends ``ready`` and, if the client gave a cursor, asks for
the log after it (``ReadReplay``, page by page) while REPLAYING; live events offered by the hub
meanwhile are held, in order. Once the replay is done the held events not already replayed go
out and the session is LIVE: every event offered goes out at once, ephemeral ones (typing)
carrying the last cursor sent. Refreshing the token (a later ``auth`` frame) is a
``VerifyToken`` too; the new token must be for the same user.

    AWAITING_AUTH ─auth─► VERIFYING ─verified─► REPLAYING ─replay done─► LIVE
          │                   │ rejected            │                     │
          └── timeout ────────┴─────────────────────┴──── any close ──────┴─► CLOSED

Exactly once, in order: the shell registers the connection with the hub *before* it reports
``verified``, so an event committed during the replay is either in the replay or held; nothing
at or below the last position sent ever goes out again.

The outbox is bounded: a client that does not read (its shell cannot send) lets frames pile up
here, and past ``queue_limit`` frames or ``queue_bytes`` bytes the session closes with 4008 (slow
consumer, resumable). An event frame waits in the outbox as two parts, the head every socket
shares and this socket's tail, joined only when the shell takes it to write: many slow sockets
behind one large event hold one copy of it, not one each. No frame larger than
``max_event_bytes`` goes out: such an event is replaced by a ``skipped`` frame naming it.

Two kinds of error, as in h11: a client that breaks the protocol gets a close code
(``ProtocolError``'s); a shell that feeds an input the current state cannot take is a bug and
raises ``SessionMisuse``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from telex.events.model import DomainEvent
from telex.identity import Principal
from telex.realtime import protocol as p

__all__ = [
    "TRANSITIONS",
    "CloseConnection",
    "Input",
    "ReadReplay",
    "RealtimeSession",
    "SessionMisuse",
    "State",
    "VerifyToken",
]


class State(Enum):
    AWAITING_AUTH = "awaitingAuth"
    VERIFYING = "verifying"
    REPLAYING = "replaying"
    LIVE = "live"
    CLOSED = "closed"


class Input(Enum):
    AUTH_FRAME = "authFrame"  # client: {"type": "auth", …}
    PING_FRAME = "pingFrame"  # client: {"type": "ping"}
    BAD_FRAME = "badFrame"  # client: anything malformed
    VERIFIED = "verified"  # shell: the first token is valid
    REFRESHED = "refreshed"  # shell: a refreshed token is valid
    REJECTED = "rejected"  # shell: a token is not
    REPLAY_PAGE = "replayPage"  # shell: a page of the log after the cursor
    EVENT = "event"  # hub: an event for this user
    TIMER = "timer"  # the shell's timer fired
    REVOKED = "revoked"  # shell: the token was revoked or expired, or the user deleted
    PEER_GONE = "peerGone"  # shell: the transport closed


_A, _V, _R, _L, _C = State.AWAITING_AUTH, State.VERIFYING, State.REPLAYING, State.LIVE, State.CLOSED
_CLIENT_INPUTS = frozenset({Input.AUTH_FRAME, Input.PING_FRAME, Input.BAD_FRAME})

# (state, input) → the state after it. A client input missing here breaks the protocol (the
# session closes with 4400); a shell input missing here is ``SessionMisuse``. CLOSED takes
# everything and stays CLOSED (a late event or timer is harmless). Inputs whose effect depends
# on more than the state (a verified cursor, the last replay page, a refreshed token's user,
# an overflowing outbox) may also close; the table says where they go otherwise.
TRANSITIONS: dict[tuple[State, Input], State] = {
    (_A, Input.AUTH_FRAME): _V,
    (_A, Input.BAD_FRAME): _C,
    (_A, Input.TIMER): _A,  # closes (4408) once the auth deadline has passed
    (_A, Input.PEER_GONE): _C,
    (_V, Input.AUTH_FRAME): _V,  # held until ready
    (_V, Input.PING_FRAME): _V,  # held until ready
    (_V, Input.BAD_FRAME): _C,
    (_V, Input.VERIFIED): _R,  # LIVE at once without a cursor
    (_V, Input.REJECTED): _C,
    (_V, Input.EVENT): _V,  # held: the shell registers with the hub just before verified
    (_V, Input.TIMER): _V,
    (_V, Input.PEER_GONE): _C,
    (_R, Input.AUTH_FRAME): _R,
    (_R, Input.PING_FRAME): _R,
    (_R, Input.BAD_FRAME): _C,
    (_R, Input.REFRESHED): _R,
    (_R, Input.REJECTED): _C,
    (_R, Input.REPLAY_PAGE): _R,  # LIVE after the last page
    (_R, Input.EVENT): _R,  # held until the replay is done
    (_R, Input.TIMER): _R,
    (_R, Input.REVOKED): _C,
    (_R, Input.PEER_GONE): _C,
    (_L, Input.AUTH_FRAME): _L,
    (_L, Input.PING_FRAME): _L,
    (_L, Input.BAD_FRAME): _C,
    (_L, Input.REFRESHED): _L,
    (_L, Input.REJECTED): _C,
    (_L, Input.EVENT): _L,
    (_L, Input.TIMER): _L,  # a heartbeat when idle
    (_L, Input.REVOKED): _C,
    (_L, Input.PEER_GONE): _C,
}
TRANSITIONS.update({(_C, i): _C for i in Input})


class SessionMisuse(Exception):
    """The shell fed an input the session's state cannot take (a bug in the shell)."""


@dataclass(frozen=True, slots=True)
class VerifyToken:
    """Verify ``token``; answer with ``verified`` (first) or ``refreshed``, else ``rejected``."""

    token: str
    first: bool
    cursor: int | None


@dataclass(frozen=True, slots=True)
class ReadReplay:
    """Read the user's visible events after ``after``; answer with ``replayed``."""

    after: int


@dataclass(frozen=True, slots=True)
class CloseConnection:
    code: int
    reason: str


Effect = VerifyToken | ReadReplay | CloseConnection
Permits = Callable[[DomainEvent, frozenset[str]], bool]


class RealtimeSession:
    __slots__ = (
        "_auth_deadline",
        "_deferred",
        "_delivered",
        "_effects",
        "_heartbeat",
        "_held",
        "_last_sent",
        "_limit",
        "_limit_bytes",
        "_max_event",
        "_max_frame",
        "_outbox",
        "_outbox_bytes",
        "_permits",
        "_tail",
        "close",
        "principal",
        "state",
        "user_id",
    )

    def __init__(
        self,
        now: float,
        *,
        auth_timeout: float,
        heartbeat: float,
        max_frame_bytes: int,
        queue_limit: int,
        queue_bytes: int = 1 << 62,
        max_event_bytes: int = 1 << 62,
        permits: Permits,
    ) -> None:
        self.state = State.AWAITING_AUTH
        self.principal: Principal | None = None
        self.user_id = ""
        self.close: CloseConnection | None = None
        self._auth_deadline = now + auth_timeout
        self._heartbeat = heartbeat
        self._max_frame = max_frame_bytes
        self._max_event = max_event_bytes
        self._limit = queue_limit
        self._limit_bytes = queue_bytes
        self._outbox_bytes = 0
        self._permits = permits
        # A list, not a deque: it is nearly always empty, and an empty deque costs 600 bytes.
        # An event frame is (shared head, own tail) until it is written.
        self._outbox: list[bytes | tuple[bytes, bytes]] = []
        self._effects: list[Effect] = []
        self._deferred: list[str] = []
        self._held: list[DomainEvent] = []
        self._delivered = 0
        self._last_sent = now
        self._tail = b""

    # outputs --------------------------------------------------------------------------------------
    def effects(self) -> list[Effect]:
        """What the shell must do now (taken: each effect is returned once)."""
        out, self._effects = self._effects, []
        return out

    def pop_frame(self, now: float) -> bytes | None:
        """The next frame to send, if any (the shell sends it before asking for another)."""
        if not self._outbox:
            return None
        self._last_sent = now
        frame = self._outbox.pop(0)
        if isinstance(frame, tuple):
            head, tail = frame
            self._outbox_bytes -= len(head) + len(tail)
            return head + tail
        self._outbox_bytes -= len(frame)
        return frame

    @property
    def pending_frames(self) -> int:
        return len(self._outbox)

    @property
    def has_effects(self) -> bool:
        return bool(self._effects)

    def next_timer(self) -> float | None:
        if self.state is State.CLOSED:
            return None
        if self.state is State.AWAITING_AUTH:
            return self._auth_deadline
        return self._last_sent + self._heartbeat

    # inputs ---------------------------------------------------------------------------------------
    def _enter(self, event: Input) -> State:
        after = TRANSITIONS.get((self.state, event))
        if after is None:
            if event in _CLIENT_INPUTS:
                self._close(p.Close.BAD_REQUEST, "the first frame must be auth")
                return State.CLOSED
            raise SessionMisuse(f"{event.value} in state {self.state.value}")
        return after

    def receive(self, text: str | None, now: float) -> None:
        """A frame from the client (None: a binary frame)."""
        if self.state is State.CLOSED:
            return
        try:
            frame = p.parse_client_frame(text, self._max_frame)
        except p.ProtocolError as exc:
            self._enter(Input.BAD_FRAME)
            self._close(exc.code, exc.reason)
            return
        event = Input.PING_FRAME if isinstance(frame, p.PingFrame) else Input.AUTH_FRAME
        after = self._enter(event)
        if after is State.CLOSED:
            return
        if self.state is State.VERIFYING:
            assert text is not None
            self._deferred.append(text)  # handled once ready
            return
        if isinstance(frame, p.PingFrame):
            self._queue(p.pong_frame())
        elif self.state is State.AWAITING_AUTH:
            self.state = after
            self._effects.append(VerifyToken(frame.token, first=True, cursor=frame.cursor))
        else:
            self._effects.append(VerifyToken(frame.token, first=False, cursor=None))

    def verified(
        self, principal: Principal, head: int, hub_cursor: int, cursor: int | None, now: float
    ) -> None:
        """The first token is valid; the shell has registered with the hub at ``hub_cursor``."""
        after = self._enter(Input.VERIFIED)
        if after is State.CLOSED:
            return
        if cursor is not None and cursor > head:
            self._close(p.Close.BAD_REQUEST, "cursor is ahead of the log")
            return
        self.principal, self.user_id = principal, principal.user_id
        self._tail = p.recipient_tail(self.user_id)
        start = cursor if cursor is not None else hub_cursor
        self._delivered = start
        self._last_sent = now
        self._queue(p.ready_frame(self.user_id, start, self._heartbeat))
        if cursor is None:
            self.state = State.LIVE
        else:
            self.state = after
            self._effects.append(ReadReplay(cursor))
        deferred, self._deferred = self._deferred, []
        for text in deferred:
            self.receive(text, now)

    def refreshed(self, principal: Principal) -> None:
        self.state = self._enter(Input.REFRESHED)
        if self.state is State.CLOSED:
            return
        if principal.user_id != self.user_id:
            self._close(p.Close.UNAUTHORIZED, "a refreshed token must be for the same user")
            return
        self.principal = principal

    def rejected(self, code: int, reason: str) -> None:
        self._enter(Input.REJECTED)
        self._close(code, reason)

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
        held, self._held = self._held, []
        for event in held:
            self._send_event(event)

    def offer(self, event: DomainEvent) -> bool:
        """A live event for this user from the hub; False once the session cannot take more."""
        if self.state is State.LIVE:  # the fan-out path: (LIVE, EVENT) stays LIVE
            self._send_event(event)
            return self.close is None
        if self.state is State.CLOSED:
            return False
        self.state = self._enter(Input.EVENT)
        if self.state is not State.LIVE:
            if len(self._held) >= self._limit:
                self._overflow()
                return False
            self._held.append(event)
            return True
        self._send_event(event)
        return self.close is None

    def handle_timer(self, now: float) -> None:
        self.state = self._enter(Input.TIMER)
        if self.state is State.AWAITING_AUTH and now >= self._auth_deadline:
            self._close(p.Close.AUTH_TIMEOUT, "no auth frame")
        elif self.state in (State.LIVE, State.REPLAYING) and now >= self._last_sent + self._heartbeat:
            self._queue(p.heartbeat_frame(self._delivered))
            self._last_sent = now  # the heartbeat itself counts as traffic

    def revoked(self) -> None:
        self._enter(Input.REVOKED)
        self._close(p.Close.UNAUTHORIZED, "token expired or revoked")

    def peer_gone(self) -> None:
        self.state = self._enter(Input.PEER_GONE)

    # helpers --------------------------------------------------------------------------------------
    def _send_event(self, event: DomainEvent) -> None:
        """Queue ``event``'s frame unless it went out already, is not for this user, or the
        token's scopes exclude its topic."""
        principal = self.principal
        assert principal is not None
        if event.durable:
            if event.position <= self._delivered:
                return  # replayed already, or held and replayed
            self._delivered = event.position
        if event.reaches(self.user_id) and self._permits(event, principal.scopes):
            parts = p.event_parts(event, self.user_id, self._delivered, tail=self._tail)
            size = len(parts[0]) + len(parts[1])
            if size > self._max_event:
                self._queue(p.skipped_frame(event, self._delivered, size))
            else:
                self._queue(parts, size)

    def _queue(self, frame: bytes | str | tuple[bytes, bytes], size: int = -1) -> None:
        if isinstance(frame, str):
            frame = frame.encode()
        if size < 0:
            size = len(frame[0]) + len(frame[1]) if isinstance(frame, tuple) else len(frame)
        if len(self._outbox) >= self._limit or self._outbox_bytes + size > self._limit_bytes:
            self._overflow()
            return
        self._outbox.append(frame)
        self._outbox_bytes += size

    def _overflow(self) -> None:
        self._close(p.Close.SLOW_CONSUMER, "slow consumer: reconnect with your last cursor")

    def _close(self, code: int, reason: str) -> None:
        if self.state is State.CLOSED and self.close is not None:
            return
        self.state = State.CLOSED
        self.close = CloseConnection(code, reason)
        self._outbox.clear()
        self._outbox_bytes = 0
        self._held.clear()
        self._effects.append(self.close)
