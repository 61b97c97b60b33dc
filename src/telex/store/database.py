"""Engine set-up, transactions and migrations.

``Database.read()`` and ``Database.write()`` are the only ways code gets a connection (a
``Conn``: the few ``AsyncConnection`` calls repositories make). Writes go through group commit
(``store/group.py``): concurrent write units share one transaction and one durable commit, each
behind a savepoint of its own, and ``write()`` returns only once its unit is durable.

    SQLite      statements inline on the loop; BEGIN IMMEDIATE and COMMIT in a thread (sqlite.py);
                WAL, ``synchronous=FULL``: nothing acknowledged can be lost to a crash
    PostgreSQL  SQLAlchemy's asyncio engine on asyncpg; every write transaction first takes a
                transaction-scoped advisory lock, so event-log positions commit in order across
                nodes (events/log.py)
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import Result, create_engine, event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.sql.base import Executable

from telex.core.errors import ErrorCode, TelexError
from telex.core.outage import Outage
from telex.store.group import GroupCommit
from telex.store.migrate import migrate_schema
from telex.store.sqlite import FAST, SqliteReaders, SqliteWriter

__all__ = [
    "APPEND_LOCK_KEY",
    "FAST",
    "RETRY_AFTER_SECONDS",
    "Conn",
    "Database",
    "WriteConn",
    "async_url",
    "unreachable",
]

log = logging.getLogger(__name__)

# Reader connections on SQLite: read transactions that are open at the same time each hold one.
_SQLITE_READERS = 8
# An arbitrary, fixed key for pg_advisory_xact_lock ("telex" in ASCII).
APPEND_LOCK_KEY = 0x74656C6578


class Conn(Protocol):
    """A connection inside one transaction, as repositories use it."""

    async def execute(self, statement: Executable, parameters: Any = None) -> Result[Any]: ...

    async def exec_driver_sql(self, statement: str, parameters: Any = None) -> Result[Any]: ...


class WriteConn(Conn, Protocol):
    """A connection inside one write unit: also says what to do once the unit is durable."""

    def on_commit(self, callback: Callable[[], None]) -> None: ...


class _UnitConn:
    """``WriteConn``: the writer connection plus the unit's on-commit registration."""

    __slots__ = ("_conn", "on_commit")

    def __init__(self, conn: Conn, on_commit: Callable[[Callable[[], None]], None]) -> None:
        self._conn = conn
        self.on_commit = on_commit

    async def execute(self, statement: Executable, parameters: Any = None) -> Result[Any]:
        return await self._conn.execute(statement, parameters)

    async def exec_driver_sql(self, statement: str, parameters: Any = None) -> Result[Any]:
        return await self._conn.exec_driver_sql(statement, parameters)


