"""The ``telex`` command: ``serve``, ``migrate``, ``connection-string``, ``keys``, ``events``, ``numbers``,
``turn``.

Every failure a person can fix is one line on stderr naming the setting, flag or path, and a
non-zero exit status (2 for configuration, 1 for the rest); ``--debug`` adds the traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import traceback
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from telex import __version__
from telex.config import ConfigError, Settings, load_settings
from telex.numbers.cli import add_subcommands as add_numbers_subcommands
from telex.numbers.cli import run as run_numbers
from telex.subscriptions.cli import add_subcommands as add_events_subcommands
from telex.subscriptions.cli import run as run_events
from telex.turn.cli import add_subcommands as add_turn_subcommands
from telex.turn.cli import settings_overrides as turn_overrides

__all__ = ["main"]


class _Refused(Exception):
    """A command that must not go on (one line for stderr)."""


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, help="TOML config file (also TELEX_CONFIG)")
    p.add_argument("--data-dir", dest="data_dir", type=Path, help="data directory (default ./.telex)")
    p.add_argument("--database", help="database URL (default: SQLite in the data dir)")
    p.add_argument("--debug", action="store_true", help="show the traceback of a failure")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="telex", description="Self-hosted communication services.")
    parser.add_argument("--version", action="version", version=f"telex {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the server")
    _common(serve)
    serve.add_argument(
        "--host", help="listen address of HTTP, HTTPS and TURN (default 127.0.0.1; 0.0.0.0 = all)"
    )
    serve.add_argument("--port", type=int, help="HTTP port (default 8080)")
    serve.add_argument("--tls-port", dest="tls_port", type=int, help="HTTPS port (default 8443)")
    serve.add_argument(
        "--turn-port", dest="turn_port", type=int, help="STUN/TURN port, UDP and TCP (default 3478)"
    )
    serve.add_argument("--turns-port", dest="turns_port", type=int, help="TURN over TLS port (default 5349)")
    serve.add_argument(
        "--public-url",
        dest="public_url",
        help="the URL clients reach this server by, e.g. https://telex.example.com",
    )
    serve.add_argument("--bus", help="pub/sub between nodes: redis://host:port/db (default: in-process)")
    serve.add_argument(
        "--demo", action="store_true", default=None, help="serve the demo web app at / (signs anyone in)"
    )
    serve.add_argument(
        "--no-migrate",
        dest="migrate",
        action="store_false",
        default=None,
        help="do not migrate the schema at start (run `telex migrate` first); refuse one not current",
    )

    migrate = sub.add_parser(
        "migrate",
        help="bring the database schema up to date",
        description="Apply the schema migrations this Telex needs, then exit. Safe to run again, and "
        "from several machines at once (one migrates, the others wait and find it done).",
    )
    _common(migrate)

    cs = sub.add_parser(
        "connection-string",
        help="print the connection string",
        description="Print the connection string of the server that uses this data directory: the "
        "endpoint it advertised when it last started, and its access key.",
    )
    _common(cs)
    cs.add_argument("--host", dest="endpoint_host", help="put this host in the endpoint instead")
    cs.add_argument(
        "--tls-port", dest="endpoint_port", type=int, help="put this HTTPS port in the endpoint instead"
    )
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

    add_events_subcommands(sub, _common)
    add_numbers_subcommands(sub, _common)
    add_turn_subcommands(sub)
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    if args.command == "turn":  # its flags are [turn] settings
        return load_settings(getattr(args, "config", None), cli={"turn": turn_overrides(args)})
    cli: dict[str, Any] = {}
    for name in ("data_dir", "database", "host", "port", "tls_port", "bus", "public_url"):
        value = getattr(args, name, None)
        if value is not None:
            cli[name] = value
    if getattr(args, "demo", None):
        cli["demo"] = {"enabled": True}
    if getattr(args, "migrate", None) is False:
        cli["migrate"] = False
    turn = {
        key: getattr(args, flag)
        for key, flag in (("port", "turn_port"), ("tls_port", "turns_port"))
        if getattr(args, flag, None) is not None
    }
    if turn:
        cli["turn"] = turn
    return load_settings(getattr(args, "config", None), cli=cli)


def _sqlite_file(settings: Settings) -> Path | None:
    """The SQLite database file of these settings, or None for PostgreSQL."""
    from sqlalchemy.engine import make_url

    url = make_url(settings.database_url)
    if url.get_backend_name() != "sqlite":
        return None
    return Path(str(url.database or ""))


async def _has_telex_data(settings: Settings, sqlite: Path | None) -> bool:
    """Whether the store holds a keyring, without creating one (or a database file: opening a
    SQLite database creates it, so its file is looked for before, in ``main``)."""
    if sqlite is not None:
        return True
    from telex.identity import SqlKeyringRepository
    from telex.store import Database

    db = Database(settings.database_url)
    try:
        return await SqlKeyringRepository(db).load() is not None
    except Exception:
        return False
    finally:
        await db.close()


def _no_data(settings: Settings) -> _Refused:
    from telex.startup import safe_url

    data_dir = str(settings.data_dir.resolve())
    where = f"database {safe_url(settings.database)}" if settings.database else data_dir
    return _Refused(f"{where} holds no Telex data: give the --data-dir (or --database) that telex serve uses")


def _endpoint(settings: Settings, host: str | None = None, port: int | None = None) -> str:
    """What the server advertised at its last start (data_dir/endpoint.json), else what the
    settings say; ``host``/``port`` replace their part."""
    from telex.server import endpoint_url
    from telex.startup import read_endpoint

    recorded = read_endpoint(settings.data_dir)
    endpoint = str(recorded["endpoint"]) if recorded and recorded.get("endpoint") else ""
    endpoint = endpoint or endpoint_url(settings, settings.tls_port)
    if host is None and port is None:
        return endpoint
    parts = urlsplit(endpoint)
    name = host or parts.hostname or "localhost"
    name = f"[{name}]" if ":" in name and not name.startswith("[") else name
    return f"https://{name}:{port or parts.port or 443}/"


async def _with_node(settings: Settings, action: str, args: argparse.Namespace, sqlite: Path | None) -> str:
    from telex.app import Node
    from telex.identity import encode_key
    from telex.server import connection_string
    from telex.startup import safe_url, step

    if not await _has_telex_data(settings, sqlite):
        raise _no_data(settings)
    with step(
        f"database {safe_url(settings.database)}" if settings.database else f"data_dir {settings.data_dir}"
    ):
        node = await Node.open(settings)
    try:
        if action == "rotate":
            which = args.which
            if which == "primary" and node.keyring.primary_overridden:
                raise _Refused("the primary key comes from TELEX_ACCESS_KEY; change it there")
            await node.keyring.rotate_access_key(which)
            key = node.keyring.state.primary_key if which == "primary" else node.keyring.state.secondary_key
            return f"rotated the {which} key; new connection string:\n" + connection_string(
                _endpoint(settings), encode_key(key)
            )
        if action == "turn-secret":
            return "\n".join(s.decode("ascii", "replace") for s in node.turn_secrets())
        if action == "rotate-signing":
            signer = await node.keyring.rotate_signing_key()
            return f"new signing key {signer.kid}; older keys verify until their tokens expire"
        state = node.keyring.state
        key = state.secondary_key if args.secondary else state.primary_key
        endpoint = _endpoint(settings, args.endpoint_host, args.endpoint_port)
        return connection_string(endpoint, encode_key(key))
    finally:
        await node.close()


async def _migrate(settings: Settings) -> str:
    from telex.startup import safe_url, step
    from telex.store import Database

    db_url = settings.database
    with step(f"database {safe_url(db_url)}" if db_url else f"data_dir {settings.data_dir}"):
        if not settings.database:
            settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        db = Database(settings.database_url)
        try:
            found, now = await db.migrate()
        finally:
            await db.close()
    if found == now:
        return f"the schema is current (revision {now})"
    return f"migrated the schema from revision {found or 'none (empty database)'} to {now}"


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = _settings(args)
    except ConfigError as exc:
        print(f"telex: {exc}", file=sys.stderr)
        return 2
    if args.command == "serve":
        from telex.server import run_server

        return run_server(settings, debug=args.debug)
    if args.command == "migrate":
        from telex.startup import StartupError

        try:
            print(asyncio.run(_migrate(settings)))
        except StartupError as exc:
            if args.debug:
                traceback.print_exc()
            print(f"telex: {exc}", file=sys.stderr)
            return 1
        return 0
    if args.command in ("connection-string", "keys"):
        from telex.startup import StartupError

        action = "show" if args.command == "connection-string" else args.keys_command
        try:
            sqlite = _sqlite_file(settings)
            if sqlite is not None and not sqlite.is_file():
                raise _no_data(settings)
            print(asyncio.run(_with_node(settings, action, args, sqlite)))
        except (_Refused, StartupError) as exc:
            if args.debug:
                traceback.print_exc()
            print(f"telex: {exc}", file=sys.stderr)
            return 1
        return 0
    if args.command == "events":
        return run_events(args, settings)
    if args.command == "numbers":
        return run_numbers(args, settings)
    func = getattr(args, "func", None)  # subcommands that dispatch themselves (telex turn …)
    if func is not None:
        return int(func(args, settings.turn) or 0)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
