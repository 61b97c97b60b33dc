"""Engine set-up, transactions and migrations.

``Database.read()`` and ``Database.write()`` are the only ways code gets a connection. On SQLite
a write transaction starts with ``BEGIN IMMEDIATE`` under an in-process lock: WAL allows one
writer, and a deferred transaction that upgrades to a write mid-way fails with SQLITE_BUSY
instead of waiting. ``synchronous=FULL`` makes a commit durable before it returns, so nothing is
acknowledged to a client that a crash (even of the machine) could lose.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from telex.core.errors import ErrorCode, TelexError

__all__ = ["Database", "async_url"]

_MIGRATIONS = Path(__file__).parent / "migrations"


def async_url(url: str) -> str:
    """Map a plain database URL to its asyncio driver (``sqlite`` → aiosqlite, ``postgresql`` → asyncpg)."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return str(parsed.set(drivername="sqlite+aiosqlite"))
    if backend == "postgresql":
        return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    raise ValueError(f"unsupported database {backend!r}: use sqlite or postgresql")


class Database:
    def __init__(self, url: str) -> None:
        self.url = async_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        kwargs: dict[str, Any] = {}
        if self.is_sqlite:
            # read() and write() always end their transaction, so the pool's own rollback on
            # return is a wasted round trip to the aiosqlite thread (~25% of a small read).
            kwargs.update(pool_reset_on_return=None)
        else:
            kwargs.update(pool_size=10, max_overflow=10, pool_pre_ping=True)
        self.engine: AsyncEngine = create_async_engine(self.url, **kwargs)
        self._write_lock = asyncio.Lock()
        if self.is_sqlite:
            self._prepare_sqlite_file()
            event.listen(self.engine.sync_engine, "connect", _sqlite_on_connect)
            event.listen(self.engine.sync_engine, "begin", _sqlite_on_begin)

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
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A read transaction (a consistent snapshot)."""
        try:
            async with self.engine.connect() as conn, conn.begin():
                yield conn
        except OperationalError as exc:
            raise TelexError(ErrorCode.UNAVAILABLE, "The store is unavailable; retry.") from exc

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction; it has committed (durably) when the block exits without error."""
        try:
            if self.is_sqlite:
                async with self._write_lock, self.engine.connect() as conn:
                    conn = await conn.execution_options(telex_write=True)
                    async with conn.begin():
                        yield conn
            else:
                async with self.engine.begin() as conn:
                    yield conn
        except OperationalError as exc:
            raise TelexError(ErrorCode.UNAVAILABLE, "The store is unavailable; retry.") from exc

    async def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision."""
        async with self.engine.connect() as conn:
            await conn.run_sync(_upgrade)
            await conn.commit()

    async def ping(self) -> bool:
        try:
            async with self.read() as conn:
                await conn.exec_driver_sql("SELECT 1")
            return True
        except TelexError:
            return False

    async def close(self) -> None:
        await self.engine.dispose()


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
