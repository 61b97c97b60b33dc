"""The four SIP transaction state machines (RFC 3261 §17, with RFC 6026's Accepted state).

Theory of operation
-------------------
A transaction is one request and its responses. Each of the four kinds (INVITE and non-INVITE,
client and server) is a transition table ``TABLES[kind][(state, input)] -> Step`` that is total:
every pair has an entry, and the tests walk every one. A ``Step`` names the next state and the
actions to take; nothing else changes a state.

    client INVITE (Figure 5 + RFC 6026)          server INVITE (Figure 7 + RFC 6026)
      Calling ─1xx─► Proceeding                     Proceeding ─2xx from TU─► Accepted ─L─► Terminated
         │ 2xx ─► Accepted ─M─► Terminated             │ 300-699 from TU
         │ 300-699 ─► Completed ─D─► Terminated        ▼
         │ A: resend, B: timeout                    Completed ─ACK─► Confirmed ─I─► Terminated
                                                       G: resend, H: timeout
    client non-INVITE (Figure 6)                  server non-INVITE (Figure 8)
      Trying ─1xx─► Proceeding ─final─► Completed    Trying ─1xx─► Proceeding ─final─► Completed
         E: resend, F: timeout    K ─► Terminated       J ─► Terminated

Inputs come from three places: the network (``receive_response``, ``receive_request``), the
transaction user (``respond``, the first ``start``) and the clock (``handle_timer(now)``, called
by the owner at ``next_timer()``). Each call returns the actions for the owner as effects:
``Transmit`` bytes to the transaction's peer, ``Deliver`` a message to the TU, ``TimedOut`` or
``TransportFailed``. The transaction never reads a clock and never touches a socket.

Timers are armed when a state is entered (``_ARMS``) and disarmed when it is left, except those
the new state also allows (timer F survives Trying → Proceeding). Retransmission timers (A, E, G)
re-arm themselves with the doubling rule of §17.1.1.2, §17.1.2.2 and §17.2.1. Over a reliable
transport A, E and G are never armed and D, I, J, K are zero, so those states pass at once.

RFC 6026 replaces "2xx terminates the INVITE transaction" with an Accepted state (timers L and
M): a retransmitted INVITE is absorbed instead of being taken for a new call, and a retransmitted
2xx still reaches the TU, which acknowledges it again.

Two error kinds, as in h11: a TU input the state does not allow (``respond`` after the final
response) raises ``SipUsageError``; a network input that makes no sense in the state (a 1xx in
Completed) is absorbed, as §17 requires.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from enum import Enum, StrEnum

from telex.sip.errors import SipUsageError
from telex.sip.headers import Headers
from telex.sip.message import Message, Request, Response

__all__ = [
    "MAGIC_COOKIE",
    "TABLES",
    "Action",
    "Deliver",
    "Effect",
    "Input",
    "Kind",
    "State",
    "Step",
    "TimedOut",
    "TimerConfig",
    "Transaction",
    "Transmit",
    "TransportFailed",
    "build_non2xx_ack",
    "client_key",
    "new_branch",
    "server_key",
]

MAGIC_COOKIE = "z9hG4bK"  # RFC 3261 §8.1.1.7: a branch that starts so is unique per transaction


def new_branch() -> str:
    return MAGIC_COOKIE + os.urandom(10).hex()


@dataclass(frozen=True, slots=True)
class TimerConfig:
    """RFC 3261 §17.1.1.1 and Table 4: T1 (RTT estimate), T2 (cap on non-INVITE retransmission
    interval), T4 (how long the network holds a message) and timer D's floor over UDP."""

    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0
    d: float = 32.0


class Kind(StrEnum):
    INVITE_CLIENT = "ict"
    NON_INVITE_CLIENT = "nict"
    INVITE_SERVER = "ist"
    NON_INVITE_SERVER = "nist"


class State(StrEnum):
    CALLING = "calling"
    TRYING = "trying"
    PROCEEDING = "proceeding"
    ACCEPTED = "accepted"
    COMPLETED = "completed"
    CONFIRMED = "confirmed"
    TERMINATED = "terminated"


