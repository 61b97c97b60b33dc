"""SQLite from asyncio: statements run inline on the event loop, lock waits and fsyncs in a thread.

    Database.read()  ─► an idle reader connection ─► BEGIN (deferred) ─► statements inline ─► COMMIT
    Database.write() ─► group commit (store/group.py) over the one writer connection:
                          BEGIN IMMEDIATE  (inline; in the thread only if another process holds
                                            the write lock, e.g. ``telex keys rotate``)
                          statements        (inline: microseconds against the page cache)
                          COMMIT            (the fsync, shared by the whole batch: inline for
                                            a lone writer on a quick disk, else in the thread)

Why inline: a statement against SQLite's page cache costs 2–20 µs, while a hand-off to a worker
thread and back costs far more (futures, wake-ups, GIL hand-over; bench/store.py measures both).
What can block for long happens in the writer's thread instead: waiting for another process's
write lock, and the durable commit (``synchronous=FULL``: an fsync, which on a slow disk takes
milliseconds) unless the writer is alone and recent commits were quick (``SqliteWriter.commit``).
The writer connection has no busy timeout of its own, so an inline BEGIN never waits: if the
lock is taken it fails at once and the thread waits for it instead. Readers never block in WAL
mode, so their whole transaction runs inline. Each connection is used by one task at a time:
readers are pooled, the writer is owned by group commit; ``check_same_thread`` is off because
commits may run in the writer's thread while the loop waits for them.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import queue
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

from sqlalchemy import Engine, Result
from sqlalchemy.engine import Connection
from sqlalchemy.sql.base import Executable

__all__ = ["FAST", "InlineConnection", "SqliteReaders", "SqliteWriter"]

T = TypeVar("T")

# The execution option that marks a hot statement (a chat send's, a token check's) to be run on
# the raw sqlite3 connection: SQLAlchemy's per-execution work (execution context, result
# machinery) costs several times what SQLite itself takes for a keyed read or a one-row insert.
# Only for statements whose values need no type conversion either way (strings, numbers,
# NULLs): tests/contract/test_fast_statements.py holds each one to SQLAlchemy's own results.
# Other backends ignore the option.
FAST = {"telex_fast": True}


class _FastResult:
    """The part of SQLAlchemy's ``Result`` the hot statements' callers use."""

    __slots__ = ("_rows",)

    def __init__(self, rows: list[Any]) -> None:
        self._rows = rows

    def first(self) -> Any:
        return self._rows[0] if self._rows else None

    def scalar(self) -> Any:
        return self._rows[0][0] if self._rows else None

    def scalar_one(self) -> Any:
        if len(self._rows) != 1:
            raise ValueError(f"expected one row, got {len(self._rows)}")
        return self._rows[0][0]

    def scalars(self) -> list[Any]:
        return [row[0] for row in self._rows]

    def __iter__(self) -> Any:
        return iter(self._rows)


class _Compiled:
    __slots__ = ("order", "row", "sql")

    def __init__(self, sql: str, order: tuple[str, ...]) -> None:
        self.sql = sql
        self.order = order
        self.row: Any = None  # the named-tuple type of its rows, once seen


# By statement and parameter names (an INSERT's columns are the ones given). Marked statements
# are module-level constants, built once: the cache holds them, and never grows past them.
_compiled: dict[tuple[Executable, tuple[str, ...]], _Compiled] = {}


class InlineConnection:
    """The ``Conn`` repositories use, over one synchronous SQLAlchemy connection on the loop."""

    __slots__ = ("_conn",)

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def execute(self, statement: Executable, parameters: Any = None) -> Result[Any]:
        if isinstance(parameters, dict) and statement.get_execution_options().get("telex_fast"):
            return self._fast(statement, parameters)  # type: ignore[return-value]
        return self._conn.execute(statement, parameters)

    def _fast(self, statement: Executable, parameters: dict[str, Any]) -> _FastResult:
        names = tuple(sorted(parameters))
        key = (statement, names)
        compiled = _compiled.get(key)
        if compiled is None:
            done = statement.compile(dialect=self._conn.dialect, column_keys=list(names))  # type: ignore[attr-defined]
            compiled = _compiled[key] = _Compiled(str(done), tuple(done.positiontup or ()))
        raw = self._conn.connection.dbapi_connection
        assert raw is not None
        cursor = raw.execute(compiled.sql, tuple(parameters[name] for name in compiled.order))
        if cursor.description is None:
            return _FastResult([])
        if compiled.row is None:
            compiled.row = collections.namedtuple("Row", [d[0] for d in cursor.description])  # type: ignore[misc]
        make = compiled.row._make
        return _FastResult([make(r) for r in cursor.fetchall()])

    async def exec_driver_sql(self, statement: str, parameters: Any = None) -> Result[Any]:
        return self._conn.exec_driver_sql(statement, parameters)

    async def run_sync(self, fn: Callable[[Connection], T]) -> T:
        """Run ``fn`` with the synchronous connection (migrations)."""
        return fn(self._conn)


def _connect(engine: Engine, *, write: bool) -> Connection:
    conn = engine.connect()
    # telex_write makes the "begin" listener issue BEGIN IMMEDIATE (database.py).
    return conn.execution_options(telex_write=True) if write else conn


class SqliteReaders:
    """A few reader connections; a read transaction holds one for its duration."""

    def __init__(self, engine: Engine, count: int) -> None:
        self._engine = engine
        self._count = count
        self._idle: asyncio.Queue[Connection] | None = None
        self._all: list[Connection] = []

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[InlineConnection]:
        if self._idle is None:  # created on first use: it belongs to the running loop
            self._idle = asyncio.Queue()
            for _ in range(self._count):
                conn = _connect(self._engine, write=False)
                self._all.append(conn)
                self._idle.put_nowait(conn)
        conn = await self._idle.get()
        try:
            conn.begin()
            try:
                yield InlineConnection(conn)
            finally:
                # A read transaction changes nothing; ending it releases the WAL snapshot.
                conn.rollback()
        finally:
            self._idle.put_nowait(conn)

    def close(self) -> None:
        for conn in self._all:
            conn.close()
        self._all.clear()


_BUSY_WAIT_MS = 10_000
# A commit runs inline while the smoothed time of recent commits stays under this (seconds).
_INLINE_COMMIT_BELOW = 0.0005


class _WriterThread:
    """One thread for the writer's blocking calls, with a lighter hand-off than an executor: a
    queue in, ``call_soon_threadsafe`` back (commits are on every write's path)."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[tuple[Callable[[], Any], asyncio.Future[Any]] | None] = (
            queue.SimpleQueue()
        )
        self._thread = threading.Thread(target=self._run, name="telex-sqlite-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            fn, future = job
            loop = future.get_loop()
            try:
                result = fn()
            except BaseException as exc:
                loop.call_soon_threadsafe(_settle, future, None, exc)
            else:
                loop.call_soon_threadsafe(_settle, future, result, None)

    async def run(self, fn: Callable[[], T]) -> T:
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._jobs.put((fn, future))
        return await future

    def close(self) -> None:
        self._jobs.put(None)
        self._thread.join()


def _settle(future: asyncio.Future[Any], result: Any, exc: BaseException | None) -> None:
    if future.cancelled():
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)


