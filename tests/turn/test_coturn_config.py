"""The generated coturn configuration (pure text; the live checks are in test_coturn.py)."""

from __future__ import annotations

import pytest

from telex.turn.cli import main
from telex.turn.coturn import DENIED_PEER_RANGES, coturn_config
from telex.turn.settings import TurnSettings


def test_hardened_lines_present_and_no_loopback_by_default() -> None:
    text = coturn_config(TurnSettings(), ["s1", "s2"], listening_ips=["192.0.2.10"], relay_ips=["192.0.2.10"])
    lines = set(text.splitlines())
    for required in (
        "use-auth-secret", "static-auth-secret=s1", "static-auth-secret=s2", "realm=telex",
        "no-cli", "no-rfc5780", "no-stun-backward-compatibility", "response-origin-only-with-rfc5780",
        "no-software-attribute", "no-tcp-relay", "no-multicast-peers", "user-quota=20",
        "total-quota=2000", "max-bps=1250000", "min-port=49152", "listening-ip=192.0.2.10",
        "denied-peer-ip=::ffff:0:0-::ffff:ffff:ffff", "denied-peer-ip=::1-::ffff:ffff",
        "denied-peer-ip=127.0.0.0-127.255.255.255", "denied-peer-ip=169.254.0.0-169.254.255.255",
    ):  # fmt: skip
        assert required in lines, required
    assert "allow-loopback-peers" not in text
    assert not any(r.startswith("::-") for r in DENIED_PEER_RANGES)


def test_test_only_loopback_is_explicit() -> None:
    text = coturn_config(TurnSettings(), ["s"], test_allow_loopback=True)
    assert "allow-loopback-peers" in text
    assert "allowed-peer-ip=127.0.0.1" in text


def test_cli_prints_config_from_secret_file(tmp_path: object, capsys: pytest.CaptureFixture[str]) -> None:
    from pathlib import Path

    secret = Path(str(tmp_path)) / "secret"
    secret.write_text("# comment\nfirst\nsecond\n")
    assert (
        main(
            [
                "turn",
                "coturn-config",
                "--secret-file",
                str(secret),
                "--port",
                "3479",
                "--relay-ip",
                "10.1.1.1",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "static-auth-secret=first\nstatic-auth-secret=second\n" in out
    assert "listening-port=3479" in out
    assert "relay-ip=10.1.1.1" in out
