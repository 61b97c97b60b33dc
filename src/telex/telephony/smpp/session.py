"""An SMPP 3.4 ESME session, sans-I/O: bytes and ``now`` in, bytes, events and timers out.

Theory of operation
-------------------
One ``EsmeSession`` lives as long as its owner wants to talk to one SMSC, across any number of
TCP connections. Its state moves only through ``TRANSITIONS``; every (state, input) pair is in the
table, either with the next state or as ``MISUSE`` (the owner called something the state does not
allow, raised as ``SessionError``, as h11 separates local errors from the peer's)::

    DISCONNECTED ──connection_made──► BINDING ──bind_resp OK──► BOUND ──unbind()──► UNBINDING
         ▲                               │ bind refused,          │                    │ unbind_resp,
         │                               │ timeout, lost          │ SMSC unbinds,      │ timeout,
         └───────────────────────────────┴────────────────────────┴─ link dead, lost ◄─┘ lost

Submissions are independent of the connection. ``submit`` cuts a message into its ``submit_sm``
parts and queues them; while BOUND, parts go out as long as fewer than ``window`` are unanswered,
each with its own sequence number and response deadline. A response settles its part: accepted
(the message is accepted once every part is), throttled (``ESME_RTHROTTLED``/``ESME_RMSGQFUL``:
the part goes back to the head of the queue and sending pauses with exponential backoff),
transient (no response in time, ``ESME_RSYSERR`` …: the part is sent again after a delay, a
bounded number of times) or refused (the whole message fails). When the connection ends, every
unanswered part goes back to the queue and is sent again after the next bind: a part the SMSC
acknowledged is never sent twice, one it never answered may be (SMPP has no idempotency key).

``deliver_sm`` (receipts and mobile-originated messages) becomes an event with a token; the
owner answers with ``ack(token)`` once it has stored the message, or a temporary error status
so that the SMSC delivers it again, so an SMS is acknowledged only once it is safe.

Time enters only as ``now`` (monotonic seconds). ``next_timer()`` says when ``handle_timer(now)``
has work: a bind, unbind or enquire_link response overdue, a submit response overdue, the link
idle for ``enquire_link_interval`` (then an enquire_link goes out), a backoff over.

    owner ──submit/unbind/ack──► EsmeSession ──data_to_send()──► socket
    socket ──receive_data(bytes, now)──► EsmeSession ──events()──► owner
"""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from typing import Final

from telex.telephony.smpp.constants import (
    PERMANENT_BIND_FAILURES,
    THROTTLING,
    TRANSIENT,
    CommandStatus,
    status_name,
)
from telex.telephony.smpp.events import (
    Bound,
    Closed,
    DeliveryReceipt,
    DeliveryToken,
    Event,
    MobileOriginated,
    SubmitAccepted,
    SubmitFailed,
)
from telex.telephony.smpp.message import (
    ConcatMode,
    OutboundMessage,
    build_submits,
    decode_mo,
    from_smpp_address,
)
from telex.telephony.smpp.pdu import (
    MAX_PDU_LENGTH,
    Bind,
    BindKind,
    BindResp,
    DeliverSm,
    DeliverSmResp,
    EnquireLink,
    EnquireLinkResp,
    Framer,
    GenericNack,
    Pdu,
    ProtocolError,
    SubmitSm,
    SubmitSmResp,
    Unbind,
    UnbindResp,
    decode,
    encode,
    with_sequence,
)
from telex.telephony.smpp.receipt import is_receipt, parse_receipt

__all__ = ["MISUSE", "TRANSITIONS", "EsmeSession", "Input", "SessionConfig", "SessionError", "State"]


class SessionError(RuntimeError):
    """The owner used the session wrongly (not the SMSC's fault)."""


class State(StrEnum):
    DISCONNECTED = "disconnected"
    BINDING = "binding"
    BOUND = "bound"
    UNBINDING = "unbinding"


