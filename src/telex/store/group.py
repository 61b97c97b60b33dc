"""Group commit: concurrent write units share one transaction and one durable commit.

    unit A ─► turn ─► BEGIN ─► A's statements ─────────────────────────┐
    unit B ─► (waits for its turn) ─► SAVEPOINT b ─► B's statements ───┤ nobody waiting
    unit C ─► (waits) ─► SAVEPOINT c ─► C's statements ─► raises ─► ROLLBACK TO c
                                                                       └─► COMMIT (one fsync)
                                                                           ─► A and B return
                                                                           ─► on_commit callbacks (A, B)

Theory of operation. Units take turns: one at a time runs its statements on the writer
connection, so a unit sees the effects of every unit before it and no interleaving can occur.
When a unit ends and another is waiting, the waiting one runs inside the same transaction,
behind a savepoint of its own, so its failure undoes only its own work; when a unit ends and
nobody is waiting (or the batch is full), the batch commits once. While that commit is being made
durable, newly arriving units queue up and form the next batch: under load many requests share
one fsync, and with no load a unit costs what a plain transaction costs (the first unit of a
transaction needs no savepoint: if it fails, the whole transaction is rolled back).

A unit is acknowledged (its ``async with`` exits) only after its batch has committed. What must
happen once the work is durable (publishing its events) is registered with ``on_commit`` and run
by the commit itself, in unit order, right after the units' callers have resumed (so they answer
first), even when a unit's own caller has gone away meanwhile (a cancelled request whose work was
committed still publishes).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

__all__ = ["GroupCommit", "WriterBackend"]

log = logging.getLogger(__name__)


# A writer counts as alone after this many batches in a row of one unit with no one waiting:
# under concurrency such batches come singly, between shared ones.
_LONE_STREAK = 16


class WriterBackend(Protocol):
    """The one writer connection's transaction control, as group commit drives it."""

    @property
    def conn(self) -> Any:
        """What units receive (a ``Conn``): valid between ``begin`` and the end of the batch."""

    async def begin(self) -> None: ...

    async def savepoint(self, name: str) -> None: ...

    async def rollback_to(self, name: str) -> None: ...

    async def rollback(self) -> None: ...

    async def commit(self, alone: bool) -> None:
        """Commit durably; raises if the commit failed (the transaction is then gone). ``alone``:
        the batch holds one unit, no other waits, and recent batches were alike, so no other
        write is likely to want the loop while the commit runs."""


class _Batch:
    def __init__(self) -> None:
        self.callbacks: list[Callable[[], None]] = []
        self.waiters: list[asyncio.Future[None]] = []  # one per unit, resolved by the commit
        self.units = 0


class _Unit:
    """What a unit's body may register besides its statements."""

    def __init__(self, batch: _Batch) -> None:
        self._batch = batch
        self._callbacks: list[Callable[[], None]] = []

    def on_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once this unit's work is durable (never if it is rolled back)."""
        self._callbacks.append(callback)


