"""Plain RTP audio for the PSTN gateway: RTP/RTCP (RFC 3550), G.711, RFC 4733 DTMF, a jitter
buffer, symmetric RTP with latching, and an asyncio endpoint. See docs/sip.md.

The gateway opens an ``RtpEndpoint``, puts its port in the SDP, and once the SIP core reports the
negotiated media calls ``start(StreamConfig.from_negotiated(media))``; then ``send_audio``,
``send_dtmf``, ``read_frame`` and the ``dtmf`` queue carry the call's audio and digits.
"""

from telex.rtp.dtmf import DtmfEnded, DtmfEvent, DtmfStarted
from telex.rtp.endpoint import RtpEndpoint
from telex.rtp.g711 import alaw_to_pcm, pcm_to_alaw, pcm_to_ulaw, ulaw_to_pcm
from telex.rtp.jitter import Frame, FrameKind, JitterBuffer
from telex.rtp.session import Datagram, RtpSession, StreamConfig

__all__ = [
    "Datagram",
    "DtmfEnded",
    "DtmfEvent",
    "DtmfStarted",
    "Frame",
    "FrameKind",
    "JitterBuffer",
    "RtpEndpoint",
    "RtpSession",
    "StreamConfig",
    "alaw_to_pcm",
    "pcm_to_alaw",
    "pcm_to_ulaw",
    "ulaw_to_pcm",
]
