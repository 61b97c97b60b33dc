"""SIP messages used across the tests (written for these tests, shaped like real trunk traffic)."""

from __future__ import annotations

SDP_OFFER = (
    b"v=0\r\n"
    b"o=carrier 1234 1 IN IP4 192.0.2.10\r\n"
    b"s=-\r\n"
    b"c=IN IP4 192.0.2.10\r\n"
    b"t=0 0\r\n"
    b"m=audio 30000 RTP/AVP 8 0 101\r\n"
    b"a=rtpmap:8 PCMA/8000\r\n"
    b"a=rtpmap:0 PCMU/8000\r\n"
    b"a=rtpmap:101 telephone-event/8000\r\n"
    b"a=fmtp:101 0-15\r\n"
    b"a=ptime:20\r\n"
    b"a=sendrecv\r\n"
)


def invite(
    *,
    branch: str = "z9hG4bKtrunk1",
    call_id: str = "a84b4c76e66710@192.0.2.10",
    cseq: int = 314159,
    body: bytes = SDP_OFFER,
    extra: str = "",
    from_tag: str = "1928301774",
    to_tag: str | None = None,
    host: str = "192.0.2.10",
    port: int = 5060,
    uri: str = "sip:+15551230000@198.51.100.1",
) -> bytes:
    to = "<sip:+15551230000@198.51.100.1>" + (f";tag={to_tag}" if to_tag else "")
    head = (
        f"INVITE {uri} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {host}:{port};branch={branch}\r\n"
        "Max-Forwards: 70\r\n"
        f"To: {to}\r\n"
        f'From: "Carrier" <sip:+15559870000@{host}>;tag={from_tag}\r\n'
        f"Call-ID: {call_id}\r\n"
        f"CSeq: {cseq} INVITE\r\n"
        f"Contact: <sip:gw@{host}:{port}>\r\n"
        f"{extra}"
        "Content-Type: application/sdp\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


RESPONSE_180 = (
    b"SIP/2.0 180 Ringing\r\n"
    b"Via: SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bKus1;received=198.51.100.1\r\n"
    b"To: <sip:+15551230000@192.0.2.10>;tag=as83kd\r\n"
    b"From: <sip:telex@198.51.100.1>;tag=88sja8x\r\n"
    b"Call-ID: c1@198.51.100.1\r\n"
    b"CSeq: 1 INVITE\r\n"
    b"Content-Length: 0\r\n\r\n"
)