class GroupCommit:
    def __init__(self, backend: WriterBackend, max_batch: int = 64) -> None:
        self._backend = backend
        self._max_batch = max_batch
        self._waiting: deque[asyncio.Future[None]] = deque()
        self._busy = False
        self._batch: _Batch | None = None
        self._in_transaction = False
        self._savepoints = 0
        self._drained: asyncio.Future[None] | None = None  # drain() waits on it
        self._lone_batches = 0  # batches in a row that had one unit and no one waiting

    async def _take_turn(self) -> None:
        if not self._busy:
            self._busy = True
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append(turn)
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self._pass_turn()  # granted just as we were cancelled: hand it on
            raise

    async def drain(self) -> None:
        """Wait until no unit holds the connection and no commit is in flight: a unit whose
        caller was cancelled still commits in its own task, and closing the store under it would
        cut that commit off."""
        while self._busy:
            if self._drained is None:
                self._drained = asyncio.get_running_loop().create_future()
            await asyncio.shield(self._drained)

    def _next_waiter(self) -> asyncio.Future[None] | None:
        while self._waiting:
            turn = self._waiting.popleft()
            if not turn.done():
                return turn
        return None

    def _pass_turn(self) -> None:
        """The unit holding the turn is done with the connection: the next one goes on in this
        batch, or the batch commits."""
        batch = self._batch
        if batch is not None and batch.units < self._max_batch and (nxt := self._next_waiter()):
            nxt.set_result(None)
            return
        if batch is None or not self._in_transaction:
            # Nothing to commit (every unit so far failed): the next waiter starts afresh.
            self._batch = None
            self._grant_or_idle()
            return
        self._batch = None
        # The commit runs in a task of its own so that no caller's cancellation can interrupt it.
        asyncio.get_running_loop().create_task(self._commit(batch))

    def _grant_or_idle(self) -> None:
        nxt = self._next_waiter()
        if nxt is not None:
            nxt.set_result(None)
        else:
            self._busy = False
            drained, self._drained = self._drained, None
            if drained is not None and not drained.done():
                drained.set_result(None)

    def _alone(self, batch: _Batch) -> bool:
        """Whether this batch's writer is the only one: one unit, no other waiting, and no
        batch of the last ``_LONE_STREAK`` was shared or had others waiting either."""
        if batch.units == 1 and not self._waiting:
            self._lone_batches += 1
        else:
            self._lone_batches = 0
        return self._lone_batches > _LONE_STREAK

    async def _commit(self, batch: _Batch) -> None:
        self._in_transaction = False
        self._savepoints = 0
        try:
            await self._backend.commit(self._alone(batch))
        except BaseException as exc:
            with contextlib.suppress(Exception):
                await self._backend.rollback()
            error = exc if isinstance(exc, Exception) else RuntimeError(str(exc))
            for waiter in batch.waiters:
                if not waiter.done():  # a unit whose caller went away has none to tell
                    waiter.set_exception(error)
            self._grant_or_idle()
            if not isinstance(exc, Exception):
                raise
            return
        for waiter in batch.waiters:
            if not waiter.done():
                waiter.set_result(None)
        # The units' callers resume first (set_result queued their wake-ups), then the callbacks
        # run: a request is answered before its events fan out to sockets, and that work overlaps
        # the client's next request instead of delaying every reply. They still run before any
        # later batch's, whose commit completes in a later turn of the loop.
        asyncio.get_running_loop().call_soon(_run_callbacks, batch.callbacks)
        self._grant_or_idle()

    @contextlib.asynccontextmanager
    async def unit(self) -> AsyncIterator[tuple[Any, _Unit]]:
        """One write unit: ``(conn, unit)``. Exits once the unit's batch has committed; raises the
        body's exception (after undoing only this unit's work) or the commit's."""
        await self._take_turn()
        try:
            if self._batch is None:
                self._batch = _Batch()
            batch = self._batch
            savepoint = None
            if not self._in_transaction:
                await self._backend.begin()
                self._in_transaction = True
            else:
                self._savepoints += 1
                savepoint = f"telex_unit_{self._savepoints}"
                await self._backend.savepoint(savepoint)
            handle = _Unit(batch)
        except BaseException:
            self._pass_turn()
            raise
        try:
            yield self._backend.conn, handle
        except BaseException:
            await asyncio.shield(self._undo(savepoint))
            raise
        batch.units += 1
        batch.callbacks.extend(handle._callbacks)
        committed = asyncio.get_running_loop().create_future()
        batch.waiters.append(committed)
        self._pass_turn()
        await committed  # a cancelled caller cancels only this: the batch commits in its own task

    async def _undo(self, savepoint: str | None) -> None:
        try:
            if savepoint is not None:
                await self._backend.rollback_to(savepoint)
            else:
                await self._backend.rollback()
                self._in_transaction = False
                self._savepoints = 0
                if self._batch is not None and self._batch.units:
                    # Cannot happen: the first unit of a transaction has no predecessors in it.
                    raise RuntimeError("group commit: rolled back a transaction holding other units")
        finally:
            self._pass_turn()


def _run_callbacks(callbacks: list[Callable[[], None]]) -> None:
    for callback in callbacks:
        try:
            callback()
        except Exception:  # one bad callback must not keep the others' events unpublished
            log.exception("on-commit callback failed")