class Input(Enum):
    RESPONSE_1XX = "1xx"
    RESPONSE_2XX = "2xx"
    RESPONSE_FINAL = "300-699"  # non-INVITE client: every final response arrives as 2xx or this
    REQUEST = "request"  # a retransmission of the server transaction's request
    ACK = "ack"
    SEND_1XX = "send 1xx"
    SEND_2XX = "send 2xx"
    SEND_FINAL = "send 300-699"
    TRANSPORT_ERROR = "transport error"
    TIMER_A = "A"
    TIMER_B = "B"
    TIMER_D = "D"
    TIMER_E = "E"
    TIMER_F = "F"
    TIMER_G = "G"
    TIMER_H = "H"
    TIMER_I = "I"
    TIMER_J = "J"
    TIMER_K = "K"
    TIMER_L = "L"
    TIMER_M = "M"


class Action(Enum):
    SEND = "send"  # the request (client) or the response just given by the TU (server)
    RESEND = "resend"  # the last response again (server)
    SEND_ACK = "send ACK"  # the ACK for a 300-699 (client INVITE, §17.1.1.3)
    DELIVER = "deliver"  # pass the message to the TU
    TIMEOUT = "timeout"  # tell the TU the transaction timed out (B, F, H)
    FAIL = "fail"  # tell the TU the transport failed
    MISUSE = "misuse"  # the TU gave an input the state does not allow


@dataclass(frozen=True, slots=True)
class Step:
    state: State | None  # None: stay
    actions: tuple[Action, ...] = ()


_S = State
_I = Input
_A = Action
_STAY = Step(None)
_MISUSE = Step(None, (Action.MISUSE,))

INPUTS = {
    Kind.INVITE_CLIENT: (
        _I.RESPONSE_1XX, _I.RESPONSE_2XX, _I.RESPONSE_FINAL, _I.TRANSPORT_ERROR,
        _I.TIMER_A, _I.TIMER_B, _I.TIMER_D, _I.TIMER_M,
    ),
    Kind.NON_INVITE_CLIENT: (
        _I.RESPONSE_1XX, _I.RESPONSE_2XX, _I.RESPONSE_FINAL, _I.TRANSPORT_ERROR,
        _I.TIMER_E, _I.TIMER_F, _I.TIMER_K,
    ),
    Kind.INVITE_SERVER: (
        _I.REQUEST, _I.ACK, _I.SEND_1XX, _I.SEND_2XX, _I.SEND_FINAL, _I.TRANSPORT_ERROR,
        _I.TIMER_G, _I.TIMER_H, _I.TIMER_I, _I.TIMER_L,
    ),
    Kind.NON_INVITE_SERVER: (
        _I.REQUEST, _I.SEND_1XX, _I.SEND_2XX, _I.SEND_FINAL, _I.TRANSPORT_ERROR, _I.TIMER_J,
    ),
}  # fmt: skip

STATES = {
    Kind.INVITE_CLIENT: (_S.CALLING, _S.PROCEEDING, _S.ACCEPTED, _S.COMPLETED, _S.TERMINATED),
    Kind.NON_INVITE_CLIENT: (_S.TRYING, _S.PROCEEDING, _S.COMPLETED, _S.TERMINATED),
    Kind.INVITE_SERVER: (_S.PROCEEDING, _S.ACCEPTED, _S.COMPLETED, _S.CONFIRMED, _S.TERMINATED),
    Kind.NON_INVITE_SERVER: (_S.TRYING, _S.PROCEEDING, _S.COMPLETED, _S.TERMINATED),
}

