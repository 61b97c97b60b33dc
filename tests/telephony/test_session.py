"""The ESME session: every (state, input) pair, then behaviours with time moved by hand."""

from __future__ import annotations

import struct
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from telex.telephony.smpp.constants import CommandStatus as S
from telex.telephony.smpp.events import (
    Bound,
    Closed,
    DeliveryReceipt,
    Event,
    MobileOriginated,
    SubmitAccepted,
    SubmitFailed,
)
from telex.telephony.smpp.message import ConcatMode, OutboundMessage
from telex.telephony.smpp.pdu import (
    HEADER,
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
    SubmitSm,
    SubmitSmResp,
    Tlv,
    Unbind,
    UnbindResp,
    decode,
    encode,
)
from telex.telephony.smpp.session import (
    MISUSE,
    TRANSITIONS,
    EsmeSession,
    Input,
    SessionConfig,
    SessionError,
    State,
)


class Harness:
    """A session and a clock; ``sent()`` decodes what the session wrote."""

    def __init__(self, **config: object) -> None:
        defaults: dict[str, object] = {"system_id": "acs", "password": "secret", "response_timeout": 5.0}
        self.session = EsmeSession(SessionConfig(**{**defaults, **config}))  # type: ignore[arg-type]
        self.now = 100.0

    def sent(self) -> list[Pdu]:
        return [decode(frame) for frame in Framer().feed(self.session.data_to_send())]

    def feed(self, *pdus: Pdu) -> None:
        self.session.receive_data(b"".join(encode(p) for p in pdus), self.now)

    def advance(self, seconds: float) -> None:
        self.now += seconds
        self.session.handle_timer(self.now)

    def bind(self) -> list[Event]:
        self.session.connection_made(self.now)
        (bind,) = self.sent()
        assert isinstance(bind, Bind)
        self.feed(BindResp(sequence=bind.sequence, system_id="SMSC"))
        return self.session.events()

    def submits(self) -> list[SubmitSm]:
        return [p for p in self.sent() if isinstance(p, SubmitSm)]


def sms(ref: str, text: str = "hello", destination: str = "+14255550123") -> OutboundMessage:
    return OutboundMessage(ref, "+14255550100", destination, text)


# -- every (state, input) pair ---------------------------------------------------------------------

# Written out independently of the code's table: rows are inputs, columns the state before.
# "!" is a usage error (SessionError); D B U N are DISCONNECTED BINDING BOUND UNBINDING.
EXPECTED = """
                  D  B  U  N
CONNECTION_MADE   B  !  !  !
CONNECTION_LOST   D  D  D  D
UNBIND_CALLED     D  D  N  N
BIND_OK           !  U  U  N
BIND_FAILED       !  D  U  N
PEER_UNBIND       !  D  D  D
UNBIND_RESP       !  B  U  D
DELIVER_SM        !  B  U  N
ENQUIRE_LINK      !  B  U  N
RESPONSE          !  B  U  N
GENERIC_NACK      !  D  U  N
UNEXPECTED_PDU    !  B  U  N
MALFORMED_PDU     !  B  U  N
BROKEN_STREAM     !  D  D  D
TIMEOUT           D  D  D  D
"""
LETTERS = {"D": State.DISCONNECTED, "B": State.BINDING, "U": State.BOUND, "N": State.UNBINDING}


def expected_table() -> dict[tuple[State, Input], State | None]:
    lines = EXPECTED.strip().splitlines()
    columns = [LETTERS[c] for c in lines[0].split()]
    table: dict[tuple[State, Input], State | None] = {}
    for line in lines[1:]:
        name, *cells = line.split()
        for state, cell in zip(columns, cells, strict=True):
            table[(state, Input[name])] = None if cell == "!" else LETTERS[cell]
    return table


def into(state: State) -> Harness:
    harness = Harness(enquire_link_interval=30.0)
    if state is not State.DISCONNECTED:
        harness.session.connection_made(harness.now)
    if state in (State.BOUND, State.UNBINDING):
        harness.feed(BindResp(sequence=1))
    if state is State.UNBINDING:
        harness.session.unbind(harness.now)
    harness.sent()
    harness.session.events()
    assert harness.session.state is state
    return harness


def timeout(h: Harness) -> None:
    for _ in range(3):  # BOUND needs two: the idle probe goes out, then its response is overdue
        before = h.session.state
        h.advance(1000)
        if h.session.state is not before:
            return


