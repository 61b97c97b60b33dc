"""The ``telex`` command: ``serve``, ``connection-string``, ``keys``, ``turn``."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from telex.config import ConfigError, Settings, load_settings
from telex.turn.cli import add_subcommands as add_turn_subcommands
from telex.turn.cli import settings_overrides as turn_overrides

__all__ = ["main"]


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, help="TOML config file (also TELEX_CONFIG)")
    p.add_argument("--data-dir", dest="data_dir", type=Path, help="data directory (default ./.telex)")
    p.add_argument("--database", help="database URL (default: SQLite in the data dir)")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="telex", description="Self-hosted communication services.")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the server")
    _common(serve)
    serve.add_argument("--host", help="listen address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="HTTP port (default 8080)")
    serve.add_argument("--tls-port", dest="tls_port", type=int, help="HTTPS port (default 8443)")
    serve.add_argument("--turn-port", dest="turn_port", type=int, help="STUN/TURN port (default 3478)")
    serve.add_argument("--bus", help="pub/sub between nodes: redis://host:port/db (default: in-process)")
    serve.add_argument(
        "--demo", action="store_true", default=None, help="serve the demo web app at / (signs anyone in)"
    )

    cs = sub.add_parser("connection-string", help="print the connection string")
    _common(cs)
    cs.add_argument("--host", help="host to put in the endpoint")
    cs.add_argument("--tls-port", dest="tls_port", type=int)
    cs.add_argument("--secondary", action="store_true", help="use the secondary key")

    keys = sub.add_parser("keys", help="rotate access or signing keys")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    rotate = keys_sub.add_parser("rotate", help="regenerate the primary or secondary access key")
    _common(rotate)
    rotate.add_argument("which", choices=["primary", "secondary"])
    signing = keys_sub.add_parser("rotate-signing", help="add a new token signing key")
    _common(signing)
    turn_secret = keys_sub.add_parser(
        "turn-secret", help="print the TURN REST secret(s), one per line (for coturn's static-auth-secret)"
    )
    _common(turn_secret)

    add_turn_subcommands(sub)
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    if args.command == "turn":  # its flags are [turn] settings
        return load_settings(getattr(args, "config", None), cli={"turn": turn_overrides(args)})
    cli: dict[str, Any] = {}
    for name in ("data_dir", "database", "host", "port", "tls_port", "bus"):
        value = getattr(args, name, None)
        if value is not None:
            cli[name] = value
    if getattr(args, "demo", None):
        cli["demo"] = {"enabled": True}
    if getattr(args, "turn_port", None) is not None:
        cli["turn"] = {"port": args.turn_port}
    return load_settings(getattr(args, "config", None), cli=cli)


async def _with_node(settings: Settings, action: str, which: str = "") -> str:
    from telex.app import Node
    from telex.identity.keyring import encode_key
    from telex.server import connection_string

    node = await Node.open(settings)
    try:
        if action == "rotate":
            if which == "primary" and node.keyring.primary_overridden:
                raise SystemExit("telex: the primary key comes from TELEX_ACCESS_KEY; change it there")
            await node.keyring.rotate_access_key(which)
            key = node.keyring.state.primary_key if which == "primary" else node.keyring.state.secondary_key
            return f"rotated the {which} key; new connection string:\n" + connection_string(
                settings.host, settings.tls_port, encode_key(key)
            )
        if action == "turn-secret":
            return "\n".join(s.decode("ascii", "replace") for s in node.turn_secrets())
        if action == "rotate-signing":
            signer = await node.keyring.rotate_signing_key()
            return f"new signing key {signer.kid}; older keys verify until their tokens expire"
        state = node.keyring.state
        key = state.secondary_key if which == "secondary" else state.primary_key
        return connection_string(settings.host, settings.tls_port, encode_key(key))
    finally:
        await node.close()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = _settings(args)
    except ConfigError as exc:
        print(f"telex: {exc}", file=sys.stderr)
        return 2
    if args.command == "serve":
        from telex.server import run_server

        run_server(settings)
        return 0
    if args.command == "connection-string":
        print(asyncio.run(_with_node(settings, "show", "secondary" if args.secondary else "primary")))
        return 0
    if args.command == "keys":
        action = args.keys_command
        print(asyncio.run(_with_node(settings, action, getattr(args, "which", ""))))
        return 0
    func = getattr(args, "func", None)  # subcommands that dispatch themselves (telex turn …)
    if func is not None:
        return int(func(args, settings.turn) or 0)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
