"""``telex turn``: a dedicated relay node, and ``telex turn coturn-config``.

    telex turn [--config FILE] [--host 0.0.0.0] [--port 3478] --secret-file /run/secrets/turn
    telex turn coturn-config --secret-file FILE [--listening-ip IP]... > /etc/turnserver.conf

Secrets come from a file (one per line; the first signs, all verify) or the ``[turn] secrets``
setting, never from argv, where any local user could read them in ``/proc/<pid>/cmdline``
(security.md §1.5).

    telex.cli ─► add_subcommands(parser) ─► parse ─► load_settings(--config, settings_overrides(args))
              ─► args.func(args, settings.turn)

This module imports nothing above ``telex.turn``: the caller loads the settings (``telex.cli``
with the whole configuration: file, ``TELEX_*`` variables, these flags) and hands over the
``[turn]`` section. ``python -m telex.turn.cli`` runs the same parser standalone, on the defaults
and the flags only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from telex.core.clock import SystemClock
from telex.turn.coturn import coturn_config
from telex.turn.settings import TurnSettings

__all__ = ["add_subcommands", "main", "settings_overrides"]


def add_subcommands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``turn`` (and its ``coturn-config`` subcommand) to a ``telex`` argument parser.

    Each parser sets ``func``: call ``args.func(args, settings)`` with the ``[turn]`` settings
    loaded with ``settings_overrides(args)`` on top; it returns the exit status.
    """
    turn = subparsers.add_parser("turn", help="run a standalone STUN/TURN relay node")
    _common(turn)
    turn.add_argument("--host", default=None, help="listening address (default 127.0.0.1)")
    turn.set_defaults(func=run_command)
    sub = turn.add_subparsers(dest="turn_command")
    coturn = sub.add_parser("coturn-config", help="print a hardened coturn configuration")
    _common(coturn)
    coturn.add_argument("--listening-ip", action="append", default=[])
    coturn.add_argument("--relay-ip", action="append", default=[])
    coturn.add_argument("--external-ip", default="")
    coturn.add_argument(
        "--test-allow-loopback",
        action="store_true",
        help="TEST RIGS ONLY: let coturn relay to 127.0.0.1",
    )
    coturn.set_defaults(func=coturn_command)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, default=None, help="TOML config file ([turn] section)")
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument("--secret-file", type=Path, default=None)
    parser.add_argument("--realm", default=None)
    parser.add_argument("--min-port", type=int, default=None)
    parser.add_argument("--max-port", type=int, default=None)


def settings_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The ``[turn]`` settings given as flags (``--port``, ``--realm``, ``--min-port``, ``--max-port``)."""
    return {
        key: value
        for key, value in (
            ("port", args.port),
            ("realm", args.realm),
            ("min_port", args.min_port),
            ("max_port", args.max_port),
        )
        if value is not None
    }


def _secrets(args: argparse.Namespace, settings: TurnSettings) -> list[str]:
    if args.secret_file is not None:
        lines = args.secret_file.read_text().splitlines()
        return [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    return list(settings.secrets)


def coturn_command(args: argparse.Namespace, settings: TurnSettings) -> int:
    secrets = _secrets(args, settings)
    if not secrets:
        print("telex turn coturn-config: no secret (use --secret-file or [turn] secrets)", file=sys.stderr)
        return 2
    text = coturn_config(
        settings,
        secrets,
        listening_ips=args.listening_ip,
        relay_ips=args.relay_ip,
        external_ip=args.external_ip,
        test_allow_loopback=args.test_allow_loopback,
    )
    sys.stdout.write(text)
    return 0


async def _serve(settings: TurnSettings, secrets: list[bytes], host: str) -> None:
    from telex.turn.server import TurnServer

    server = TurnServer(settings, secrets, SystemClock(), host)
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    tcp = f" tcp {host}:{server.tcp_port}" if server.tcp_port else ""
    print(f"telex turn: listening udp {host}:{server.udp_port}{tcp}", flush=True)
    try:
        await stop.wait()
    finally:
        await server.stop()


def run_command(args: argparse.Namespace, settings: TurnSettings) -> int:
    secrets = _secrets(args, settings)
    if not secrets:
        print("telex turn: no secret (use --secret-file or [turn] secrets)", file=sys.stderr)
        return 2
    host = args.host or "127.0.0.1"
    main_coro = _serve(settings, [s.encode() for s in secrets], host)
    try:
        import uvloop
    except ImportError:
        asyncio.run(main_coro)
    else:
        uvloop.run(main_coro)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Standalone: the defaults and the flags, no configuration file (``telex turn`` reads one)."""
    parser = argparse.ArgumentParser(prog="telex")
    subparsers = parser.add_subparsers(dest="command", required=True)
    add_subcommands(subparsers)
    args = parser.parse_args(argv)
    if args.config is not None:
        print("python -m telex.turn.cli reads no config file: use telex turn --config FILE", file=sys.stderr)
        return 2
    status: int = args.func(args, TurnSettings(**settings_overrides(args)))
    return status


if __name__ == "__main__":
    raise SystemExit(main())
