#!/usr/bin/env python3
"""Store benchmark: CPU per transaction through ``telex.store.Database`` on SQLite, against the
same statements on a bare ``sqlite3`` connection in the same process (the floor).

    python bench/store.py [--n 3000]

Each transaction is what a request typically does: a read of one row by primary key, or a
write inserting one row and committing durably (WAL, ``synchronous=FULL``, as Telex runs).
CPU is process time, so the worker threads' share counts too. One asyncio task at a time: this
is the per-transaction cost, not throughput under concurrency.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import insert, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from telex.store.database import Database
from telex.store.schema import users


async def telex(path: Path, n: int) -> tuple[float, float]:
    db = Database(f"sqlite:///{path}")
    await db.migrate()
    try:
        async with db.write() as conn:
            await conn.execute(
                insert(users).values(id="u0", created_at=0.0, token_generation=0, deleted=False)
            )
        t0 = time.process_time()
        for _ in range(n):
            async with db.read() as conn:
                (await conn.execute(select(users).where(users.c.id == "u0"))).first()
        read = (time.process_time() - t0) / n
        t0 = time.process_time()
        for _ in range(n // 4):
            async with db.write() as conn:
                row = {"id": str(uuid.uuid4()), "created_at": 0.0, "token_generation": 0, "deleted": False}
                await conn.execute(insert(users).values(**row))
        write = (time.process_time() - t0) / (n // 4)
        return read, write
    finally:
        await db.close()


def bare(path: Path, n: int) -> tuple[float, float]:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    t0 = time.process_time()
    for _ in range(n):
        conn.execute("BEGIN")
        conn.execute("SELECT * FROM users WHERE id = ?", ("u0",)).fetchone()
        conn.execute("COMMIT")
    read = (time.process_time() - t0) / n
    t0 = time.process_time()
    for _ in range(n // 4):
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(
            "INSERT INTO users (id, created_at, token_generation, deleted) VALUES (?, 0, 0, 0)",
            (str(uuid.uuid4()),),
        )
        conn.execute("COMMIT")
    write = (time.process_time() - t0) / (n // 4)
    conn.close()
    return read, write


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=3000)
    n = parser.parse_args().n
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        t_read, t_write = asyncio.run(telex(path, n))
        b_read, b_write = bare(path, n)
    print(f"SQLite, CPU per transaction, n={n} reads and {n // 4} durable writes")
    print(f"{'':32}{'read µs':>10}{'write µs':>10}")
    print(f"{'telex Database (asyncio)':32}{t_read * 1e6:>10.0f}{t_write * 1e6:>10.0f}")
    print(f"{'bare sqlite3 (same process)':32}{b_read * 1e6:>10.0f}{b_write * 1e6:>10.0f}")
    print(f"{'ratio':32}{t_read / b_read:>9.1f}x{t_write / b_write:>9.1f}x")


if __name__ == "__main__":
    main()
