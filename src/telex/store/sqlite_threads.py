"""SQLite from asyncio: synchronous SQLAlchemy connections, each owned by one worker thread.

Why not aiosqlite under SQLAlchemy's asyncio layer: every statement then crosses a greenlet
switch, aiosqlite's request queue and a future back to the loop, and begin, commit and the pool
add hops of their own. Here a statement is one hop to the connection's thread
(``run_in_executor``) and ``BEGIN`` rides along with the first statement, so a one-statement
transaction is two hops: ``bench/store.py`` measured it at 0.64–0.70 ms of CPU against
1.4–1.85 ms through aiosqlite, and durable writes at 0.7–0.9 ms against 1.3–1.6 ms.

    Database.read()  ─► an idle reader worker (a few, so reads go on while a write fsyncs)
    Database.write() ─► the one writer worker, under the writer lock (WAL allows one writer)
    conn.execute(stmt) ─► worker thread: BEGIN (first time), execute, buffer every row ─► Result

Rows are buffered in the worker thread, so a result is plain memory by the time the loop sees
it; the connection itself never leaves its thread (sqlite3 objects are not shared between them).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy import CursorResult, Engine, Result
from sqlalchemy.engine import Connection
from sqlalchemy.engine.result import SimpleResultMetaData
from sqlalchemy.sql.base import Executable

__all__ = ["SqliteWorkers", "ThreadConnection"]

T = TypeVar("T")


class _EmptyResult(Result[Any]):
    """The result of a statement that returns no rows (an INSERT without RETURNING)."""

    def __init__(self) -> None:
        super().__init__(SimpleResultMetaData([]))

    def _fetchiter_impl(self) -> Any:
        return iter(())

    def _fetchone_impl(self, hard_close: bool = False) -> Any:
        return None

    def _fetchall_impl(self) -> list[Any]:
        return []

    def _fetchmany_impl(self, size: int | None = None) -> list[Any]:
        return []


def _buffered(result: CursorResult[Any]) -> Result[Any]:
    if not result.returns_rows:
        return _EmptyResult()
    return result.freeze()()


class _Worker:
    """One connection and the single thread that opens, uses and closes it."""

    def __init__(self, engine: Engine, name: str, *, write: bool) -> None:
        self._engine = engine
        self._write = write
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=name)
        self._conn: Connection | None = None

    async def run(self, fn: Callable[[Connection], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._call, fn)

    def _call(self, fn: Callable[[Connection], T]) -> T:
        if self._conn is None:
            conn = self._engine.connect()
            # telex_write makes the "begin" listener issue BEGIN IMMEDIATE (database.py).
            self._conn = conn.execution_options(telex_write=True) if self._write else conn
        return fn(self._conn)

    async def close(self) -> None:
        def close(conn: Connection) -> None:
            conn.close()

        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self.run(close)
        self._executor.shutdown(wait=True)


def _finish(commit: bool) -> Callable[[Connection], None]:
    def finish(conn: Connection) -> None:
        if conn.in_transaction():
            if commit:
                conn.commit()
            else:
                conn.rollback()

    return finish


class ThreadConnection:
    """The asyncio face of one worker's connection inside one transaction (what repositories
    get from ``Database.read()``/``write()`` on SQLite): the calls they make of an
    ``AsyncConnection``, with the same results."""

    def __init__(self, worker: _Worker) -> None:
        self._worker = worker

    async def execute(self, statement: Executable, parameters: Any = None) -> Result[Any]:
        return await self._statement(lambda conn: conn.execute(statement, parameters))

    async def exec_driver_sql(self, statement: str, parameters: Any = None) -> Result[Any]:
        return await self._statement(lambda conn: conn.exec_driver_sql(statement, parameters))

    async def _statement(self, run: Callable[[Connection], CursorResult[Any]]) -> Result[Any]:
        """One hop: BEGIN if this is the transaction's first statement, run, buffer the rows."""

        def in_transaction(conn: Connection) -> Result[Any]:
            if not conn.in_transaction():
                conn.begin()
            return _buffered(run(conn))

        return await self._worker.run(in_transaction)

    async def run_sync(self, fn: Callable[[Connection], T]) -> T:
        """Run ``fn`` with the synchronous connection, in its thread (migrations)."""
        return await self._worker.run(fn)


class SqliteWorkers:
    """The reader workers and the writer worker of one SQLite database."""

    def __init__(self, engine: Engine, readers: int) -> None:
        self._engine = engine
        self._writer = _Worker(engine, "telex-sqlite-w", write=True)
        self._readers = [_Worker(engine, f"telex-sqlite-r{i}", write=False) for i in range(readers)]
        self._idle: asyncio.Queue[_Worker] | None = None
        self._write_lock = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[ThreadConnection]:
        if self._idle is None:  # created on first use: it belongs to the running loop
            self._idle = asyncio.Queue()
            for worker in self._readers:
                self._idle.put_nowait(worker)
        worker = await self._idle.get()
        try:
            async with self._transaction(worker) as conn:
                yield conn
        finally:
            self._idle.put_nowait(worker)

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[ThreadConnection]:
        async with self._write_lock, self._transaction(self._writer) as conn:
            yield conn

    @contextlib.asynccontextmanager
    async def _transaction(self, worker: _Worker) -> AsyncIterator[ThreadConnection]:
        try:
            yield ThreadConnection(worker)
        except BaseException:
            # Also on cancellation: the worker runs this after whatever statement it is on, so
            # the connection goes back to the pool with no transaction open.
            await asyncio.shield(worker.run(_finish(commit=False)))
            raise
        try:
            await worker.run(_finish(commit=True))
        except BaseException:
            await asyncio.shield(worker.run(_finish(commit=False)))
            raise

    async def close(self) -> None:
        for worker in [self._writer, *self._readers]:
            await worker.close()
        self._engine.dispose()