class Input(Enum):
    # from the owner
    CONNECTION_MADE = "connection made"
    CONNECTION_LOST = "connection lost"
    UNBIND_CALLED = "unbind()"
    # from the SMSC
    BIND_OK = "bind_resp OK"
    BIND_FAILED = "bind_resp error"
    PEER_UNBIND = "unbind"
    UNBIND_RESP = "unbind_resp"
    DELIVER_SM = "deliver_sm"
    ENQUIRE_LINK = "enquire_link"
    RESPONSE = "submit_sm_resp / enquire_link_resp / deliver_sm_resp"
    GENERIC_NACK = "generic_nack"
    UNEXPECTED_PDU = "a PDU an SMSC does not send"
    MALFORMED_PDU = "a PDU that does not decode"
    BROKEN_STREAM = "a command_length that cannot be framed"
    # from the clock
    TIMEOUT = "the state's response deadline passed"


class _Misuse:
    def __repr__(self) -> str:
        return "MISUSE"


MISUSE: Final = _Misuse()
_D, _B, _U, _N = State.DISCONNECTED, State.BINDING, State.BOUND, State.UNBINDING
_I = Input

TRANSITIONS: dict[tuple[State, Input], State | _Misuse] = {
    # Without a connection only the owner's connection calls make sense; nothing arrives.
    **{(_D, event): MISUSE for event in Input},
    (_D, _I.CONNECTION_MADE): _B,
    (_D, _I.CONNECTION_LOST): _D,
    (_D, _I.UNBIND_CALLED): _D,
    (_D, _I.TIMEOUT): _D,  # handle_timer() after the end changes nothing
    # BINDING: only the bind_resp (or a generic_nack for the bind) moves on; the rest is answered
    # (enquire_link), refused (deliver_sm: ESME_RINVBNDSTS) or ignored while we wait.
    **{(_B, event): _B for event in Input},
    (_B, _I.CONNECTION_MADE): MISUSE,
    (_B, _I.BIND_OK): _U,
    (_B, _I.BIND_FAILED): _D,
    (_B, _I.GENERIC_NACK): _D,
    (_B, _I.UNBIND_CALLED): _D,
    (_B, _I.PEER_UNBIND): _D,
    (_B, _I.CONNECTION_LOST): _D,
    (_B, _I.BROKEN_STREAM): _D,
    (_B, _I.TIMEOUT): _D,
    # BOUND: traffic flows; a stray bind_resp or unbind_resp is ignored.
    **{(_U, event): _U for event in Input},
    (_U, _I.CONNECTION_MADE): MISUSE,
    (_U, _I.UNBIND_CALLED): _N,
    (_U, _I.PEER_UNBIND): _D,
    (_U, _I.CONNECTION_LOST): _D,
    (_U, _I.BROKEN_STREAM): _D,
    (_U, _I.TIMEOUT): _D,  # an enquire_link went unanswered: the link is dead
    # UNBINDING: outstanding responses still settle their parts; nothing new is sent.
    **{(_N, event): _N for event in Input},
    (_N, _I.CONNECTION_MADE): MISUSE,
    (_N, _I.UNBIND_RESP): _D,
    (_N, _I.PEER_UNBIND): _D,
    (_N, _I.CONNECTION_LOST): _D,
    (_N, _I.BROKEN_STREAM): _D,
    (_N, _I.TIMEOUT): _D,
}