APPLY: dict[Input, Callable[[Harness], None]] = {
    Input.CONNECTION_MADE: lambda h: h.session.connection_made(h.now),
    Input.CONNECTION_LOST: lambda h: h.session.connection_lost(h.now),
    Input.UNBIND_CALLED: lambda h: h.session.unbind(h.now),
    Input.BIND_OK: lambda h: h.feed(BindResp(sequence=1)),
    Input.BIND_FAILED: lambda h: h.feed(BindResp(sequence=1, status=S.ESME_RINVPASWD)),
    Input.PEER_UNBIND: lambda h: h.feed(Unbind(sequence=50)),
    Input.UNBIND_RESP: lambda h: h.feed(UnbindResp(sequence=2)),
    Input.DELIVER_SM: lambda h: h.feed(DeliverSm(sequence=51, short_message=b"hi")),
    Input.ENQUIRE_LINK: lambda h: h.feed(EnquireLink(sequence=52)),
    Input.RESPONSE: lambda h: h.feed(SubmitSmResp(sequence=99, message_id="x")),
    Input.GENERIC_NACK: lambda h: h.feed(GenericNack(sequence=1, status=S.ESME_RINVCMDID)),
    Input.UNEXPECTED_PDU: lambda h: h.feed(SubmitSm(sequence=53)),
    Input.MALFORMED_PDU: lambda h: h.session.receive_data(HEADER.pack(16, 0x103, 0, 54), h.now),
    Input.BROKEN_STREAM: lambda h: h.session.receive_data(struct.pack("!I", 5), h.now),
    Input.TIMEOUT: timeout,
}


def test_the_table_is_total_and_as_written() -> None:
    expected = expected_table()
    assert set(TRANSITIONS) == set(expected) == {(s, i) for s in State for i in Input}
    for pair, state in expected.items():
        assert TRANSITIONS[pair] == (MISUSE if state is None else state), pair


@pytest.mark.parametrize(("state", "event"), [(s, i) for s in State for i in Input], ids=str)
def test_every_state_and_input(state: State, event: Input) -> None:
    harness = into(state)
    want = expected_table()[(state, event)]
    if want is None:
        with pytest.raises(SessionError):
            APPLY[event](harness)
        assert harness.session.state is state
        return
    APPLY[event](harness)
    assert harness.session.state is want
    events = harness.session.events()
    closed = [e for e in events if isinstance(e, Closed)]
    # Closed comes exactly when a connection ends, and then the shell must close the socket
    assert len(closed) == (state is not State.DISCONNECTED and want is State.DISCONNECTED)
    if want is State.DISCONNECTED and state is not State.DISCONNECTED:
        assert harness.session.should_close
    sent = harness.sent()
    # what goes back to the SMSC for the peer's requests
    if event is Input.ENQUIRE_LINK:
        assert sent == [EnquireLinkResp(sequence=52)]
    if event is Input.PEER_UNBIND:
        assert sent == [UnbindResp(sequence=50)]
    if event is Input.DELIVER_SM:
        refusal = {State.BINDING: S.ESME_RINVBNDSTS, State.UNBINDING: S.ESME_RX_T_APPN}.get(state)
        if refusal is None:
            assert [type(e) for e in events] == [MobileOriginated] and sent == []
        else:
            assert sent == [DeliverSmResp(sequence=51, status=refusal)]
    if event in (Input.UNEXPECTED_PDU, Input.MALFORMED_PDU):
        assert len(sent) == 1 and isinstance(sent[0], GenericNack)
        assert sent[0].status == S.ESME_RINVCMDID
    if event is Input.UNBIND_CALLED and state is State.BOUND:
        assert sent == [Unbind(sequence=2)]


# -- binding ---------------------------------------------------------------------------------------


def test_bind_sends_credentials_and_reports_bound() -> None:
    h = Harness(system_type="VMA")
    h.session.connection_made(h.now)
    (bind,) = h.sent()
    assert bind == Bind(sequence=1, system_id="acs", password="secret", system_type="VMA")
    h.feed(BindResp(sequence=1, system_id="SMSC"))
    assert h.session.events() == [Bound("SMSC")]
    assert h.session.state is State.BOUND


@pytest.mark.parametrize(
    ("status", "retry"), [(S.ESME_RINVPASWD, False), (S.ESME_RINVSYSID, False), (S.ESME_RBINDFAIL, True)]
)
def test_bind_refused(status: int, retry: bool) -> None:
    h = Harness()
    h.session.connection_made(h.now)
    h.feed(BindResp(sequence=1, status=status))
    (closed,) = h.session.events()
    assert isinstance(closed, Closed)
    assert (closed.status, closed.retry) == (status, retry)
    assert "bind refused" in closed.reason
    assert h.session.should_close and h.session.next_timer() is None