# The transitions the RFC draws. Every other (state, input) pair is filled in below: for network
# and timer inputs "absorb" (stay, do nothing), for TU inputs "misuse".
_DRAWN: dict[Kind, dict[tuple[State, Input], Step]] = {
    Kind.INVITE_CLIENT: {
        (_S.CALLING, _I.TIMER_A): Step(None, (_A.SEND,)),
        (_S.CALLING, _I.TIMER_B): Step(_S.TERMINATED, (_A.TIMEOUT,)),
        (_S.CALLING, _I.TRANSPORT_ERROR): Step(_S.TERMINATED, (_A.FAIL,)),
        (_S.CALLING, _I.RESPONSE_1XX): Step(_S.PROCEEDING, (_A.DELIVER,)),
        (_S.CALLING, _I.RESPONSE_2XX): Step(_S.ACCEPTED, (_A.DELIVER,)),
        (_S.CALLING, _I.RESPONSE_FINAL): Step(_S.COMPLETED, (_A.SEND_ACK, _A.DELIVER)),
        (_S.PROCEEDING, _I.RESPONSE_1XX): Step(None, (_A.DELIVER,)),
        (_S.PROCEEDING, _I.RESPONSE_2XX): Step(_S.ACCEPTED, (_A.DELIVER,)),
        (_S.PROCEEDING, _I.RESPONSE_FINAL): Step(_S.COMPLETED, (_A.SEND_ACK, _A.DELIVER)),
        (_S.ACCEPTED, _I.RESPONSE_2XX): Step(None, (_A.DELIVER,)),
        (_S.ACCEPTED, _I.TIMER_M): Step(_S.TERMINATED),
        (_S.COMPLETED, _I.RESPONSE_FINAL): Step(None, (_A.SEND_ACK,)),
        (_S.COMPLETED, _I.TRANSPORT_ERROR): Step(_S.TERMINATED, (_A.FAIL,)),
        (_S.COMPLETED, _I.TIMER_D): Step(_S.TERMINATED),
    },
    Kind.NON_INVITE_CLIENT: {
        (_S.TRYING, _I.TIMER_E): Step(None, (_A.SEND,)),
        (_S.TRYING, _I.TIMER_F): Step(_S.TERMINATED, (_A.TIMEOUT,)),
        (_S.TRYING, _I.TRANSPORT_ERROR): Step(_S.TERMINATED, (_A.FAIL,)),
        (_S.TRYING, _I.RESPONSE_1XX): Step(_S.PROCEEDING, (_A.DELIVER,)),
        (_S.TRYING, _I.RESPONSE_2XX): Step(_S.COMPLETED, (_A.DELIVER,)),
        (_S.TRYING, _I.RESPONSE_FINAL): Step(_S.COMPLETED, (_A.DELIVER,)),
        (_S.PROCEEDING, _I.TIMER_E): Step(None, (_A.SEND,)),
        (_S.PROCEEDING, _I.TIMER_F): Step(_S.TERMINATED, (_A.TIMEOUT,)),
        (_S.PROCEEDING, _I.TRANSPORT_ERROR): Step(_S.TERMINATED, (_A.FAIL,)),
        (_S.PROCEEDING, _I.RESPONSE_1XX): Step(None, (_A.DELIVER,)),
        (_S.PROCEEDING, _I.RESPONSE_2XX): Step(_S.COMPLETED, (_A.DELIVER,)),
        (_S.PROCEEDING, _I.RESPONSE_FINAL): Step(_S.COMPLETED, (_A.DELIVER,)),
        (_S.COMPLETED, _I.TIMER_K): Step(_S.TERMINATED),
    },
    Kind.INVITE_SERVER: {
        (_S.PROCEEDING, _I.REQUEST): Step(None, (_A.RESEND,)),
        (_S.PROCEEDING, _I.SEND_1XX): Step(None, (_A.SEND,)),
        (_S.PROCEEDING, _I.SEND_2XX): Step(_S.ACCEPTED, (_A.SEND,)),
        (_S.PROCEEDING, _I.SEND_FINAL): Step(_S.COMPLETED, (_A.SEND,)),
        (_S.PROCEEDING, _I.TRANSPORT_ERROR): Step(_S.TERMINATED, (_A.FAIL,)),
        (_S.ACCEPTED, _I.ACK): Step(None, (_A.DELIVER,)),
        (_S.ACCEPTED, _I.SEND_2XX): Step(None, (_A.SEND,)),
        # RFC 6026 §8.7: a transport error in Accepted is reported, the state stays for timer L.
        (_S.ACCEPTED, _I.TRANSPORT_ERROR): Step(None, (_A.FAIL,)),
        (_S.ACCEPTED, _I.TIMER_L): Step(_S.TERMINATED),
        (_S.COMPLETED, _I.REQUEST): Step(None, (_A.RESEND,)),
        (_S.COMPLETED, _I.ACK): Step(_S.CONFIRMED),
        (_S.COMPLETED, _I.TIMER_G): Step(None, (_A.RESEND,)),
        (_S.COMPLETED, _I.TIMER_H): Step(_S.TERMINATED, (_A.TIMEOUT,)),
        (_S.COMPLETED, _I.TRANSPORT_ERROR): Step(_S.TERMINATED, (_A.FAIL,)),
        (_S.CONFIRMED, _I.TIMER_I): Step(_S.TERMINATED),
    },
    Kind.NON_INVITE_SERVER: {
        (_S.TRYING, _I.SEND_1XX): Step(_S.PROCEEDING, (_A.SEND,)),
        (_S.TRYING, _I.SEND_2XX): Step(_S.COMPLETED, (_A.SEND,)),
        (_S.TRYING, _I.SEND_FINAL): Step(_S.COMPLETED, (_A.SEND,)),
        (_S.TRYING, _I.TRANSPORT_ERROR): Step(_S.TERMINATED, (_A.FAIL,)),
        (_S.PROCEEDING, _I.REQUEST): Step(None, (_A.RESEND,)),
        (_S.PROCEEDING, _I.SEND_1XX): Step(None, (_A.SEND,)),
        (_S.PROCEEDING, _I.SEND_2XX): Step(_S.COMPLETED, (_A.SEND,)),
        (_S.PROCEEDING, _I.SEND_FINAL): Step(_S.COMPLETED, (_A.SEND,)),
        (_S.PROCEEDING, _I.TRANSPORT_ERROR): Step(_S.TERMINATED, (_A.FAIL,)),
        (_S.COMPLETED, _I.REQUEST): Step(None, (_A.RESEND,)),
        (_S.COMPLETED, _I.TRANSPORT_ERROR): Step(_S.TERMINATED, (_A.FAIL,)),
        (_S.COMPLETED, _I.TIMER_J): Step(_S.TERMINATED),
    },
}