@dataclass(frozen=True, slots=True)
class SessionConfig:
    system_id: str
    password: str = ""
    system_type: str = ""
    bind: BindKind = BindKind.TRANSCEIVER
    service_type: str = ""
    window: int = 10  # submit_sm sent and not yet answered
    response_timeout: float = 10.0  # for every request: bind, submit_sm, enquire_link, unbind
    enquire_link_interval: float = 30.0  # probe a link idle this long
    throttle_backoff: float = 1.0  # first pause after ESME_RTHROTTLED, doubled each time in a row
    throttle_backoff_max: float = 30.0
    max_throttled: int = 30  # throttled answers for one part before it fails (retryable)
    retry_delay: float = 2.0  # first delay before a part that timed out or failed transiently
    max_retries: int = 3
    concat: ConcatMode = ConcatMode.UDH
    max_pdu_length: int = MAX_PDU_LENGTH

    def __post_init__(self) -> None:
        if self.window < 1 or self.max_retries < 0 or self.max_throttled < 0:
            raise ValueError("window must be at least 1, retry limits not negative")
        timers = (self.response_timeout, self.enquire_link_interval, self.throttle_backoff, self.retry_delay)
        if min(timers) <= 0 or self.throttle_backoff_max < self.throttle_backoff:
            raise ValueError("timers must be positive and the backoff cap at least the backoff")


@dataclass(eq=False)
class _Message:
    ref: str
    parts: list[_Part] = field(default_factory=list)
    done: bool = False


@dataclass(eq=False)
class _Part:
    message: _Message
    wire: bytes  # the encoded submit_sm; each send gives it a fresh sequence number
    message_id: str | None = None
    retries: int = 0
    throttled: int = 0
    not_before: float = 0.0


@dataclass(eq=False, slots=True)
class _InFlight:
    part: _Part
    deadline: float


_MAX_SEQUENCE = 0x7FFFFFFF  # §5.1.4: 0x00000001 to 0x7FFFFFFF


