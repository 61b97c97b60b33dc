"""Process lifecycle: first start, the CLI, restarts, kill -9 durability, graceful shutdown."""

from __future__ import annotations

import base64
import os
import secrets
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from telex.identity.hmac_auth import sign
from tests.support.apiversions import hooks
from tests.support.live import LiveServer
from tests.support.signing import HmacSigner


def _telex(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("TELEX_")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "telex", *args], capture_output=True, text=True, timeout=60, env=full_env
    )


def _client(server: LiveServer, key: str | None = None) -> httpx.Client:
    return httpx.Client(
        event_hooks=hooks(),
        base_url=server.http_url,
        auth=HmacSigner(base64.b64decode(key or server.access_key)),
        timeout=10,
    )


def test_first_start_creates_owner_only_secrets(fresh_dir: Path) -> None:
    with LiveServer(fresh_dir) as server:
        assert server.connection_string.startswith(
            f"endpoint=https://127.0.0.1:{server.tls_port}/;accesskey="
        )
        assert any("CA:" in line and str(server.ca) in line for line in server.output)
    assert stat.S_IMODE(fresh_dir.stat().st_mode) == 0o700
    for name in ("telex.db", "tls/key.pem", "tls/ca-key.pem"):
        assert stat.S_IMODE((fresh_dir / name).stat().st_mode) == 0o600, name


def test_connection_string_command_and_secondary(fresh_dir: Path) -> None:
    with LiveServer(fresh_dir) as server:
        printed = _telex(
            "connection-string", "--data-dir", str(fresh_dir), "--tls-port", str(server.tls_port)
        )
        assert printed.stdout.strip() == server.connection_string
        secondary = _telex("connection-string", "--data-dir", str(fresh_dir), "--secondary").stdout.strip()
        key2 = secondary.split("accesskey=")[1]
        assert key2 != server.access_key
        with _client(server, key2) as c:
            assert c.post("/identities").status_code == 201


def test_key_rotation_without_downtime_for_the_other_key(fresh_dir: Path) -> None:
    with LiveServer(fresh_dir) as server:
        old_primary = server.access_key  # before the rotation (the connection string is read lazily)
        secondary = _telex("connection-string", "--data-dir", str(fresh_dir), "--secondary").stdout.split(
            "accesskey="
        )[1]
        rotated = _telex("keys", "rotate", "primary", "--data-dir", str(fresh_dir))
        assert rotated.returncode == 0, rotated.stderr
        new_primary = rotated.stdout.strip().split("accesskey=")[1]
        with (
            _client(server, secondary.strip()) as c2,
            _client(server, old_primary) as old,
            _client(server, new_primary) as new,
        ):
            assert c2.post("/identities").status_code == 201  # the other key never stops working
            deadline = time.monotonic() + 5
            while old.post("/identities").status_code != 401:  # the running node re-reads the keyring
                assert time.monotonic() < deadline
                time.sleep(0.1)
            assert new.post("/identities").status_code == 201


def test_signing_key_rotation_keeps_issued_tokens(fresh_dir: Path) -> None:
    with LiveServer(fresh_dir) as server:
        with _client(server) as c:
            r = c.post("/identities", json={"createTokenWithScopes": ["chat"]})
            old_token = r.json()["accessToken"]["token"]
        assert _telex("keys", "rotate-signing", "--data-dir", str(fresh_dir)).returncode == 0
        deadline = time.monotonic() + 5
        while len(httpx.get(f"{server.http_url}/.well-known/jwks.json").json()["keys"]) != 2:
            assert time.monotonic() < deadline
            time.sleep(0.1)
    # The old token still verifies with the JWKS the server now publishes.
    import jwt

    with LiveServer(fresh_dir) as server:
        keys = httpx.get(f"{server.http_url}/.well-known/jwks.json").json()["keys"]
        kid = jwt.get_unverified_header(old_token)["kid"]
        jwk = next(k for k in keys if k["kid"] == kid)
        key = jwt.PyJWK(jwk).key
        jwt.decode(old_token, key, algorithms=["ES256"], options={"verify_aud": False})


def test_access_key_from_environment(fresh_dir: Path) -> None:
    key = base64.b64encode(secrets.token_bytes(64)).decode()
    with LiveServer(fresh_dir, env={"TELEX_ACCESS_KEY": key}) as server:
        assert server.access_key == key
        with _client(server, key) as c:
            assert c.post("/identities").status_code == 201
        refused = _telex(
            "keys", "rotate", "primary", "--data-dir", str(fresh_dir), env={"TELEX_ACCESS_KEY": key}
        )
        assert refused.returncode != 0


