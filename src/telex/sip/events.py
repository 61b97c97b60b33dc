"""What the UA core tells its owner, and where its bytes go.

Every event names the call by ``call_id`` (the SIP Call-ID, which is unique per leg in a UA that
places and receives its own calls). The owner (the PSTN gateway) drives the call with the
commands on ``UserAgent`` and learns the outcome only from these events.
"""

from __future__ import annotations

from dataclasses import dataclass

from telex.sip.message import Request
from telex.sip.reasons import EndCause, Reason
from telex.sip.sdp import NegotiatedAudio
from telex.sip.uri import NameAddr, Uri

__all__ = [
    "Answered",
    "AuthChallenge",
    "Confirmed",
    "DtmfInfo",
    "EarlyMedia",
    "Ended",
    "Event",
    "IncomingCall",
    "MediaUpdated",
    "OptionsResult",
    "Outgoing",
    "Peer",
    "ReinviteFailed",
    "Ringing",
]


@dataclass(frozen=True, slots=True)
class Peer:
    """A transport address: ``transport`` is "udp", "tcp" or "tls" (lowercase)."""

    transport: str
    host: str
    port: int

    @property
    def reliable(self) -> bool:
        return self.transport != "udp"


@dataclass(frozen=True, slots=True)
class Outgoing:
    """Bytes for the transport shell to send to ``peer`` (over a stream: on its connection,
    opening one if none is up)."""

    peer: Peer
    data: bytes


@dataclass(frozen=True, slots=True)
class IncomingCall:
    """A new INVITE passed the checks (authentication, extensions, SDP): answer, ring, send early
    media or reject it. ``request`` is there for any header the gateway wants (Diversion,
    P-Asserted-Identity …). ``has_offer`` is False for a late-offer INVITE (no SDP): the answer
    then carries our offer and the ACK the peer's answer."""

    call_id: str
    request_uri: Uri
    from_: NameAddr
    to: NameAddr
    source: Peer
    has_offer: bool
    request: Request


@dataclass(frozen=True, slots=True)
class Ringing:
    """Our INVITE is alerting (180, 181, 182)."""

    call_id: str
    status: int


@dataclass(frozen=True, slots=True)
class EarlyMedia:
    """A provisional response carried SDP (usually 183): media flows before the answer."""

    call_id: str
    media: NegotiatedAudio


@dataclass(frozen=True, slots=True)
class Answered:
    """Our INVITE got a 2xx; the ACK is sent and the call is up."""

    call_id: str
    media: NegotiatedAudio


@dataclass(frozen=True, slots=True)
class Confirmed:
    """The peer acknowledged our 2xx: an incoming call is up."""

    call_id: str
    media: NegotiatedAudio


@dataclass(frozen=True, slots=True)
class MediaUpdated:
    """A re-INVITE completed (hold, resume, a new address): the media to use from now on."""

    call_id: str
    media: NegotiatedAudio
    by_remote: bool


@dataclass(frozen=True, slots=True)
class ReinviteFailed:
    """Our re-INVITE was refused; the session stays as it was (RFC 3261 §14.1)."""

    call_id: str
    status: int


@dataclass(frozen=True, slots=True)
class Ended:
    """The call is over. ``status`` is the SIP final status that ended it when there was one
    (486 …, or 408 for our own timeout), ``reason`` the Q.850 or SIP Reason the peer gave."""

    call_id: str
    cause: EndCause
    by_remote: bool
    status: int | None = None
    reason: Reason | None = None


@dataclass(frozen=True, slots=True)
class AuthChallenge:
    """A 401/407 arrived for one of our requests; ``answered`` says whether we retried with
    credentials (no credentials for the realm, or a second challenge: the call fails)."""

    call_id: str
    realm: str
    status: int
    answered: bool


@dataclass(frozen=True, slots=True)
class DtmfInfo:
    """A digit in a SIP INFO (``application/dtmf-relay``), for trunks that do not send RFC 4733."""

    call_id: str
    digit: str
    duration_ms: int | None


@dataclass(frozen=True, slots=True)
class OptionsResult:
    """The answer to ``send_options`` (a trunk health check); ``status`` None means no answer."""

    handle: str
    peer: Peer
    status: int | None


Event = (
    IncomingCall
    | Ringing
    | EarlyMedia
    | Answered
    | Confirmed
    | MediaUpdated
    | ReinviteFailed
    | Ended
    | AuthChallenge
    | DtmfInfo
    | OptionsResult
)