def test_bind_timeout() -> None:
    h = Harness(response_timeout=5.0)
    h.session.connection_made(h.now)
    assert h.session.next_timer() == h.now + 5.0
    h.advance(4.9)
    assert h.session.state is State.BINDING
    h.advance(0.1)
    assert h.session.state is State.DISCONNECTED  # type: ignore[comparison-overlap]  # moved by advance()
    assert h.session.events() == [Closed("no bind_resp")]


def test_deliver_sm_before_bind_resp_is_refused_not_lost() -> None:
    h = Harness()
    h.session.connection_made(h.now)
    h.sent()
    h.feed(DeliverSm(sequence=7, short_message=b"early"))
    assert h.sent() == [DeliverSmResp(sequence=7, status=S.ESME_RINVBNDSTS)]
    assert h.session.events() == []


# -- submitting ------------------------------------------------------------------------------------


def test_window_limits_outstanding_submits() -> None:
    h = Harness(window=2)
    h.bind()
    for i in range(5):
        h.session.submit(sms(f"m{i}", destination=f"+1425555010{i}"), h.now)
    first = h.submits()
    assert [p.destination_addr for p in first] == ["14255550100", "14255550101"]
    h.feed(SubmitSmResp(sequence=first[0].sequence, message_id="id0"))
    (third,) = h.submits()
    assert third.destination_addr == "14255550102"
    assert h.session.events() == [SubmitAccepted("m0", ("id0",))]
    assert h.session.backlog() == 4


def test_submit_before_bind_waits_for_it() -> None:
    h = Harness()
    h.session.submit(sms("m1"), h.now)
    assert h.session.data_to_send() == b"" and "m1" in h.session
    h.bind()
    (submit,) = h.submits()
    assert submit.short_message == b"hello"


def test_duplicate_ref_is_misuse() -> None:
    h = Harness()
    h.session.submit(sms("m1"), h.now)
    with pytest.raises(SessionError, match="already"):
        h.session.submit(sms("m1"), h.now)


def test_a_receiver_bind_cannot_submit() -> None:
    h = Harness(bind=BindKind.RECEIVER)
    with pytest.raises(SessionError, match="receiver"):
        h.session.submit(sms("m1"), h.now)
    h.session.connection_made(h.now)
    (bind,) = h.sent()
    assert isinstance(bind, Bind) and bind.command_id == 0x00000001


@pytest.mark.parametrize(
    "bad",
    [
        {"window": 0},
        {"max_retries": -1},
        {"response_timeout": 0},
        {"throttle_backoff": 5, "throttle_backoff_max": 1},
    ],
)
def test_config_is_checked(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="must"):
        SessionConfig(system_id="acs", **bad)  # type: ignore[arg-type]


def test_a_long_message_is_accepted_once_every_part_is() -> None:
    h = Harness(concat=ConcatMode.UDH)
    h.bind()
    h.session.submit(sms("long", "x" * 400), h.now)
    parts = h.submits()
    assert len(parts) == 3 and all(p.esm_class == 0x40 for p in parts)
    refs = {p.short_message[3] for p in parts}
    assert len(refs) == 1  # one reference for all parts
    h.feed(*(SubmitSmResp(sequence=p.sequence, message_id=f"id{i}") for i, p in enumerate(reversed(parts))))
    assert h.session.events() == [SubmitAccepted("long", ("id2", "id1", "id0"))]


def test_consecutive_messages_get_different_references() -> None:
    h = Harness()
    h.bind()
    h.session.submit(sms("a", "x" * 200), h.now)
    h.session.submit(sms("b", "x" * 200), h.now)
    parts = h.submits()
    assert len({p.short_message[3] for p in parts}) == 2


