"""``telex serve`` start-up as a person meets it: a failure is one line naming the setting, port or
path (exit status 1, no traceback unless ``--debug``), the banner only once the listeners are up,
every port settable by a flag, and ``telex connection-string`` telling the truth."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509

from tests.support.live import LiveServer
from tests.support.procs import free_port
from tests.webhooks.certs import LocalCA

PORT_FLAGS = ("--port", "--tls-port", "--turn-port", "--turns-port")
NOBODY = 65534


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TELEX_")}
    env.update(extra or {})
    return env


def _telex(
    *args: str, env: dict[str, str] | None = None, user: int | None = None
) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "telex", *args]
    if user is not None:  # as an unprivileged user: root may write anywhere
        command = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", "--", *command]
        kw: dict[str, Any] = {"cwd": "/"}
    else:
        kw = {}
    return subprocess.run(
        command, capture_output=True, text=True, timeout=60, env=_env(env), check=False, **kw
    )


def _ports() -> dict[str, int]:
    return {
        flag: free_port(socket.SOCK_DGRAM if flag == "--turn-port" else socket.SOCK_STREAM)
        for flag in PORT_FLAGS
    }


def _serve(
    data_dir: Path, ports: dict[str, int], *extra: str, **kw: object
) -> subprocess.CompletedProcess[str]:
    args = ["serve", "--data-dir", str(data_dir)]
    for flag, port in ports.items():
        args += [flag, str(port)]
    return _telex(*args, *extra, **kw)  # type: ignore[arg-type]


def _one_line(done: subprocess.CompletedProcess[str]) -> str:
    """The single line a failed start printed (and proof that nothing else was printed)."""
    assert done.returncode == 1, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    assert "connection string" not in done.stdout  # no banner for a server that is not up
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("telex: ")
    return lines[0]


@contextmanager
def _held(port: int, kind: socket.SocketKind = socket.SOCK_STREAM) -> Iterator[None]:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", port))
        if kind == socket.SOCK_STREAM:
            sock.listen()
        yield


@pytest.mark.parametrize(
    ("flag", "setting", "kind"),
    [
        ("--port", "port, --port", socket.SOCK_STREAM),
        ("--tls-port", "tls_port, --tls-port", socket.SOCK_STREAM),
        ("--turn-port", "turn.port, --turn-port", socket.SOCK_DGRAM),
        ("--turns-port", "turn.tls_port, --turns-port", socket.SOCK_STREAM),
    ],
)
def test_a_port_in_use_is_one_line_naming_the_port_and_its_flag(
    tmp_path: Path, flag: str, setting: str, kind: socket.SocketKind
) -> None:
    ports = _ports()
    with _held(ports[flag], kind):
        line = _one_line(_serve(tmp_path / "data", ports))
    reason = "address already in use (another server holds it)"
    assert line == f"telex: cannot listen on 127.0.0.1:{ports[flag]} ({setting}): {reason}"


def test_the_default_turns_port_is_named_when_another_server_holds_it(tmp_path: Path) -> None:
    # The suite runs in its own network namespace, so 5349 is free unless held here.
    ports = _ports()
    del ports["--turns-port"]
    with _held(5349):
        line = _one_line(_serve(tmp_path / "data", ports))
    assert "127.0.0.1:5349 (turn.tls_port, --turns-port)" in line


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    ports = _ports()
    with _held(ports["--port"]):
        done = _serve(tmp_path / "data", ports, "--debug")
    assert done.returncode == 1
    assert "Traceback" in done.stderr and "--port" in done.stderr.strip().splitlines()[-1]


def test_a_file_where_the_data_dir_should_be(tmp_path: Path) -> None:
    target = tmp_path / "data"
    target.write_text("not a directory")
    line = _one_line(_serve(target, _ports()))
    assert line == f"telex: data_dir {target}: exists and is not a directory (--data-dir)"


def test_a_file_inside_the_data_dir_where_a_directory_should_be(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "tls").write_text("not a directory")
    line = _one_line(_serve(data, _ports()))
    assert str(data / "tls") in line and "data_dir" in line


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None, reason="needs root to switch users")
def test_a_read_only_or_missing_data_dir_for_an_unprivileged_user() -> None:
    # Under /tmp itself: pytest's own temporary directories are root's alone (0700).
    with tempfile.TemporaryDirectory(prefix="telex-ro-") as top:
        read_only = Path(top) / "ro"
        read_only.mkdir()
        os.chmod(top, 0o711)  # noqa: S103 (nobody must reach the directory to be refused by it)
        os.chmod(read_only, 0o555)  # noqa: S103
        line = _one_line(_serve(read_only, _ports(), user=NOBODY))
        assert line == f"telex: data_dir {read_only}: not writable: Permission denied (--data-dir)"
        missing = read_only / "data"
        line = _one_line(_serve(missing, _ports(), user=NOBODY))
        assert line == f"telex: data_dir {missing}: cannot create it: Permission denied (--data-dir)"


def test_a_bad_certificate_file_is_named(tmp_path: Path) -> None:
    cert = tmp_path / "cert.pem"
    cert.write_text("not a certificate")
    env = {"TELEX_TLS__CERT_FILE": str(cert), "TELEX_TLS__KEY_FILE": str(tmp_path / "missing.pem")}
    line = _one_line(_serve(tmp_path / "data", _ports(), env=env))
    assert line.startswith(f"telex: tls.cert_file {cert} / tls.key_file {tmp_path / 'missing.pem'}: ")


def test_two_servers_on_one_host_with_every_port_set_by_flags(tmp_path: Path) -> None:
    with LiveServer(tmp_path / "a") as a, LiveServer(tmp_path / "b") as b:
        for server in (a, b):
            assert httpx.get(f"{server.http_url}/healthz", timeout=5).status_code == 200
            turn = next(line for line in server.output if "STUN/TURN" in line)
            assert f":{server.turn_port} (udp, tcp, turns: {server.turns_port})" in turn
        assert (
            len(
                {a.port, a.tls_port, a.turn_port, a.turns_port, b.port, b.tls_port, b.turn_port, b.turns_port}
            )
            == 8
        )


def test_connection_string_prints_what_the_server_advertises(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with LiveServer(data) as server:
        printed = _telex("connection-string", "--data-dir", str(data))
        assert printed.returncode == 0, printed.stderr
        assert printed.stdout.strip() == server.connection_string  # its real HTTPS port, not 8443
        rotated = _telex("keys", "rotate", "secondary", "--data-dir", str(data))
        assert f"endpoint=https://127.0.0.1:{server.tls_port}/;" in rotated.stdout
        other = _telex(
            "connection-string", "--data-dir", str(data), "--host", "telex.example", "--tls-port", "443"
        )
        assert other.stdout.startswith("endpoint=https://telex.example:443/;accesskey=")
    recorded = json.loads((data / "endpoint.json").read_text())
    assert recorded["endpoint"] == f"https://127.0.0.1:{server.tls_port}/"


@pytest.mark.parametrize(
    "command", [["connection-string"], ["keys", "rotate", "primary"], ["keys", "turn-secret"]]
)
def test_a_data_dir_without_telex_data_is_refused(tmp_path: Path, command: list[str]) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    for data in (empty, tmp_path / "missing"):
        done = _telex(*command, "--data-dir", str(data))
        assert done.returncode == 1 and done.stdout == ""
        hint = "give the --data-dir (or --database) that telex serve uses"
        assert done.stderr.strip() == f"telex: {data.resolve()} holds no Telex data: {hint}"
    assert list(empty.iterdir()) == []  # no keyring made up on the spot
    assert not (tmp_path / "missing").exists()


def test_public_url_and_hostnames_go_into_the_certificate_and_the_connection_string(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {"TELEX_TLS__HOSTNAMES": "telex.lan,192.0.2.7"}
    with LiveServer(data, env=env, extra_args=["--public-url", "https://telex.example:9443"]) as server:
        assert server.connection_string.startswith("endpoint=https://telex.example:9443/;accesskey=")
        cert = x509.load_pem_x509_certificate((data / "tls" / "cert.pem").read_bytes())
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = set(san.get_values_for_type(x509.DNSName)) | {
            str(a) for a in san.get_values_for_type(x509.IPAddress)
        }
        assert {"localhost", "127.0.0.1", "::1", "telex.example", "telex.lan", "192.0.2.7"} <= names
        printed = _telex("connection-string", "--data-dir", str(data))
        assert printed.stdout.strip() == server.connection_string


def _served_serial(port: int, ca: Path) -> int:
    context = ssl.create_default_context(cafile=str(ca))
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


def test_an_own_certificate_is_used_and_reloaded_on_sighup(tmp_path: Path) -> None:
    ca = LocalCA(tmp_path)
    ca.server_context("localhost", "127.0.0.1")
    cert, key = tmp_path / "localhost.crt", tmp_path / "localhost.key"
    env = {"TELEX_TLS__CERT_FILE": str(cert), "TELEX_TLS__KEY_FILE": str(key)}
    with LiveServer(tmp_path / "data", env=env) as server:
        assert any(f"certificate: {cert}" in line for line in server.output)
        assert not (tmp_path / "data" / "tls").exists()  # no self-signed one made beside it
        https, turns = (
            _served_serial(server.tls_port, ca.ca_file),
            _served_serial(server.turns_port, ca.ca_file),
        )
        ca.server_context("localhost", "127.0.0.1")  # a renewal: new files in place
        renewed = x509.load_pem_x509_certificate(cert.read_bytes()).serial_number
        server.signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while _served_serial(server.tls_port, ca.ca_file) != renewed:
            assert time.monotonic() < deadline, "HTTPS still serves the old certificate"
            time.sleep(0.05)
        assert _served_serial(server.turns_port, ca.ca_file) == renewed != turns
        assert renewed != https


def test_an_explicit_sqlite_database_without_data_is_refused_and_not_created(tmp_path: Path) -> None:
    db = tmp_path / "nothing.db"
    done = _telex("connection-string", "--data-dir", str(tmp_path), "--database", f"sqlite:///{db}")
    assert done.returncode == 1 and "holds no Telex data" in done.stderr
    assert not db.exists()
