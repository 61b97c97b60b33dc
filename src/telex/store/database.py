"""Engine set-up, transactions and migrations.

``Database.read()`` and ``Database.write()`` are the only ways code gets a connection (a
``Conn``: the few ``AsyncConnection`` calls repositories make). PostgreSQL goes through
SQLAlchemy's asyncio engine on asyncpg; SQLite through synchronous connections, each in a
worker thread of its own (``sqlite_threads``: far fewer thread hops than aiosqlite). On SQLite
a write transaction starts with ``BEGIN IMMEDIATE`` under an in-process lock: WAL allows one
writer, and a deferred transaction that upgrades to a write mid-way fails with SQLITE_BUSY
instead of waiting. ``synchronous=FULL`` makes a commit durable before it returns, so nothing is
acknowledged to a client that a crash (even of the machine) could lose.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Protocol

from alembic import command
from alembic.config import Config
from sqlalchemy import Result, create_engine, event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.sql.base import Executable

from telex.core.errors import ErrorCode, TelexError
from telex.store.sqlite_threads import SqliteWorkers

__all__ = ["Conn", "Database", "async_url"]

# Reader connections on SQLite: reads go on in parallel with each other and with the one writer.
_SQLITE_READERS = 4


class Conn(Protocol):
    """A connection inside one transaction, as repositories use it."""

    async def execute(self, statement: Executable, parameters: Any = None) -> Result[Any]: ...

    async def exec_driver_sql(self, statement: str, parameters: Any = None) -> Result[Any]: ...


_MIGRATIONS = Path(__file__).parent / "migrations"


def async_url(url: str) -> str:
    """Map a PostgreSQL URL to its asyncio driver, asyncpg (SQLite needs none: see
    ``sqlite_threads``)."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    raise ValueError(f"unsupported database {backend!r}: use sqlite or postgresql")


class Database:
    def __init__(self, url: str) -> None:
        parsed = make_url(url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        self.url = str(parsed) if self.is_sqlite else async_url(url)
        self._engine: AsyncEngine | None = None
        self._sqlite: SqliteWorkers | None = None
        if self.is_sqlite:
            self._prepare_sqlite_file()
            engine = create_engine(
                parsed.set(drivername="sqlite+pysqlite"), pool_size=_SQLITE_READERS + 1, max_overflow=0
            )
            event.listen(engine, "connect", _sqlite_on_connect)
            event.listen(engine, "begin", _sqlite_on_begin)
            self._sqlite = SqliteWorkers(engine, _SQLITE_READERS)
        else:
            self._engine = create_async_engine(self.url, pool_size=10, max_overflow=10, pool_pre_ping=True)

    def _prepare_sqlite_file(self) -> None:
        path = make_url(self.url).database
        if not path or path == ":memory:":
            return
        db = Path(path)
        db.parent.mkdir(parents=True, exist_ok=True)
        # Secrets live in this file: owner-only from the first byte.
        fd = os.open(db, os.O_CREAT | os.O_RDWR, 0o600)
        os.close(fd)
        os.chmod(db, 0o600)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[Conn]:
        """A read transaction (a consistent snapshot)."""
        try:
            if self._sqlite is not None:
                async with self._sqlite.read() as conn:
                    yield conn
            else:
                assert self._engine is not None
                async with self._engine.connect() as aconn, aconn.begin():
                    yield aconn
        except OperationalError as exc:
            raise TelexError(ErrorCode.UNAVAILABLE, "The store is unavailable; retry.") from exc

    @asynccontextmanager
    async def write(self) -> AsyncIterator[Conn]:
        """A write transaction; it has committed (durably) when the block exits without error."""
        try:
            if self._sqlite is not None:
                async with self._sqlite.write() as conn:
                    yield conn
            else:
                assert self._engine is not None
                async with self._engine.begin() as aconn:
                    yield aconn
        except OperationalError as exc:
            raise TelexError(ErrorCode.UNAVAILABLE, "The store is unavailable; retry.") from exc

    async def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision."""
        if self._sqlite is not None:
            async with self._sqlite.write() as conn:
                await conn.run_sync(_upgrade)
            return
        assert self._engine is not None
        async with self._engine.connect() as aconn:
            await aconn.run_sync(_upgrade)
            await aconn.commit()

    async def ping(self) -> bool:
        try:
            async with self.read() as conn:
                await conn.exec_driver_sql("SELECT 1")
            return True
        except TelexError:
            return False

    async def close(self) -> None:
        if self._sqlite is not None:
            await self._sqlite.close()
        if self._engine is not None:
            await self._engine.dispose()


def _upgrade(sync_conn: Connection) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    cfg.attributes["connection"] = sync_conn
    command.upgrade(cfg, "head")


def _sqlite_on_connect(dbapi_conn: Any, _record: Any) -> None:
    # We issue BEGIN ourselves (see _sqlite_on_begin); the driver must not.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    for pragma in (
        "PRAGMA journal_mode=WAL",
        "PRAGMA synchronous=FULL",
        "PRAGMA foreign_keys=ON",
        "PRAGMA busy_timeout=10000",
    ):
        cur.execute(pragma)
    cur.close()


def _sqlite_on_begin(conn: Connection) -> None:
    mode = "IMMEDIATE" if conn.get_execution_options().get("telex_write") else "DEFERRED"
    conn.exec_driver_sql(f"BEGIN {mode}")