_TU_INPUTS = frozenset({_I.SEND_1XX, _I.SEND_2XX, _I.SEND_FINAL})


def _total(kind: Kind) -> dict[tuple[State, Input], Step]:
    table = dict(_DRAWN[kind])
    for state in STATES[kind]:
        for inp in INPUTS[kind]:
            table.setdefault((state, inp), _MISUSE if inp in _TU_INPUTS else _STAY)
    return table


TABLES: dict[Kind, dict[tuple[State, Input], Step]] = {kind: _total(kind) for kind in Kind}

# Timers armed on entering a state (only if not already running), and the timers a state keeps.
_ARMS: dict[Kind, dict[State, tuple[Input, ...]]] = {
    Kind.INVITE_CLIENT: {
        _S.CALLING: (_I.TIMER_A, _I.TIMER_B),
        _S.ACCEPTED: (_I.TIMER_M,),
        _S.COMPLETED: (_I.TIMER_D,),
    },
    Kind.NON_INVITE_CLIENT: {_S.TRYING: (_I.TIMER_E, _I.TIMER_F), _S.COMPLETED: (_I.TIMER_K,)},
    Kind.INVITE_SERVER: {
        _S.ACCEPTED: (_I.TIMER_L,),
        _S.COMPLETED: (_I.TIMER_G, _I.TIMER_H),
        _S.CONFIRMED: (_I.TIMER_I,),
    },
    Kind.NON_INVITE_SERVER: {_S.COMPLETED: (_I.TIMER_J,)},
}
_KEEPS: dict[Kind, dict[State, frozenset[Input]]] = {
    Kind.NON_INVITE_CLIENT: {_S.PROCEEDING: frozenset({_I.TIMER_E, _I.TIMER_F})},
}
_RETRANSMIT = frozenset({_I.TIMER_A, _I.TIMER_E, _I.TIMER_G})


def _duration(timer: Input, t: TimerConfig, reliable: bool) -> float | None:
    """A timer's first duration (RFC 3261 Table 4, RFC 6026 §8.11); None: never armed."""
    t1_64 = 64 * t.t1
    if timer in _RETRANSMIT:
        return None if reliable else t.t1
    values = {
        _I.TIMER_B: t1_64,
        _I.TIMER_F: t1_64,
        _I.TIMER_H: t1_64,
        _I.TIMER_L: t1_64,
        _I.TIMER_M: t1_64,
        _I.TIMER_D: 0.0 if reliable else t.d,
        _I.TIMER_I: 0.0 if reliable else t.t4,
        _I.TIMER_J: 0.0 if reliable else t1_64,
        _I.TIMER_K: 0.0 if reliable else t.t4,
    }
    return values[timer]