class EsmeSession:
    """See the module docstring. Not thread-safe; one owner drives it."""

    def __init__(self, config: SessionConfig) -> None:
        self.config = config
        self._state = State.DISCONNECTED
        self._connection = 0  # counts connections, so a stale DeliveryToken is recognised
        self._sequence = itertools.count(1)
        self._framer = Framer(config.max_pdu_length)
        self._out = bytearray()
        self._events: list[Event] = []
        self._should_close = False
        self._messages: dict[str, _Message] = {}
        self._queue: deque[_Part] = deque()
        self._inflight: dict[int, _InFlight] = {}
        self._unanswered: set[int] = set()  # deliver_sm sequences awaiting ack()
        self._concat_ref = 0
        self._deadline: float | None = None  # bind, unbind or enquire_link response
        self._probe: int | None = None  # the enquire_link awaiting its response
        self._last_received = 0.0
        self._paused_until: float | None = None
        self._throttle_level = 0

    # -- the owner's view ----------------------------------------------------------------------

    @property
    def state(self) -> State:
        return self._state

    @property
    def should_close(self) -> bool:
        """The session is done with this connection: send ``data_to_send()``, then close it."""
        return self._should_close

    def backlog(self) -> int:
        """Messages submitted and not yet accepted or failed."""
        return len(self._messages)

    def __contains__(self, ref: str) -> bool:
        return ref in self._messages

    def data_to_send(self) -> bytes:
        out = bytes(self._out)
        self._out.clear()
        return out

    def events(self) -> list[Event]:
        events, self._events = self._events, []
        return events

    def connection_made(self, now: float) -> None:
        self._transition(Input.CONNECTION_MADE, now)
        self._connection += 1
        self._framer = Framer(self.config.max_pdu_length)
        self._out.clear()
        self._should_close = False
        self._last_received = now
        config = self.config
        bind = Bind(
            kind=config.bind,
            sequence=self._next_sequence(),
            system_id=config.system_id,
            password=config.password,
            system_type=config.system_type,
        )
        self._send(bind)
        self._deadline = now + config.response_timeout

    def connection_lost(self, now: float) -> None:
        self._transition(Input.CONNECTION_LOST, now, reason="connection lost")
        self._out.clear()

    def unbind(self, now: float) -> None:
        """Leave the SMSC politely; queued messages stay queued for a later connection."""
        before = self._transition(Input.UNBIND_CALLED, now, reason="unbound before the bind completed")
        if before is State.BOUND:
            self._send(Unbind(sequence=self._next_sequence()))
            self._deadline = now + self.config.response_timeout

    def submit(self, message: OutboundMessage, now: float) -> None:
        """Queue ``message``; its outcome comes as ``SubmitAccepted`` or ``SubmitFailed``.

        Raises ``SessionError`` if ``message.ref`` is already queued or the bind is a receiver's,
        ``ValueError`` if SMPP cannot
        carry it (too many parts, an address too long). Allowed in every state: it waits for a bind.
        """
        if message.ref in self._messages:
            raise SessionError(f"message {message.ref!r} is already in the session")
        if self.config.bind is BindKind.RECEIVER:
            raise SessionError("a receiver bind cannot submit messages")
        self._concat_ref = (self._concat_ref + 1) & 0xFFFF
        pdus = build_submits(message, concat=self.config.concat, ref=self._concat_ref,
                             service_type=self.config.service_type)  # fmt: skip
        queued = _Message(message.ref)
        queued.parts = [_Part(queued, encode(pdu)) for pdu in pdus]  # ValueError before queueing
        self._messages[message.ref] = queued
        self._queue.extend(queued.parts)
        self._pump(now)

    def ack(self, token: DeliveryToken, status: int = CommandStatus.ESME_ROK) -> bool:
        """Answer a ``deliver_sm``: ESME_ROK once stored, ESME_RX_T_APPN to have it sent again.

        Returns False (and sends nothing) when the token's connection is gone or it was answered.
        """
        if token.connection != self._connection or token.sequence not in self._unanswered:
            return False
        self._unanswered.discard(token.sequence)
        self._send(DeliverSmResp(sequence=token.sequence, status=status))
        return True

    def receive_data(self, data: bytes, now: float) -> None:
        if self._state is State.DISCONNECTED:
            raise SessionError("data received while disconnected")
        try:
            frames = self._framer.feed(data)
        except ProtocolError as error:
            self._transition(Input.BROKEN_STREAM, now, reason=str(error), status=error.status)
            return
        for frame in frames:
            self._receive_frame(frame, now)
            if self.state is State.DISCONNECTED:  # the property: mypy narrowed _state above
                return
        self._pump(now)

    def next_timer(self) -> float | None:
        """When ``handle_timer`` next has work, or None."""
        if self._state is State.DISCONNECTED:
            return None
        candidates = [f.deadline for f in self._inflight.values()]
        if self._deadline is not None:
            candidates.append(self._deadline)
        if self._state is State.BOUND:
            if self._probe is None:
                candidates.append(self._last_received + self.config.enquire_link_interval)
            if self._queue and len(self._inflight) < self.config.window:
                if self._paused_until is not None:
                    candidates.append(self._paused_until)
                else:
                    candidates.append(min(part.not_before for part in self._queue))
        return min(candidates, default=None)

    def handle_timer(self, now: float) -> None:
        if self._state is State.DISCONNECTED:
            return
        if self._deadline is not None and now >= self._deadline:
            reason = {State.BINDING: "no bind_resp", State.BOUND: "no enquire_link_resp"}.get(
                self._state, "no unbind_resp"
            )
            self._transition(Input.TIMEOUT, now, reason=reason)
            return
        for sequence, flight in list(self._inflight.items()):
            if flight.deadline <= now:
                del self._inflight[sequence]
                self._part_failed(flight.part, None, now, "no submit_sm_resp in time")
        if (
            self._state is State.BOUND
            and self._probe is None
            and now >= self._last_received + self.config.enquire_link_interval
        ):
            self._probe = self._next_sequence()
            self._send(EnquireLink(sequence=self._probe))
            self._deadline = now + self.config.response_timeout
        self._pump(now)

    # -- the machine -----------------------------------------------------------------------------

    def _transition(self, event: Input, now: float, *, reason: str = "", status: int | None = None) -> State:
        """Move by the table; returns the state before. Entering DISCONNECTED ends the connection."""
        before = self._state
        after = TRANSITIONS[(before, event)]
        if isinstance(after, _Misuse):
            raise SessionError(f"{event.value} is not allowed while {before.value}")
        self._state = after
        if after is State.DISCONNECTED and before is not State.DISCONNECTED:
            self._end_connection(reason or event.value, status)
        return before

    def _end_connection(self, reason: str, status: int | None) -> None:
        # Unanswered parts were perhaps never seen by the SMSC: back to the head of the queue,
        # in the order they were sent, to go out again after the next bind.
        unanswered = [
            flight.part for _, flight in sorted(self._inflight.items()) if not flight.part.message.done
        ]
        self._queue.extendleft(reversed(unanswered))
        self._inflight.clear()
        self._unanswered.clear()
        self._deadline = self._probe = self._paused_until = None
        self._throttle_level = 0
        self._should_close = True
        retry = status not in PERMANENT_BIND_FAILURES
        self._events.append(Closed(reason, status, retry))

    def _receive_frame(self, frame: bytes, now: float) -> None:
        self._last_received = now
        if self._state is State.BOUND and self._probe is not None:
            # Anything from the SMSC shows the link is alive; a late enquire_link_resp is ignored.
            self._probe = self._deadline = None
        try:
            pdu = decode(frame)
        except ProtocolError as error:
            self._transition(Input.MALFORMED_PDU, now)
            if error.command_id is None or not error.command_id & 0x80000000:
                # A request we cannot read is answered with generic_nack (§4.3); a response we
                # cannot read leaves its part to time out and be sent again.
                self._send(GenericNack(sequence=error.sequence or 0, status=error.status))
            return
        self._dispatch(pdu, now)

    def _dispatch(self, pdu: Pdu, now: float) -> None:
        state = self._state
        match pdu:
            case BindResp(status=0, system_id=system_id):
                if self._transition(Input.BIND_OK, now) is State.BINDING:
                    self._deadline = None
                    self._events.append(Bound(system_id))
            case BindResp(status=status):
                self._transition(
                    Input.BIND_FAILED, now, reason=f"bind refused: {status_name(status)}", status=status
                )
            case DeliverSm():
                self._transition(Input.DELIVER_SM, now)
                self._deliver(pdu, state)
            case EnquireLink(sequence=sequence):
                self._transition(Input.ENQUIRE_LINK, now)
                self._send(EnquireLinkResp(sequence=sequence))
            case Unbind(sequence=sequence):
                self._send(UnbindResp(sequence=sequence))
                self._transition(Input.PEER_UNBIND, now, reason="the SMSC unbound")
            case UnbindResp():
                self._transition(Input.UNBIND_RESP, now, reason="unbound")
            case SubmitSmResp():
                self._transition(Input.RESPONSE, now)
                flight = self._inflight.pop(pdu.sequence, None)
                if flight is not None:
                    if pdu.status == CommandStatus.ESME_ROK:
                        self._part_accepted(flight.part, pdu.message_id)
                    else:
                        self._part_failed(flight.part, pdu.status, now, status_name(pdu.status))
            case EnquireLinkResp() | DeliverSmResp():
                self._transition(Input.RESPONSE, now)
            case GenericNack(sequence=sequence, status=status):
                self._transition(
                    Input.GENERIC_NACK, now, reason=f"bind refused: {status_name(status)}", status=status
                )
                flight = self._inflight.pop(sequence, None)
                if flight is not None:
                    self._part_failed(
                        flight.part, status or CommandStatus.ESME_RSYSERR, now, status_name(status)
                    )
            case Bind() | SubmitSm():
                self._transition(Input.UNEXPECTED_PDU, now)
                self._send(GenericNack(sequence=pdu.sequence, status=CommandStatus.ESME_RINVCMDID))

    def _deliver(self, pdu: DeliverSm, state: State) -> None:
        if state is not State.BOUND:
            # Not bound yet (or leaving): the SMSC keeps the message and delivers it again.
            refusal = (
                CommandStatus.ESME_RINVBNDSTS if state is State.BINDING else CommandStatus.ESME_RX_T_APPN
            )
            self._send(DeliverSmResp(sequence=pdu.sequence, status=refusal))
            return
        token = DeliveryToken(self._connection, pdu.sequence)
        source = from_smpp_address(pdu.source_addr_ton, pdu.source_addr_npi, pdu.source_addr)
        destination = from_smpp_address(pdu.dest_addr_ton, pdu.dest_addr_npi, pdu.destination_addr)
        if is_receipt(pdu):
            try:
                receipt = parse_receipt(pdu)
            except ProtocolError as error:
                # It names no message, so no one could use it; a permanent error stops redelivery.
                self._send(DeliverSmResp(sequence=pdu.sequence, status=error.status))
                return
            self._events.append(DeliveryReceipt(token, receipt, source, destination))
        else:
            text, concat = decode_mo(pdu)
            self._events.append(MobileOriginated(token, source, destination, text, pdu.data_coding, concat))
        self._unanswered.add(pdu.sequence)

    # -- submissions -----------------------------------------------------------------------------

    def _pump(self, now: float) -> None:
        """Send queued parts while bound, not paused, and the window has room."""
        if self._state is not State.BOUND or not self._queue:
            return
        if self._paused_until is not None:
            if now < self._paused_until:
                return
            self._paused_until = None
        waiting: list[_Part] = []
        while self._queue and len(self._inflight) < self.config.window:
            part = self._queue.popleft()
            if part.message.done:
                continue
            if part.not_before > now:
                waiting.append(part)
                continue
            sequence = self._next_sequence()
            self._inflight[sequence] = _InFlight(part, now + self.config.response_timeout)
            self._out += with_sequence(part.wire, sequence)
        self._queue.extendleft(reversed(waiting))

    def _part_accepted(self, part: _Part, message_id: str) -> None:
        self._throttle_level = 0
        message = part.message
        if message.done:
            return
        part.message_id = message_id
        if all(p.message_id is not None for p in message.parts):
            self._settle(
                message, SubmitAccepted(message.ref, tuple(p.message_id or "" for p in message.parts))
            )

    def _part_failed(self, part: _Part, status: int | None, now: float, reason: str) -> None:
        """``status`` None: no response in time."""
        message = part.message
        if message.done:
            return
        config = self.config
        if status in THROTTLING:
            part.throttled += 1
            if part.throttled > config.max_throttled:
                self._settle(message, SubmitFailed(message.ref, f"throttled: {reason}", True, status))
                return
            self._throttle_level += 1
            pause = config.throttle_backoff * 2 ** (self._throttle_level - 1)
            self._paused_until = now + min(pause, config.throttle_backoff_max)
            self._queue.appendleft(part)
        elif status is None or status in TRANSIENT:
            part.retries += 1
            if part.retries > config.max_retries:
                self._settle(message, SubmitFailed(message.ref, reason, True, status))
                return
            part.not_before = now + min(
                config.retry_delay * 2 ** (part.retries - 1), config.throttle_backoff_max
            )
            self._queue.appendleft(part)
        else:
            self._settle(message, SubmitFailed(message.ref, reason, False, status))

    def _settle(self, message: _Message, outcome: SubmitAccepted | SubmitFailed) -> None:
        message.done = True  # its parts still queued are dropped by _pump, late answers ignored
        del self._messages[message.ref]
        self._events.append(outcome)

    # -- plumbing --------------------------------------------------------------------------------

    def _next_sequence(self) -> int:
        sequence = next(self._sequence)
        if sequence > _MAX_SEQUENCE:
            self._sequence = itertools.count(2)
            sequence = 1
        return sequence

    def _send(self, pdu: Pdu) -> None:
        self._out += encode(pdu)