class SqliteWriter:
    """The writer connection, driven by ``GroupCommit`` (the ``WriterBackend`` protocol)."""

    def __init__(self, engine: Engine) -> None:
        self._sync = _connect(engine, write=True)
        self._raw: sqlite3.Connection = self._sync.connection.dbapi_connection  # type: ignore[assignment]
        self._raw.execute("PRAGMA busy_timeout=0")
        self.conn = InlineConnection(self._sync)
        self._thread = _WriterThread()
        self._commit_seconds = _INLINE_COMMIT_BELOW  # smoothed; the first commit goes to the thread

    async def begin(self) -> None:
        try:
            self._raw.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            await self._thread.run(self._begin_waiting)
        # SQLAlchemy's view of it (its "begin" listener sees the transaction already open).
        self._sync.begin()

    def _begin_waiting(self) -> None:
        self._raw.execute(f"PRAGMA busy_timeout={_BUSY_WAIT_MS}")
        try:
            self._raw.execute("BEGIN IMMEDIATE")
        finally:
            self._raw.execute("PRAGMA busy_timeout=0")

    async def savepoint(self, name: str) -> None:
        self._sync.exec_driver_sql(f"SAVEPOINT {name}")

    async def rollback_to(self, name: str) -> None:
        self._sync.exec_driver_sql(f"ROLLBACK TO SAVEPOINT {name}")

    async def rollback(self) -> None:
        if self._sync.in_transaction():
            self._sync.rollback()
        elif self._raw.in_transaction:
            self._raw.rollback()

    async def commit(self, alone: bool) -> None:
        # On a fast disk a commit's fsync takes ~0.15-0.25 ms, and the hand-off to the writer
        # thread and back costs ~0.1 ms more (two cross-thread wake-ups): a lone writer's whole
        # round trip is ~0.9 ms. So a lone unit's commit runs on the loop while recent commits
        # were quick. Under concurrency (several units, or others waiting) the thread lets the
        # loop run the next batch's statements during the fsync; on a slow or busy disk,
        # blocking the loop would stall every socket of the node. Durability is the same call.
        if alone and self._commit_seconds < _INLINE_COMMIT_BELOW:
            self._timed_commit()
        else:
            await self._thread.run(self._timed_commit)

    def _timed_commit(self) -> None:
        # time.perf_counter, not the node's Clock: this measures the disk, it decides no outcome.
        started = time.perf_counter()
        try:
            self._sync.commit()
        finally:
            took = time.perf_counter() - started
            self._commit_seconds += (took - self._commit_seconds) / 4

    async def run_sync(self, fn: Callable[[Connection], T]) -> T:
        """Run ``fn`` on the writer connection and commit what it did (migrations)."""

        def run() -> T:
            self._raw.execute(f"PRAGMA busy_timeout={_BUSY_WAIT_MS}")  # another node may be migrating
            try:
                result = fn(self._sync)
            except BaseException:
                if self._sync.in_transaction():
                    self._sync.rollback()
                raise
            finally:
                self._raw.execute("PRAGMA busy_timeout=0")
            if self._sync.in_transaction():
                self._sync.commit()
            return result

        return await self._thread.run(run)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._sync.close()
        self._thread.close()
