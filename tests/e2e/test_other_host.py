"""Telex on another host: ``--host 0.0.0.0`` in a network namespace whose only way out is a
non-loopback address, reached from another address by the official Python SDK, which verifies
the self-signed certificate for the configured public name; TURN relays on the host's address.

Each test makes its own namespace (held by a sleeping process) and a veth pair into it:

    this test's namespace            the server's namespace
    10.77.0.1  veth ◄──────────────► veth 10.77.0.2, default route via 10.77.0.1
    official SDK, TURN probe          telex serve --host 0.0.0.0 --public-url https://telex.test:…

The name telex.test resolves (in the SDK's process only) to 10.77.0.2: no DNS server needed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.live import LiveServer
from tests.turn.helpers import relayed
from tests.turn.probe import Probe

SERVER_IP, CLIENT_IP = "10.77.0.2", "10.77.0.1"
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        os.geteuid() != 0 or not all(shutil.which(t) for t in ("unshare", "nsenter", "ip")),
        reason="needs root (inside scripts/netns-run) and util-linux/iproute2 to make a namespace",
    ),
]

# The official SDKs, run in a process of their own where telex.test and wrong.test mean the
# server's address. Prints what they got back.
SDK_SCRIPT = """
import json, socket, sys
real = socket.getaddrinfo
def resolve(host, *args, **kwargs):
    return real(sys.argv[3] if host in ("telex.test", "wrong.test") else host, *args, **kwargs)
socket.getaddrinfo = resolve
from azure.communication.identity import CommunicationIdentityClient, CommunicationTokenScope
from azure.communication.networktraversal import CommunicationRelayClient
conn, ca = sys.argv[1], sys.argv[2]
identity = CommunicationIdentityClient.from_connection_string(conn, connection_verify=ca)
user, token = identity.create_user_and_token([CommunicationTokenScope.VOIP])
relay = CommunicationRelayClient.from_connection_string(conn, connection_verify=ca)
server = relay.get_relay_configuration(user=user).ice_servers[0]
try:
    CommunicationIdentityClient.from_connection_string(
        conn.replace("telex.test", "wrong.test"), connection_verify=ca).create_user()
    wrong = "accepted"
except Exception as exc:
    wrong = repr(exc)
print(json.dumps({"user": user.properties["id"], "urls": server.urls, "username": server.username,
                  "credential": server.credential, "wrong_name": wrong}))
"""


@dataclass
class Namespace:
    """A network namespace of this test's own, linked to the test's by a veth pair."""

    holder: subprocess.Popen[str]

    @property
    def enter(self) -> list[str]:
        return ["nsenter", f"--net=/proc/{self.holder.pid}/ns/net", "--"]

    def run(self, *cmd: str) -> None:
        subprocess.run([*self.enter, *cmd], check=True, timeout=30)


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, timeout=30)


def _namespace(default_route: bool) -> Iterator[Namespace]:
    # "ready" is printed inside the new namespace, so the holder is in it once we read the line.
    holder = subprocess.Popen(
        ["unshare", "--net", "--", "sh", "-c", "echo ready; exec sleep 3600"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        ns = Namespace(holder)
        outside, inside = f"tx{holder.pid % 100000}a", f"tx{holder.pid % 100000}b"
        _ip("link", "add", outside, "type", "veth", "peer", "name", inside, "netns", str(holder.pid))
        _ip("addr", "add", f"{CLIENT_IP}/24", "dev", outside)
        _ip("link", "set", outside, "up")
        ns.run("ip", "link", "set", "lo", "up")
        ns.run("ip", "addr", "add", f"{SERVER_IP}/24", "dev", inside)
        ns.run("ip", "link", "set", inside, "up")
        if default_route:
            ns.run("ip", "route", "add", "default", "via", CLIENT_IP)
        yield ns
    finally:
        holder.kill()  # the namespace, and the veth pair with it, goes with its last process
        holder.wait()


@pytest.fixture
def routed() -> Iterator[Namespace]:
    yield from _namespace(default_route=True)


@pytest.fixture
def unrouted() -> Iterator[Namespace]:
    yield from _namespace(default_route=False)


def test_the_official_sdk_verifies_the_public_name_from_another_address(
    routed: Namespace, tmp_path: Path
) -> None:
    server = LiveServer(tmp_path / "data", wrapper=routed.enter, address=SERVER_IP)
    server.extra_args = ["--host", "0.0.0.0", "--public-url", f"https://telex.test:{server.tls_port}"]
    server.start(attempts=1)
    try:
        assert server.connection_string.startswith(
            f"endpoint=https://telex.test:{server.tls_port}/;accesskey="
        )
        banner = "".join(server.output)
        assert f"turn.relay_address {SERVER_IP} (the default route's" in banner
        done = subprocess.run(
            [sys.executable, "-c", SDK_SCRIPT, server.connection_string, str(server.ca), SERVER_IP],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        got = json.loads(done.stdout)
        assert got["user"].startswith("8:acs:")
        assert f"turn:telex.test:{server.turn_port}?transport=udp" in got["urls"]
        assert "CERTIFICATE_VERIFY_FAILED" in got["wrong_name"]  # the name really is checked
        # TURN, reached from the other address, relays on the host's own address (not 0.0.0.0).
        probe = Probe((SERVER_IP, server.turn_port), got["username"], got["credential"], local=CLIENT_IP)
        try:
            answer = probe.allocate()
            assert answer is not None
            address = relayed(answer)
            assert address is not None and str(address[0]) == SERVER_IP
        finally:
            probe.close()
    finally:
        server.stop()


def test_without_a_default_route_the_turn_address_is_asked_for_in_one_line(
    unrouted: Namespace, tmp_path: Path
) -> None:
    done = subprocess.run(
        [*unrouted.enter, sys.executable, "-m", "telex", "serve", "--host", "0.0.0.0", "--data-dir",
         str(tmp_path / "data")],
        capture_output=True, text=True, timeout=60, check=False,
        env={k: v for k, v in os.environ.items() if not k.startswith("TELEX_")},
    )  # fmt: skip
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert lines[0].startswith("telex: host 0.0.0.0: TURN needs the address clients relay through")
    assert "turn.external_address" in lines[0] and "TELEX_TURN__RELAY_ADDRESS" in lines[0]
