"""The sans-I/O SIP core for the PSTN gateway (an RFC 3261 subset; see docs/sip.md).

What the gateway uses: ``UserAgent`` (commands in, ``Event``s and ``Outgoing`` bytes out, driven
by ``now``) inside ``SipTransport`` (asyncio UDP/TCP/TLS); ``DigestServer`` to challenge a trunk
and ``Credentials`` to answer one; ``NegotiatedAudio`` for the RTP endpoint; ``EndCause`` and
the Q.850 helpers to report and give end reasons. The rest of the package is its machinery.
"""

from telex.sip.digest import Credentials, DigestServer
from telex.sip.errors import SipParseError, SipUsageError
from telex.sip.events import (
    Answered,
    AuthChallenge,
    Confirmed,
    DtmfInfo,
    EarlyMedia,
    Ended,
    Event,
    IncomingCall,
    MediaUpdated,
    OptionsResult,
    Outgoing,
    Peer,
    ReinviteFailed,
    Ringing,
)
from telex.sip.reasons import EndCause, Reason, end_cause_for, q850_reason, rejection_for
from telex.sip.sdp import Codec, Direction, NegotiatedAudio
from telex.sip.transaction import TimerConfig
from telex.sip.transport import SipTransport, TlsTarget
from telex.sip.uri import NameAddr, SipUri, TelUri, parse_uri
from telex.sip.user_agent import Counters, UaConfig, UserAgent

__all__ = [
    "Answered",
    "AuthChallenge",
    "Codec",
    "Confirmed",
    "Counters",
    "Credentials",
    "DigestServer",
    "Direction",
    "DtmfInfo",
    "EarlyMedia",
    "EndCause",
    "Ended",
    "Event",
    "IncomingCall",
    "MediaUpdated",
    "NameAddr",
    "NegotiatedAudio",
    "OptionsResult",
    "Outgoing",
    "Peer",
    "Reason",
    "ReinviteFailed",
    "Ringing",
    "SipParseError",
    "SipTransport",
    "SipUri",
    "SipUsageError",
    "TelUri",
    "TimerConfig",
    "TlsTarget",
    "UaConfig",
    "UserAgent",
    "end_cause_for",
    "parse_uri",
    "q850_reason",
    "rejection_for",
]