def test_throttling_backs_off_exponentially_and_resends() -> None:
    h = Harness(throttle_backoff=1.0, throttle_backoff_max=3.0, window=1)
    h.bind()
    h.session.submit(sms("m1"), h.now)
    h.session.submit(sms("m2", destination="+14255550199"), h.now)
    pauses = []
    for _ in range(3):
        (submit,) = h.submits()
        assert submit.destination_addr == "14255550123"  # the throttled part goes first again
        h.feed(SubmitSmResp(sequence=submit.sequence, status=S.ESME_RTHROTTLED))
        assert h.submits() == []
        deadline = h.session.next_timer()
        assert deadline is not None
        pauses.append(deadline - h.now)
        h.advance(deadline - h.now - 0.01)
        assert h.submits() == []
        h.advance(0.01)
    assert pauses == pytest.approx([1.0, 2.0, 3.0])  # doubled, then capped
    (submit,) = h.submits()
    h.feed(SubmitSmResp(sequence=submit.sequence, message_id="ok"))
    assert h.session.events() == [SubmitAccepted("m1", ("ok",))]
    (second,) = h.submits()  # no pause after a success
    h.feed(SubmitSmResp(sequence=second.sequence, status=S.ESME_RMSGQFUL))
    assert h.session.next_timer() == pytest.approx(h.now + 1.0)  # the backoff started over


def test_throttled_too_often_fails_retryably() -> None:
    h = Harness(max_throttled=2, throttle_backoff=0.5)
    h.bind()
    h.session.submit(sms("m1"), h.now)
    for _ in range(3):
        (submit,) = h.submits()
        h.feed(SubmitSmResp(sequence=submit.sequence, status=S.ESME_RTHROTTLED))
        h.advance(10)
    (failed,) = h.session.events()
    assert isinstance(failed, SubmitFailed) and failed.retryable and failed.status == S.ESME_RTHROTTLED


def test_transient_errors_are_retried_then_fail_retryably() -> None:
    h = Harness(max_retries=2, retry_delay=1.0)
    h.bind()
    h.session.submit(sms("m1"), h.now)
    delays = []
    for _ in range(3):
        (submit,) = h.submits()
        h.feed(SubmitSmResp(sequence=submit.sequence, status=S.ESME_RSYSERR))
        if h.session.backlog():
            deadline = h.session.next_timer()
            assert deadline is not None
            delays.append(deadline - h.now)
            h.advance(deadline - h.now)
    assert delays == [1.0, 2.0]
    (failed,) = h.session.events()
    assert failed == SubmitFailed("m1", "ESME_RSYSERR (0x08)", True, S.ESME_RSYSERR)


def test_a_refused_part_fails_the_whole_message() -> None:
    h = Harness(window=1)
    h.bind()
    h.session.submit(sms("long", "x" * 400), h.now)
    h.session.submit(sms("next"), h.now)
    (first,) = h.submits()
    h.feed(SubmitSmResp(sequence=first.sequence, status=S.ESME_RINVDSTADR))
    assert h.session.events() == [SubmitFailed("long", "ESME_RINVDSTADR (0x0B)", False, S.ESME_RINVDSTADR)]
    (following,) = h.submits()  # the other two parts are dropped, the next message goes
    assert following.short_message == b"hello"


def test_no_response_in_time_resends_and_ignores_the_late_answer() -> None:
    h = Harness(response_timeout=5.0, retry_delay=1.0, enquire_link_interval=60.0)
    h.bind()
    h.session.submit(sms("m1"), h.now)
    (first,) = h.submits()
    h.advance(5.0)
    assert h.submits() == []  # waits retry_delay
    h.advance(1.0)
    (again,) = h.submits()
    assert again.sequence != first.sequence and again.short_message == first.short_message
    h.feed(SubmitSmResp(sequence=first.sequence, message_id="late"))
    assert h.session.events() == []
    h.feed(SubmitSmResp(sequence=again.sequence, message_id="ok"))
    assert h.session.events() == [SubmitAccepted("m1", ("ok",))]


@pytest.mark.parametrize(("status", "retryable"), [(S.ESME_RTHROTTLED, None), (S.ESME_RINVCMDLEN, False)])
def test_generic_nack_for_a_submit(status: int, retryable: bool | None) -> None:
    h = Harness()
    h.bind()
    h.session.submit(sms("m1"), h.now)
    (submit,) = h.submits()
    h.feed(GenericNack(sequence=submit.sequence, status=status))
    events = h.session.events()
    if retryable is None:
        assert events == [] and h.session.backlog() == 1  # throttled: it will go again
    else:
        assert [e.retryable for e in events if isinstance(e, SubmitFailed)] == [retryable]


