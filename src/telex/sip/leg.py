"""One call leg inside the UA core: its state, its dialog, its media session and its timers.

    UAC: calling ─1xx─► early ─2xx─► established ─BYE─► ended
           └─hangup─► cancelling (CANCEL now, or after the first 1xx) ─487─► ended
    UAS: incoming ─ring/early media─► early ─answer─► answered ─ACK─► established ─BYE─► ended
           └─reject / CANCEL from the peer─► ended

The leg is plain data plus small helpers; the rules that move it live in ``user_agent``. Its
timers (``deadlines``) are the transaction user's own (RFC 3261 §13.3.1.4: the UAS retransmits
its 2xx until the ACK; §9.1: give up on a CANCEL that brings no final response; §14.1: retry a
re-INVITE after a 491; and a linger period that keeps an ended leg to answer late
retransmissions).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from telex.sip.dialog import Dialog
from telex.sip.digest import DigestClient
from telex.sip.events import Peer
from telex.sip.message import Request
from telex.sip.reasons import Reason
from telex.sip.sdp import AudioSession, Direction, NegotiatedAudio, SessionDescription
from telex.sip.transaction import Transaction

__all__ = ["Leg", "LegState", "LegTimer"]


class LegState(StrEnum):
    CALLING = "calling"
    INCOMING = "incoming"
    EARLY = "early"
    CANCELLING = "cancelling"
    ANSWERED = "answered"
    ESTABLISHED = "established"
    ENDED = "ended"


class LegTimer(StrEnum):
    RETRANSMIT_2XX = "retransmit2xx"
    ACK_WAIT = "ackWait"
    CANCEL_GUARD = "cancelGuard"
    REINVITE_RETRY = "reinviteRetry"
    LINGER = "linger"


@dataclass(slots=True, eq=False)
class Leg:
    call_id: str
    is_uac: bool
    peer: Peer
    state: LegState
    invite: Request  # the initial INVITE (the latest one sent, after authentication retries)
    local_tag: str
    invite_tx: Transaction | None = None
    audio: AudioSession | None = None
    dialog: Dialog | None = None
    media: NegotiatedAudio | None = None
    offer: SessionDescription | None = None  # UAS: the peer's offer in the INVITE
    auth: DigestClient | None = None
    direction: Direction = Direction.SENDRECV  # what we want: SENDONLY while we hold the peer
    offered_direction: Direction | None = None  # what our last completed offer or answer said
    early_sdp: bytes | None = None
    # UAS: the 2xx we retransmit until its ACK (§13.3.1.4), with its INVITE's CSeq number.
    pending_2xx: bytes | None = None
    pending_2xx_cseq: int = 0
    pending_2xx_interval: float = 0.0
    awaiting_sdp_in_ack: bool = False
    # UAC: the ACK we repeat when a 2xx comes again, with its INVITE's CSeq number.
    last_ack: tuple[int, bytes] | None = None
    cancel_owed: bool = False
    bye_owed: bool = False
    reinvite_tx: Transaction | None = None
    reinvite_pending: bool = False  # our re-INVITE awaits its final response
    end_reason: Reason | None = None
    ended: bool = False
    deadlines: dict[LegTimer, float] = field(default_factory=dict)

    def next_deadline(self) -> float | None:
        return min(self.deadlines.values()) if self.deadlines else None

    @property
    def transactions_done(self) -> bool:
        return (self.invite_tx is None or self.invite_tx.terminated) and (
            self.reinvite_tx is None or self.reinvite_tx.terminated
        )