def test_unknown_config_key_stops_the_server_with_a_clear_error(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[identity]\nhmac_skew = 5\n")
    result = _telex("serve", "--config", str(cfg), "--data-dir", str(tmp_path / "d"))
    assert result.returncode == 2
    assert "identity.hmac_skew: unknown key" in result.stderr


def test_restart_keeps_users_keys_and_revocations(fresh_dir: Path) -> None:
    relay = "/networkTraversal/:issueRelayConfiguration?api-version=2022-03-01-preview"
    with LiveServer(fresh_dir) as server, _client(server) as c:
        body = c.post("/identities", json={"createTokenWithScopes": ["voip"]}).json()
        user, token = body["identity"]["id"], body["accessToken"]["token"]
        revoked = c.post("/identities", json={"createTokenWithScopes": ["voip"]}).json()
        assert c.post(f"/identities/{revoked['identity']['id']}/:revokeAccessTokens").status_code == 204
        cs = server.connection_string
        jwks = httpx.get(f"{server.http_url}/.well-known/jwks.json").json()
    with LiveServer(fresh_dir) as server, _client(server) as c:
        assert server.connection_string.split(";")[1] == cs.split(";")[1]
        assert httpx.get(f"{server.http_url}/.well-known/jwks.json").json() == jwks
        live_token = httpx.post(f"{server.http_url}{relay}", headers={"authorization": f"Bearer {token}"})
        assert live_token.status_code == 200
        dead = revoked["accessToken"]["token"]
        assert (
            httpx.post(f"{server.http_url}{relay}", headers={"authorization": f"Bearer {dead}"}).status_code
            == 401
        )
        assert c.post(f"/identities/{user}/:issueAccessToken", json={"scopes": ["voip"]}).status_code == 200
        assert c.delete(f"/identities/{user}").status_code == 204


def test_kill_9_during_a_burst_loses_no_acknowledged_user(fresh_dir: Path) -> None:
    server = LiveServer(fresh_dir).start()
    assert server.access_key  # asked before the burst's clock starts (a subprocess, seconds)
    acknowledged: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def creator() -> None:
        with _client(server) as c:
            while not stop.is_set():
                try:
                    r = c.post("/identities")
                except httpx.HTTPError:
                    return
                if r.status_code == 201:
                    with lock:
                        acknowledged.append(r.json()["identity"]["id"])

    threads = [threading.Thread(target=creator) for _ in range(4)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 20
    while len(acknowledged) < 150 and time.monotonic() < deadline:
        time.sleep(0.01)
    server.stop(signal.SIGKILL)
    stop.set()
    for t in threads:
        t.join(10)
    assert len(acknowledged) >= 150
    # The keys in the data dir survive too: the same access key still signs.
    with LiveServer(fresh_dir) as again, _client(again, server.access_key) as c:
        missing = [
            u
            for u in acknowledged
            if c.post(f"/identities/{u}/:issueAccessToken", json={"scopes": ["chat"]}).status_code != 200
        ]
    assert missing == []


def test_sigterm_drains_an_in_flight_request(fresh_dir: Path) -> None:
    server = LiveServer(fresh_dir).start()
    body = b'{"createTokenWithScopes": ["chat"]}'
    host = f"127.0.0.1:{server.port}"
    target = "/identities?api-version=2023-10-01"
    headers = sign("POST", target, host, body, base64.b64decode(server.access_key), time.time())
    head = (
        f"POST {target} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(head + body[:10])  # the request is in flight: half its body has arrived
        time.sleep(0.3)
        server.signal(signal.SIGTERM)
        time.sleep(0.3)
        with pytest.raises(ConnectionRefusedError):  # no new connections once draining
            socket.create_connection(("127.0.0.1", server.port), timeout=2).close()
        sock.sendall(body[10:])
        response = sock.recv(65536).decode()
    assert response.startswith("HTTP/1.1 201"), response
    assert server.stop(timeout=15) == 0


def test_turn_secret_command_prints_the_secret_the_server_uses(fresh_dir: Path, tmp_path: Path) -> None:
    from telex.turn.relayconfig import make_credentials

    with LiveServer(fresh_dir) as server, _client(server) as c:
        ice = c.post("/networkTraversal/:issueRelayConfiguration", json={"ttl": 60}).json()["iceServers"][0]
    printed = _telex("keys", "turn-secret", "--data-dir", str(fresh_dir))
    assert printed.returncode == 0, printed.stderr
    secret = printed.stdout.strip()
    expiry, user = ice["username"].split(":", 1)
    assert make_credentials(secret.encode(), user, int(expiry)) == (ice["username"], ice["credential"])
    secret_file = tmp_path / "turn-secret"
    secret_file.write_text(printed.stdout)
    coturn = _telex("turn", "coturn-config", "--secret-file", str(secret_file))
    assert f"static-auth-secret={secret}" in coturn.stdout.splitlines()
