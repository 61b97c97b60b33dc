"""SIP over TLS to trunks, mutual: the carrier (Telex's own UA) checks our client certificate,
we check its certificate's CA and name (RFC 5922 §7.2). A trunk whose carrier shows a
certificate from another CA, or for another name, is refused with a log line naming the trunk;
a call over it fails (503), and its OPTIONS keep-alives mark it down, after which calls to its
numbers are refused at once (503) without an INVITE."""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

pytest.importorskip("aiortc")

from azure.core.exceptions import HttpResponseError

from telex.pstn import SipSettings
from telex.sip import EndCause, IncomingCall, OptionsResult, Peer, SipTransport
from tests.automation.conftest import Receiver
from tests.pstn.carrier import Carrier
from tests.pstn.conftest import PstnWorld, pstn_world
from tests.pstn.pki import Authority
from tests.pstn.test_outbound import create
from tests.sip.sipp_peer import LOOP
from tests.support.live import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]

GOOD, WRONG_CA, WRONG_NAME = "+15551230000", "+442079460000", "+33142000000"


def test_tls_settings_go_together(tmp_path: Path) -> None:
    trunk = {"name": "t", "host": LOOP, "transport": "tls"}
    with pytest.raises(ValueError, match="set tls_port"):
        SipSettings.model_validate({"trunks": [trunk]})
    with pytest.raises(ValueError, match="tls_cert_file and tls_key_file"):
        SipSettings.model_validate({"tls_port": 5061, "trunks": [trunk]})
    with pytest.raises(ValueError, match="go together"):
        SipSettings.model_validate({"trunks": [{**trunk, "transport": "udp", "tls_cert_file": "x.pem"}]})


@dataclass
class Tls:
    world: PstnWorld
    carrier: Carrier
    ports: dict[str, int]


class TlsCarrier(Carrier):
    """The carrier listens for TLS on several ports with one certificate (for carrier.test),
    requires a client certificate from our CA, and calls us over TLS."""

    def __init__(self, ca: Authority, ports: list[int]) -> None:
        super().__init__(0)
        cert, key = ca.issue("carrier", dns=["carrier.test"])
        self.server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(ca.ca_file))
        self.server.load_cert_chain(str(cert), str(key))
        self.server.verify_mode = ssl.CERT_REQUIRED
        client = ssl.create_default_context(cafile=str(ca.ca_file))
        client.load_cert_chain(str(cert), str(key))
        self.transport = SipTransport(self.transport.ua, tls_client=client)
        self.tls_ports = ports

    async def __aenter__(self) -> TlsCarrier:
        await super().__aenter__()
        for port in self.tls_ports:
            await self.transport.listen_tcp(LOOP, port, self.server)
        return self


@pytest.fixture
async def tls(tmp_path: Path, receiver: Receiver) -> AsyncIterator[Tls]:
    ca, other = Authority(tmp_path, "trunks"), Authority(tmp_path, "other")
    cert, key = ca.issue("telex", dns=["telex.test"], ips=[LOOP])
    ports = {name: free_port() for name in ("good", "wrong_ca", "wrong_name", "ours")}

    def trunk(name: str, prefix: str, ca_file: Path, server_name: str, interval: float) -> dict[str, object]:
        return {
            "name": name, "host": LOOP, "port": ports[name], "transport": "tls", "prefixes": [prefix],
            "tls_ca_file": str(ca_file), "tls_server_name": server_name, "options_interval_seconds": interval,
            "options_failures": 1, "username": "telex", "password": "trunk-secret",
        }  # fmt: skip

    sip = {
        "tls_port": ports["ours"], "tls_cert_file": str(cert), "tls_key_file": str(key),
        "tls_client_ca_file": str(ca.ca_file),
        "trunk": {**trunk("good", "+1", ca.ca_file, "carrier.test", 0.2), "allowed_sources": [LOOP]},
        "trunks_extra": [trunk("wrong_ca", "+44", other.ca_file, "carrier.test", 0.2),
                         trunk("wrong_name", "+33", ca.ca_file, "other.test", 0)],
    }  # fmt: skip
    async with (
        TlsCarrier(ca, [ports["good"], ports["wrong_ca"], ports["wrong_name"]]) as carrier,
        pstn_world(tmp_path, receiver, **sip) as world,
    ):
        yield Tls(world, carrier, ports)


async def test_calls_and_keep_alives_over_mutual_tls(tls: Tls, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "telex.sip.transport")
    world, c = tls.world, tls.carrier
    gateway = world.gateway
    # Outbound: the INVITE reaches the carrier over TLS (it checked our client certificate).
    props = await create(world, GOOD, world.number)
    incoming = await c.until(IncomingCall)
    assert isinstance(incoming, IncomingCall) and incoming.source.transport == "tls"
    assert str(incoming.request_uri).startswith(f"sip:{GOOD}@carrier.test:{tls.ports['good']};transport=tls")
    c.transport.run(lambda now: c.ua.reject(incoming.call_id, now, EndCause.BUSY))
    failed = await world.receiver.wait_type("CreateCallFailed", props.call_connection_id)
    assert failed["data"]["resultInformation"]["code"] == 486
    await c.ended()  # the carrier's side of that call

    # Inbound: the carrier calls us over TLS from its allowed address; the number is unknown.
    c.gateway = Peer("tls", LOOP, gateway.tls_port)
    c.dial("+14255550199")
    assert (await c.ended()).status == 404
    c.transport.run(lambda now: c.ua.send_options(c.gateway, now))  # the carrier's keep-alive
    pong = await c.until(OptionsResult)
    assert isinstance(pong, OptionsResult) and pong.status == 200

    # The wrong CA's trunk: its keep-alive fails the handshake and marks it down.
    async with asyncio.timeout(10):
        while gateway.router.trunks[1].up or not gateway.health.answers["good"]:
            await asyncio.sleep(0.05)
    assert gateway.router.trunks[0].up
    with pytest.raises(HttpResponseError) as info:
        await create(world, WRONG_CA, world.number)
    assert info.value.status_code == 503 and "No trunk that may call" in str(info.value)

    # The wrong name's trunk has no keep-alives: the call's INVITE fails the handshake.
    props = await create(world, WRONG_NAME, world.number)
    failed = await world.receiver.wait_type("CreateCallFailed", props.call_connection_id)
    assert failed["data"]["resultInformation"]["code"] == 480, failed
    logged = [r.getMessage() for r in caplog.records]
    assert any("trunk wrong_ca" in m and "CERTIFICATE_VERIFY_FAILED" in m for m in logged), logged
    assert any("trunk wrong_name" in m and "Hostname mismatch" in m for m in logged), logged
