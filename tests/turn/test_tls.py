"""TURN over TLS (``turns:``): aioice allocates and relays through the TLS listener."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
import time
from pathlib import Path
from typing import Any

from aioice import turn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from telex.turn.relayconfig import issue_relay_configuration
from tests.turn.conftest import SECRET, EchoPeer, credentials, wait_for


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
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
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
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
    return cert_file, key_file


async def test_turns_allocates_and_relays(
    start_server: Any, echo_peer: tuple[EchoPeer, tuple[str, int]], tmp_path: Path
) -> None:
    cert_file, key_file = _self_signed(tmp_path)
    server = await start_server(
        allow_loopback_peers=True, tls_port=0, tls_cert_file=cert_file, tls_key_file=key_file
    )
    assert server.tls_port is not None
    relay = issue_relay_configuration(
        server.settings.model_copy(update={"tls_port": server.tls_port}),
        SECRET,
        "u",
        60,
        time.time(),
        "127.0.0.1",
    )
    assert f"turns:127.0.0.1:{server.tls_port}?transport=tcp" in relay["iceServers"][0]["urls"]
    client_context = ssl.create_default_context(cafile=str(cert_file))
    queue: asyncio.Queue[bytes] = asyncio.Queue()

    class Sink(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: Any) -> None:
            queue.put_nowait(data)

    username, password = credentials()
    endpoint, _ = await turn.create_turn_endpoint(
        Sink,
        server_addr=("127.0.0.1", server.tls_port),
        username=username,
        password=password,
        transport="tcp",
        ssl=client_context,
    )
    try:
        assert next(iter(server.core.allocations))[0] == "tls"
        for i in range(5):
            endpoint.sendto(b"over tls %d" % i, echo_peer[1])
            assert await asyncio.wait_for(queue.get(), 5) == b"over tls %d" % i
    finally:
        endpoint.close()
    await wait_for(lambda: not server.core.allocations)