@dataclass(slots=True)
class Transmit:
    """Bytes to send to the transaction's peer."""

    data: bytes


@dataclass(slots=True)
class Deliver:
    """A message for the transaction user (a response; the ACK in Accepted)."""

    message: Message


@dataclass(slots=True)
class TimedOut:
    timer: str  # "B", "F" or "H"


@dataclass(slots=True)
class TransportFailed:
    pass


Effect = Transmit | Deliver | TimedOut | TransportFailed


def client_key(branch: str, method: str) -> tuple[str, str]:
    """§17.1.3: a response matches the client transaction with its top Via branch and its CSeq
    method (so a CANCEL's 200 never matches the INVITE it cancels)."""
    return (branch, method)


def server_key(request: Request) -> tuple[str, str, int | None, str]:
    """§17.2.3: top Via branch, sent-by and method, where an ACK matches its INVITE."""
    via = request.via[0]
    host, port = via.sent_by
    method = "INVITE" if request.method == "ACK" else request.method
    return (via.branch or "", host, port, method)


def build_non2xx_ack(invite: Request, response: Response) -> Request:
    """The ACK a client INVITE transaction sends for a 300-699 (§17.1.1.3): same Request-URI,
    top Via, Call-ID, From, CSeq number and Route as the INVITE, and the response's To."""
    headers = Headers()
    headers.add("Via", str(invite.via[0]))
    for name in ("Route",):
        for value in invite.headers.get_all(name):
            headers.add(name, value)
    headers.add("Max-Forwards", "70")
    headers.add("From", invite.headers.get("from") or "")
    headers.add("To", response.headers.get("to") or "")
    headers.add("Call-ID", invite.call_id)
    headers.add("CSeq", f"{invite.cseq.seq} ACK")
    return Request(headers, b"", "ACK", invite.uri)