def test_a_connection_lost_resends_only_what_was_not_acknowledged() -> None:
    h = Harness(window=3)
    h.bind()
    for i in range(4):
        h.session.submit(sms(f"m{i}", destination=f"+1425555010{i}"), h.now)
    first = h.submits()
    h.feed(SubmitSmResp(sequence=first[1].sequence, message_id="B"))
    h.session.connection_lost(h.now)
    assert [type(e) for e in h.session.events()] == [SubmitAccepted, Closed]
    assert h.session.data_to_send() == b""
    h.bind()
    again = h.submits()
    assert [p.destination_addr for p in again] == ["14255550100", "14255550102", "14255550103"]


def test_enquire_link_when_idle_and_dead_link() -> None:
    h = Harness(enquire_link_interval=30.0, response_timeout=5.0)
    h.bind()
    assert h.session.next_timer() == h.now + 30.0
    h.advance(30.0)
    (probe,) = h.sent()
    assert isinstance(probe, EnquireLink)
    h.feed(EnquireLinkResp(sequence=probe.sequence))
    assert h.session.next_timer() == h.now + 30.0
    h.advance(30.0)
    h.sent()
    h.advance(5.0)
    assert h.session.state is State.DISCONNECTED
    assert h.session.events() == [Closed("no enquire_link_resp")]


def test_traffic_counts_as_a_live_link() -> None:
    h = Harness(enquire_link_interval=30.0, response_timeout=5.0)
    h.bind()
    h.advance(30.0)
    h.sent()
    h.feed(DeliverSm(sequence=9, short_message=b"hi"))  # not the enquire_link_resp, but alive
    h.advance(5.0)
    assert h.session.state is State.BOUND


# -- deliveries ------------------------------------------------------------------------------------


def test_deliveries_are_acknowledged_by_the_owner() -> None:
    h = Harness()
    h.bind()
    h.feed(
        DeliverSm(sequence=7, source_addr_ton=1, source_addr="14255550123", short_message=b"STOP"),
        DeliverSm(
            sequence=8,
            esm_class=0x04,
            short_message=b"id:A1 stat:DELIVRD",
            tlvs=(Tlv.uint(0x0427, 2, 1),),
        ),
    )
    mo, receipt = h.session.events()
    assert isinstance(mo, MobileOriginated) and mo.text == "STOP" and mo.source == "+14255550123"
    assert isinstance(receipt, DeliveryReceipt) and receipt.message_id == "A1"
    assert h.sent() == []  # nothing until the owner says it is stored
    assert h.session.ack(receipt.token)
    assert h.session.ack(mo.token, S.ESME_RX_T_APPN)
    assert h.sent() == [DeliverSmResp(sequence=8), DeliverSmResp(sequence=7, status=S.ESME_RX_T_APPN)]
    assert not h.session.ack(mo.token)  # answered already


def test_a_token_dies_with_its_connection() -> None:
    h = Harness()
    h.bind()
    h.feed(DeliverSm(sequence=7, short_message=b"hi"))
    (mo,) = h.session.events()
    assert isinstance(mo, MobileOriginated)
    h.session.connection_lost(h.now)
    h.bind()
    assert not h.session.ack(mo.token)
    assert h.sent() == []


def test_a_receipt_naming_no_message_is_refused_for_good() -> None:
    h = Harness()
    h.bind()
    h.feed(DeliverSm(sequence=7, esm_class=0x04, short_message=b"stat:DELIVRD"))
    assert h.session.events() == []
    assert h.sent() == [DeliverSmResp(sequence=7, status=S.ESME_RX_P_APPN)]


# -- unbinding -------------------------------------------------------------------------------------


def test_unbind_lets_outstanding_submits_settle() -> None:
    h = Harness()
    h.bind()
    h.session.submit(sms("m1"), h.now)
    h.session.submit(sms("m2"[:2], destination="+14255550111"), h.now)
    m1, m2 = h.submits()
    h.session.unbind(h.now)
    (unbind,) = h.sent()
    assert isinstance(unbind, Unbind)
    h.feed(SubmitSmResp(sequence=m1.sequence, message_id="x"))
    h.feed(UnbindResp(sequence=unbind.sequence))
    assert h.session.events() == [SubmitAccepted("m1", ("x",)), Closed("unbound")]
    assert h.session.backlog() == 1  # m2 waits for the next connection
    h.bind()
    (again,) = h.submits()
    assert again.destination_addr == m2.destination_addr


def test_unbind_timeout() -> None:
    h = Harness(response_timeout=5.0)
    h.bind()
    h.session.unbind(h.now)
    h.advance(5.0)
    assert h.session.events() == [Closed("no unbind_resp")]


