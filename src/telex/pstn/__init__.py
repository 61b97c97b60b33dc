"""PSTN voice: a gateway to carriers' SIP trunks, bridging each trunk call to a Telex call.
See docs/pstn.md.

    carrier ─SIP/RTP─► PstnGateway (SipTransport + UserAgent, RtpEndpoint per call)
                          └─► TrunkCall: a participant of a Telex call (LocalCallClient, aiortc)
                                 └─► Call Automation: IncomingCall, answer, play, recognize

``PstnGateway`` is built and started by the composition root when ``[sip]`` lists a trunk;
Call Automation dials through it (``AutomationService.pstn``).
"""

from telex.pstn.gateway import PstnGateway, phone_number_of
from telex.pstn.settings import SipSettings, TrunkSettings
from telex.pstn.trunks import Trunk, TrunkRouter

__all__ = ["PstnGateway", "SipSettings", "Trunk", "TrunkRouter", "TrunkSettings", "phone_number_of"]