class Transaction:
    """One transaction of any kind; ``state`` and ``next_timer()`` are public for the owner."""

    def __init__(
        self,
        kind: Kind,
        request: Request,
        *,
        reliable: bool,
        timers: TimerConfig | None = None,
    ) -> None:
        self.kind = kind
        self.request = request
        self.reliable = reliable
        self.timers = timers or TimerConfig()
        self.state: State = _S.CALLING if kind is Kind.INVITE_CLIENT else _S.TRYING
        if kind is Kind.INVITE_SERVER:
            self.state = _S.PROCEEDING
        self.last_response: Response | None = None
        self._request_bytes: bytes | None = None
        self._response_bytes: bytes | None = None
        self._ack_bytes: bytes | None = None
        self._deadlines: dict[Input, float] = {}
        self._intervals: dict[Input, float] = {}

    @property
    def terminated(self) -> bool:
        return self.state is _S.TERMINATED

    @property
    def is_client(self) -> bool:
        return self.kind in (Kind.INVITE_CLIENT, Kind.NON_INVITE_CLIENT)

    # ---- entry points -------------------------------------------------------------------------

    def start(self, now: float) -> list[Effect]:
        """Client: send the request for the first time and arm the initial state's timers."""
        if not self.is_client or self._request_bytes is not None:
            raise SipUsageError("start() is for a new client transaction")
        self._request_bytes = self.request.encode()
        self._arm_entry(self.state, now)
        return [Transmit(self._request_bytes)]

    def receive_response(self, response: Response, now: float) -> list[Effect]:
        if not self.is_client:
            raise SipUsageError("a server transaction receives requests")
        if response.status < 200:
            inp = _I.RESPONSE_1XX
        elif response.status < 300:
            inp = _I.RESPONSE_2XX
        else:
            inp = _I.RESPONSE_FINAL
        return self._feed(inp, response, now)

    def receive_request(self, request: Request, now: float) -> list[Effect]:
        """Server: a retransmission of the request, or the ACK of an INVITE."""
        if self.is_client:
            raise SipUsageError("a client transaction receives responses")
        inp = _I.ACK if request.method == "ACK" else _I.REQUEST
        if inp is _I.ACK and self.kind is not Kind.INVITE_SERVER:
            return []
        return self._feed(inp, request, now)

    def respond(self, response: Response, now: float) -> list[Effect]:
        if self.is_client:
            raise SipUsageError("a client transaction does not respond")
        if response.status < 200:
            inp = _I.SEND_1XX
        elif response.status < 300:
            inp = _I.SEND_2XX
        else:
            inp = _I.SEND_FINAL
        return self._feed(inp, response, now)

    def transport_error(self, now: float) -> list[Effect]:
        return self._feed(_I.TRANSPORT_ERROR, None, now)

    @property
    def armed(self) -> dict[str, float]:
        """The running timers by letter and their deadlines (for tests and diagnostics)."""
        return {timer.value: due for timer, due in self._deadlines.items()}

    def abandon(self) -> None:
        """The TU gives up on the transaction (RFC 3261 §9.1: no final response to a cancelled
        INVITE 64*T1 after the CANCEL); it ends without telling anyone."""
        self.state = _S.TERMINATED
        self._deadlines.clear()

    def next_timer(self) -> float | None:
        return min(self._deadlines.values()) if self._deadlines else None

    def handle_timer(self, now: float) -> list[Effect]:
        """Fire every timer due at ``now``, earliest first."""
        out: list[Effect] = []
        while self._deadlines:
            timer, due = min(self._deadlines.items(), key=lambda item: item[1])
            if due > now:
                break
            del self._deadlines[timer]
            if timer in _RETRANSMIT:
                self._rearm(timer, now)
            out.extend(self._feed(timer, None, now))
        return out

    # ---- the machine --------------------------------------------------------------------------

    def _feed(self, inp: Input, message: Message | None, now: float) -> list[Effect]:
        step = TABLES[self.kind][(self.state, inp)]
        if Action.MISUSE in step.actions:
            raise SipUsageError(f"{inp.value} is not allowed in {self.kind.value} {self.state.value}")
        out: list[Effect] = []
        if isinstance(message, Response) and not self.is_client:
            self.last_response = message
            self._response_bytes = message.encode()
        for action in step.actions:
            out.extend(self._act(action, inp, message))
        if step.state is not None and step.state is not self.state:
            self._enter(step.state, now, out)
        return out

    def _act(self, action: Action, inp: Input, message: Message | None) -> list[Effect]:
        if action is _A.DELIVER:
            assert message is not None
            return [Deliver(message)]
        if action is _A.SEND:
            data = self._request_bytes if self.is_client else self._response_bytes
            return [Transmit(data)] if data is not None else []
        if action is _A.RESEND:
            return [Transmit(self._response_bytes)] if self._response_bytes is not None else []
        if action is _A.SEND_ACK:
            assert isinstance(message, Response)
            if self._ack_bytes is None:
                self._ack_bytes = build_non2xx_ack(self.request, message).encode()
            return [Transmit(self._ack_bytes)]
        if action is _A.TIMEOUT:
            return [TimedOut(inp.value)]
        return [TransportFailed()]

    def _enter(self, state: State, now: float, out: list[Effect]) -> None:
        self.state = state
        keep = _KEEPS.get(self.kind, {}).get(state, frozenset())
        for timer in list(self._deadlines):
            if timer not in keep:
                del self._deadlines[timer]
        if state is _S.TERMINATED:
            return
        self._arm_entry(state, now)
        # A zero timer (D, I, J, K over a reliable transport) means "move on now".
        for timer, due in list(self._deadlines.items()):
            if due <= now and timer not in _RETRANSMIT and self._intervals.get(timer) == 0.0:
                del self._deadlines[timer]
                out.extend(self._feed(timer, None, now))
                return

    def _arm_entry(self, state: State, now: float) -> None:
        for timer in _ARMS.get(self.kind, {}).get(state, ()):
            if timer in self._deadlines:
                continue
            duration = _duration(timer, self.timers, self.reliable)
            if duration is None:
                continue
            self._intervals[timer] = duration
            self._deadlines[timer] = now + duration

    def _rearm(self, timer: Input, now: float) -> None:
        """Retransmission back-off: A doubles without a cap (§17.1.1.2); E doubles up to T2 and
        stays at T2 once a provisional response came (§17.1.2.2); G doubles up to T2 (§17.2.1)."""
        interval = self._intervals.get(timer, self.timers.t1) * 2
        if timer is _I.TIMER_E and self.state is _S.PROCEEDING:
            interval = self.timers.t2
        elif timer in (_I.TIMER_E, _I.TIMER_G):
            interval = min(interval, self.timers.t2)
        self._intervals[timer] = interval
        self._deadlines[timer] = now + interval