def test_malformed_response_is_left_to_time_out() -> None:
    h = Harness()
    h.bind()
    h.session.submit(sms("m1"), h.now)
    (submit,) = h.submits()
    broken = HEADER.pack(19, 0x80000004, 0, submit.sequence) + b"abc"  # message_id without its NUL
    h.session.receive_data(broken, h.now)
    assert h.sent() == [] and h.session.state is State.BOUND


def test_sequence_numbers_wrap() -> None:
    h = Harness()
    h.session._sequence = iter([0x7FFFFFFF, 0x80000000])  # type: ignore[assignment]
    h.session.connection_made(h.now)
    h.feed(BindResp(sequence=0x7FFFFFFF))
    h.session.submit(sms("m1"), h.now)
    (submit,) = h.submits()
    assert submit.sequence == 1


# -- a random SMSC ---------------------------------------------------------------------------------

ACTIONS = ["ok", "ok", "ok", "throttle", "transient", "refuse", "silence", "nack"]


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_random_smsc_never_loses_or_repeats_an_acknowledged_part(data: st.DataObject) -> None:
    h = Harness(window=3, max_retries=2, max_throttled=4, response_timeout=2.0, retry_delay=0.5)
    texts = data.draw(
        st.lists(st.sampled_from(["hi", "x" * 200, "€" * 90, "Ж" * 80]), min_size=1, max_size=6)
    )
    for i, text in enumerate(texts):
        h.session.submit(sms(f"m{i}", text, destination=f"+1425555{i:04d}"), h.now)
    h.bind()
    acknowledged: set[tuple[str, bytes]] = set()
    outcomes: dict[str, Event] = {}

    def settle(events: list[Event]) -> None:
        for event in events:
            if isinstance(event, SubmitAccepted | SubmitFailed):
                assert event.ref not in outcomes, "two outcomes for one message"
                outcomes[event.ref] = event

    def answer(cooperative: bool) -> None:
        # Answers at once (the same ``now``), including what the answers make the session send.
        while True:
            if h.session.state is State.DISCONNECTED:  # as the shell does: connect again
                h.sent()
                h.session.connection_made(h.now)
            sent = h.sent()
            if not sent:
                break
            for pdu in sent:
                if h.session.state is State.DISCONNECTED:
                    break
                answer_one(pdu, cooperative)
        settle(h.session.events())

    def answer_one(pdu: Pdu, cooperative: bool) -> None:
        if isinstance(pdu, EnquireLink):
            h.feed(EnquireLinkResp(sequence=pdu.sequence))
            return
        if isinstance(pdu, Bind):
            h.feed(BindResp(sequence=pdu.sequence))
            return
        assert isinstance(pdu, SubmitSm)
        key = (pdu.destination_addr, pdu.short_message)
        assert key not in acknowledged, f"an acknowledged part was sent again: {pdu}"
        action = "ok" if cooperative else data.draw(st.sampled_from(ACTIONS))
        if action == "ok":
            acknowledged.add(key)
            h.feed(SubmitSmResp(sequence=pdu.sequence, message_id=f"{len(acknowledged)}"))
        elif action == "throttle":
            h.feed(SubmitSmResp(sequence=pdu.sequence, status=S.ESME_RTHROTTLED))
        elif action == "transient":
            h.feed(SubmitSmResp(sequence=pdu.sequence, status=S.ESME_RSYSERR))
        elif action == "refuse":
            h.feed(SubmitSmResp(sequence=pdu.sequence, status=S.ESME_RINVDSTADR))
        elif action == "nack":
            h.feed(GenericNack(sequence=pdu.sequence, status=S.ESME_RTHROTTLED))

    for _ in range(data.draw(st.integers(0, 30))):
        answer(cooperative=False)
        if data.draw(st.integers(0, 9)) == 0:
            h.session.connection_lost(h.now)
            h.session.connection_made(h.now)
        h.advance(data.draw(st.floats(0.0, 5.0)))
        after = h.session.next_timer()
        assert after is None or after > h.now  # handle_timer left nothing overdue
        settle(h.session.events())
    for _ in range(200):  # then a well-behaved SMSC until everything settled
        answer(cooperative=True)
        if len(outcomes) == len(texts):
            break
        deadline = h.session.next_timer()
        assert deadline is not None
        h.advance(max(deadline - h.now, 0.0))
    assert set(outcomes) == {f"m{i}" for i in range(len(texts))}
    assert h.session.backlog() == 0