def async_url(url: str) -> str:
    """Map a PostgreSQL URL to its asyncio driver, asyncpg (SQLite needs none: see ``sqlite``)."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    raise ValueError(f"unsupported database {backend!r}: use sqlite or postgresql")


class _PostgresWriter:
    """``WriterBackend`` on PostgreSQL: one connection per batch, taken from the pool."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._conn: AsyncConnection | None = None

    @property
    def conn(self) -> AsyncConnection:
        assert self._conn is not None
        return self._conn

    async def begin(self) -> None:
        conn = await self._engine.connect()
        try:
            await conn.begin()
            await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": APPEND_LOCK_KEY})
        except BaseException:
            await conn.close()
            raise
        self._conn = conn

    async def savepoint(self, name: str) -> None:
        await self.conn.exec_driver_sql(f"SAVEPOINT {name}")

    async def rollback_to(self, name: str) -> None:
        await self.conn.exec_driver_sql(f"ROLLBACK TO SAVEPOINT {name}")

    async def rollback(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await conn.rollback()
            finally:
                await conn.close()

    async def commit(self, alone: bool) -> None:
        conn, self._conn = self._conn, None
        assert conn is not None
        try:
            await conn.commit()
        finally:
            await conn.close()


# What a client is told to wait before retrying while the store is unreachable.
RETRY_AFTER_SECONDS = 2.0
# A connection attempt gives up after this long (asyncpg waits 60 s by default): a request
# must fail fast, with 503, when the database host does not answer at all.
_CONNECT_TIMEOUT_SECONDS = 5.0
# /readyz waits this long for the store to answer.
_PING_SECONDS = 2.0


def unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` says the store cannot be reached (as opposed to a bad statement): the
    server is down, restarting, refusing connections, or a connection broke."""
    if isinstance(exc, OperationalError | InterfaceError | OSError | TimeoutError):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    # asyncpg's own connection errors surface unwrapped from connect (for example "the
    # database system is starting up", or a connection the server closed mid-query).
    return _asyncpg_connection_error is not None and isinstance(exc, _asyncpg_connection_error)


def _asyncpg_errors() -> tuple[type[BaseException], ...] | None:
    try:
        from asyncpg import exceptions as pg  # type: ignore[import-untyped]
    except ImportError:  # SQLite only
        return None
    return (pg.PostgresConnectionError, pg.CannotConnectNowError, pg.InterfaceError)


_asyncpg_connection_error = _asyncpg_errors()


class Database:
    def __init__(self, url: str) -> None:
        parsed = make_url(url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        self.url = str(parsed) if self.is_sqlite else async_url(url)
        self._engine: AsyncEngine | None = None
        self._readers: SqliteReaders | None = None
        self._sqlite_writer: SqliteWriter | None = None
        self.outage = Outage("store", log)
        # Told how long each read transaction and write unit took ("read"/"write", seconds):
        # the node's metrics (app.py) set it.
        self.timing: Callable[[str, float], None] | None = None
        if self.is_sqlite:
            self._prepare_sqlite_file()
            engine = create_engine(
                parsed.set(drivername="sqlite+pysqlite"),
                pool_size=_SQLITE_READERS + 1,
                max_overflow=0,
                connect_args={"check_same_thread": False},
            )
            event.listen(engine, "connect", _sqlite_on_connect)
            event.listen(engine, "begin", _sqlite_on_begin)
            self._sync_engine = engine
            self._readers = SqliteReaders(engine, _SQLITE_READERS)
            self._sqlite_writer = SqliteWriter(engine)
            self._group = GroupCommit(self._sqlite_writer)
        else:
            self._engine = create_async_engine(
                self.url,
                pool_size=10,
                max_overflow=10,
                pool_pre_ping=True,
                connect_args={"timeout": _CONNECT_TIMEOUT_SECONDS},
            )
            self._group = GroupCommit(_PostgresWriter(self._engine))

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

    def _unavailable(self, exc: BaseException) -> TelexError:
        """The one translation of "cannot reach the store": 503 for the caller, and one log
        line per outage for the operator (``Outage``), not a traceback per request."""
        reason = f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
        self.outage.failed(reason, "requests get 503 until it is back")
        return TelexError(
            ErrorCode.UNAVAILABLE, "The store is unavailable; retry.", retry_after=RETRY_AFTER_SECONDS
        )

    @asynccontextmanager
    async def read(self) -> AsyncIterator[Conn]:
        """A read transaction (a consistent snapshot)."""
        started = time.perf_counter()
        try:
            if self._readers is not None:
                async with self._readers.read() as conn:
                    yield conn
            else:
                assert self._engine is not None
                async with self._engine.connect() as aconn, aconn.begin():
                    yield aconn
        except TelexError:
            raise
        except Exception as exc:
            if unreachable(exc):
                raise self._unavailable(exc) from exc
            raise
        if self.outage.down_since is not None:
            self.outage.succeeded()
        if self.timing is not None:
            self.timing("read", time.perf_counter() - started)

    @asynccontextmanager
    async def write(self) -> AsyncIterator[WriteConn]:
        """A write unit; it has committed (durably) when the block exits without error."""
        started = time.perf_counter()
        try:
            async with self._group.unit() as (conn, unit):
                yield _UnitConn(conn, unit.on_commit)
        except TelexError:
            raise
        except Exception as exc:
            if unreachable(exc):
                raise self._unavailable(exc) from exc
            raise
        if self.outage.down_since is not None:
            self.outage.succeeded()
        if self.timing is not None:
            self.timing("write", time.perf_counter() - started)

    def pool_in_use(self) -> int | None:
        """PostgreSQL connections checked out of the pool now (None on SQLite)."""
        if self._engine is None:
            return None
        return int(self._engine.pool.checkedout())  # type: ignore[attr-defined]

    async def migrate(self, *, upgrade: bool = True) -> tuple[str | None, str]:
        """Bring the schema to the newest Alembic revision (``upgrade``), or only check that it
        is there: ``SchemaMismatch`` names what to do. Safe from several nodes at once
        (``store/migrate.py``). Returns the revision found and the one now in place."""
        run = functools.partial(migrate_schema, upgrade=upgrade)
        if self._sqlite_writer is not None:
            return await self._sqlite_writer.run_sync(run)
        assert self._engine is not None
        async with self._engine.connect() as aconn:
            revisions = await aconn.run_sync(run)
            await aconn.commit()
        return revisions

    async def ping(self) -> bool:
        """Whether the store answers a trivial query within ``_PING_SECONDS``."""
        try:
            async with asyncio.timeout(_PING_SECONDS):
                async with self.read() as conn:
                    await conn.exec_driver_sql("SELECT 1")
            return True
        except TimeoutError:
            self.outage.failed(f"no answer within {_PING_SECONDS:g} s", "requests get 503 until it is back")
            return False
        except TelexError:
            return False

    async def close(self) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5):
                await self._group.drain()
        if self._readers is not None:
            self._readers.close()
        if self._sqlite_writer is not None:
            self._sqlite_writer.close()
            self._sync_engine.dispose()
        if self._engine is not None:
            await self._engine.dispose()


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
    if conn.get_execution_options().get("telex_write"):
        # The writer opens its transaction itself (BEGIN IMMEDIATE, see sqlite.SqliteWriter.begin),
        # except for migrations, which run before any unit.
        if not conn.connection.dbapi_connection.in_transaction:  # type: ignore[union-attr]
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        return
    conn.exec_driver_sql("BEGIN DEFERRED")
