"""Group commit (store/group.py) against a recording backend: who shares a transaction, what a
failure undoes, when callers are acknowledged, what a cancelled caller leaves behind."""

from __future__ import annotations

import asyncio

import pytest

from telex.store.group import GroupCommit


class Recorder:
    """A ``WriterBackend`` that records what group commit asks of it; commits wait for a gate."""

    def __init__(self) -> None:
        self.log: list[str] = []
        self.conn = self
        self.gate: asyncio.Event | None = None
        self.fail_commit = False
        self.alone: list[bool] = []  # what each commit was told

    async def begin(self) -> None:
        self.log.append("begin")

    async def savepoint(self, name: str) -> None:
        self.log.append(f"savepoint {name}")

    async def rollback_to(self, name: str) -> None:
        self.log.append(f"rollback to {name}")

    async def rollback(self) -> None:
        self.log.append("rollback")

    async def commit(self, alone: bool) -> None:
        self.alone.append(alone)
        if self.gate is not None:
            await self.gate.wait()
        if self.fail_commit:
            self.log.append("commit failed")
            raise OSError("disk full")
        self.log.append("commit")


async def _unit(group: GroupCommit, log: list[str], name: str, fail: bool = False) -> str:
    async with group.unit() as (conn, unit):
        conn.log.append(f"work {name}")
        unit.on_commit(lambda: log.append(f"published {name}"))
        await asyncio.sleep(0)  # units may await inside, others must still wait their turn
        if fail:
            raise ValueError(name)
    log.append(f"acknowledged {name}")
    return name


async def test_a_lone_unit_is_a_plain_transaction() -> None:
    backend = Recorder()
    group = GroupCommit(backend)
    await _unit(group, backend.log, "a")
    await asyncio.sleep(0)
    # Acknowledged first, then published: the reply goes out before the events fan out.
    assert backend.log == ["begin", "work a", "commit", "acknowledged a", "published a"]


async def test_a_writer_is_alone_after_a_streak_of_lone_batches_and_not_once_others_come() -> None:
    """The backend may commit a lone writer's batch inline (SQLite does, on a fast disk): only
    after 16 batches in a row of one unit with no one waiting, and never for a shared batch."""
    backend = Recorder()
    group = GroupCommit(backend)
    for i in range(20):
        await _unit(group, backend.log, f"lone{i}")
    assert backend.alone == [False] * 16 + [True] * 4
    backend.gate = asyncio.Event()
    first = asyncio.create_task(_unit(group, backend.log, "a"))
    await asyncio.sleep(0.01)  # a's commit is in flight (told alone); b and c wait
    rest = [asyncio.create_task(_unit(group, backend.log, n)) for n in "bc"]
    await asyncio.sleep(0.01)
    backend.gate.set()
    await asyncio.gather(first, *rest)
    assert backend.alone[20:] == [True, False]  # b and c shared one batch: the streak starts over
    backend.gate = None
    await _unit(group, backend.log, "after")
    assert backend.alone[-1] is False


async def test_concurrent_units_share_one_commit_and_are_acknowledged_after_it() -> None:
    backend = Recorder()
    backend.gate = asyncio.Event()
    group = GroupCommit(backend)
    first = asyncio.create_task(_unit(group, backend.log, "a"))
    await asyncio.sleep(0.01)  # a is committing (held at the gate); b, c, d arrive meanwhile
    rest = [asyncio.create_task(_unit(group, backend.log, n)) for n in "bcd"]
    await asyncio.sleep(0.01)
    assert "work b" not in backend.log  # nobody runs while a commit is in flight
    backend.gate.set()
    assert await asyncio.gather(first, *rest) == ["a", "b", "c", "d"]
    await asyncio.sleep(0)
    assert backend.log == [
        "begin", "work a", "commit", "acknowledged a", "published a",
        "begin", "work b", "savepoint telex_unit_1", "work c", "savepoint telex_unit_2", "work d",
        "commit", "acknowledged b", "acknowledged c", "acknowledged d",
        "published b", "published c", "published d",
    ]  # fmt: skip


