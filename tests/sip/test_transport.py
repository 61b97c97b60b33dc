"""The asyncio shell on loopback sockets: a call over UDP, TCP and TLS between two UAs."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from telex.sip import Answered, Confirmed, Ended, Event, IncomingCall, Peer, SipTransport, UaConfig, UserAgent
from telex.sip.reasons import EndCause

LOOP = "127.0.0.1"


def _tls_contexts(directory: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, LOOP)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(LOOP))]), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_file, key_file)
    client = ssl.create_default_context(cafile=str(cert_file))
    return server, client


async def _next(transport: SipTransport, kind: type) -> Event:
    while True:
        event = await asyncio.wait_for(transport.events.get(), 5)
        if isinstance(event, kind):
            return event


@pytest.mark.parametrize("kind", ["udp", "tcp", "tls"])
async def test_call_over_real_sockets(kind: str, tmp_path: Path) -> None:
    tls_server, tls_client = _tls_contexts(tmp_path) if kind == "tls" else (None, None)
    a = SipTransport(UserAgent(UaConfig(host=LOOP, ports={kind: 0})), tls_client=tls_client)
    b = SipTransport(UserAgent(UaConfig(host=LOOP, ports={kind: 0})), tls_client=tls_client)
    try:
        if kind == "udp":
            await a.listen_udp(LOOP, 0)
            port = await b.listen_udp(LOOP, 0)
        else:
            await a.listen_tcp(LOOP, 0, tls_server)
            port = await b.listen_tcp(LOOP, 0, tls_server)
        target = Peer(kind, LOOP, port)
        call_id = a.run(
            lambda now: a.ua.invite(f"sip:bob@{LOOP}:{port}", peer=target, rtp=(LOOP, 20000), now=now)
        )
        incoming = await _next(b, IncomingCall)
        assert isinstance(incoming, IncomingCall) and incoming.call_id == call_id
        assert incoming.source.transport == kind
        b.run(lambda now: b.ua.answer(call_id, now, rtp=(LOOP, 20002)))
        answered = await _next(a, Answered)
        assert isinstance(answered, Answered) and answered.media.remote_port == 20002
        await _next(b, Confirmed)
        b.run(lambda now: b.ua.hangup(call_id, now))
        ended = await _next(a, Ended)
        assert isinstance(ended, Ended) and ended.cause is EndCause.REMOTE_HUNG_UP
    finally:
        await a.close()
        await b.close()


async def test_tcp_framing_error_closes_the_connection() -> None:
    b = SipTransport(UserAgent(UaConfig(host=LOOP, ports={"tcp": 0})))
    try:
        port = await b.listen_tcp(LOOP, 0)
        reader, writer = await asyncio.open_connection(LOOP, port)
        writer.write(b"INVITE sip:x@y SIP/2.0\r\nVia: garbage\r\n\r\n")
        await writer.drain()
        assert await asyncio.wait_for(reader.read(100), 5) == b""  # closed by the gateway
        writer.close()
        assert b.ua.counters.stream_errors == 1
    finally:
        await b.close()