async def test_a_failing_unit_undoes_only_its_own_work() -> None:
    backend = Recorder()
    backend.gate = asyncio.Event()
    group = GroupCommit(backend)
    blocker = asyncio.create_task(_unit(group, backend.log, "x"))
    await asyncio.sleep(0.01)
    tasks = [
        asyncio.create_task(_unit(group, backend.log, "a")),
        asyncio.create_task(_unit(group, backend.log, "b", fail=True)),
        asyncio.create_task(_unit(group, backend.log, "c")),
    ]
    await asyncio.sleep(0.01)
    backend.gate.set()
    await blocker
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert results[0] == "a" and isinstance(results[1], ValueError) and results[2] == "c"
    tail = [line for line in backend.log if not line.endswith(" x")][2:]  # after x's begin, commit
    assert tail[:7] == [
        "begin", "work a", "savepoint telex_unit_1", "work b", "rollback to telex_unit_1",
        "savepoint telex_unit_2", "work c",
    ]  # fmt: skip
    assert "published b" not in backend.log and "published c" in backend.log


async def test_a_failing_first_unit_rolls_back_and_the_next_begins_afresh() -> None:
    backend = Recorder()
    group = GroupCommit(backend)
    with pytest.raises(ValueError, match="a"):
        await _unit(group, backend.log, "a", fail=True)
    await _unit(group, backend.log, "b")
    await asyncio.sleep(0)
    assert backend.log == [
        "begin", "work a", "rollback", "begin", "work b", "commit", "acknowledged b", "published b",
    ]  # fmt: skip


async def test_a_failed_commit_fails_every_unit_of_the_batch_and_publishes_nothing() -> None:
    backend = Recorder()
    backend.gate = asyncio.Event()
    group = GroupCommit(backend)
    blocker = asyncio.create_task(_unit(group, backend.log, "x"))
    await asyncio.sleep(0.01)
    tasks = [asyncio.create_task(_unit(group, backend.log, n)) for n in "ab"]
    await asyncio.sleep(0.01)
    backend.fail_commit = True
    backend.gate.set()
    results = await asyncio.gather(blocker, *tasks, return_exceptions=True)
    assert all(isinstance(r, OSError) for r in results)
    assert not [line for line in backend.log if line.startswith(("published", "acknowledged"))]
    backend.fail_commit = False
    assert await _unit(group, backend.log, "c") == "c"  # the writer recovers


async def test_a_caller_cancelled_after_its_work_still_publishes_what_committed() -> None:
    backend = Recorder()
    backend.gate = asyncio.Event()
    group = GroupCommit(backend)
    task = asyncio.create_task(_unit(group, backend.log, "a"))
    await asyncio.sleep(0.01)  # a's work is done; its commit waits at the gate
    task.cancel()
    await asyncio.sleep(0.01)
    backend.gate.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0.01)
    assert "published a" in backend.log and "acknowledged a" not in backend.log
    await _unit(group, backend.log, "b")  # and the writer is free again


async def test_a_caller_cancelled_while_waiting_its_turn_leaves_no_trace() -> None:
    backend = Recorder()
    backend.gate = asyncio.Event()
    group = GroupCommit(backend)
    first = asyncio.create_task(_unit(group, backend.log, "a"))
    await asyncio.sleep(0.01)
    waiting = asyncio.create_task(_unit(group, backend.log, "b"))
    after = asyncio.create_task(_unit(group, backend.log, "c"))
    await asyncio.sleep(0.01)
    waiting.cancel()
    backend.gate.set()
    assert await first == "a" and await after == "c"
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert "work b" not in backend.log


async def test_batches_are_bounded() -> None:
    backend = Recorder()
    backend.gate = asyncio.Event()
    group = GroupCommit(backend, max_batch=3)
    blocker = asyncio.create_task(_unit(group, backend.log, "x"))
    await asyncio.sleep(0.01)
    tasks = [asyncio.create_task(_unit(group, backend.log, str(i))) for i in range(7)]
    await asyncio.sleep(0.01)
    backend.gate.set()
    await asyncio.gather(blocker, *tasks)
    assert backend.log.count("commit") == 1 + 3  # x, then 3 + 3 + 1
