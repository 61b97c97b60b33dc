"""Migrations as an operator meets them: `telex migrate`, nodes started together on an empty
database, and a schema that is behind or ahead of the code."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from telex.app import Node
from telex.store.database import Database
from telex.store.migrate import SchemaMismatch
from tests.conftest import make_settings
from tests.support.pg import PostgresCluster


def _telex(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TELEX_")}
    return subprocess.run(
        [sys.executable, "-m", "telex", *args], capture_output=True, text=True, timeout=120, env=env
    )


def test_three_migrations_at_once_on_an_empty_database_all_succeed(pg_cluster: PostgresCluster) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TELEX_")}
    for _ in range(4):
        url = pg_cluster.create_database()
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "telex", "migrate", "--database", url],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
            )
            for _ in range(3)
        ]
        results = [(p.wait(120), *p.communicate()) for p in procs]
        assert [r[0] for r in results] == [0, 0, 0], results
        assert sum(r[1].startswith("migrated") for r in results) == 1, results


async def test_nodes_started_together_on_an_empty_database_all_start(
    pg_cluster: PostgresCluster, tmp_path: Path
) -> None:
    for round_ in range(2):
        url = pg_cluster.create_database()
        settings = [make_settings(tmp_path / f"r{round_}n{i}", url) for i in range(3)]
        nodes = await asyncio.gather(*(Node.open(s) for s in settings), return_exceptions=True)
        try:
            failed = [n for n in nodes if isinstance(n, BaseException)]
            assert not failed, failed
            resources = {n.keyring.state.resource_id for n in nodes if isinstance(n, Node)}
            assert len(resources) == 1  # one keyring, made by whichever node came first
        finally:
            for n in nodes:
                if isinstance(n, Node):
                    await n.close()


async def _stamp(url: str, revision: str) -> None:
    db = Database(url)
    try:
        async with db.write() as conn:
            await conn.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision})
    finally:
        await db.close()


async def test_a_schema_ahead_of_the_code_is_refused_in_one_line(database_url: str, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, database_url)
    await (await Node.open(settings)).close()
    await _stamp(settings.database_url, "0099_from_the_future")
    with pytest.raises(SchemaMismatch, match="0099_from_the_future, newer than this Telex knows"):
        await Node.open(settings)


async def test_no_migrate_refuses_a_schema_behind_and_serves_one_current(
    database_url: str, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, database_url, migrate=False)
    with pytest.raises(SchemaMismatch, match="run `telex migrate`"):
        await Node.open(settings)
    db = Database(settings.database_url)
    try:
        found, now = await db.migrate()
        assert found is None
        assert await db.migrate(upgrade=False) == (now, now)
    finally:
        await db.close()
    await (await Node.open(settings)).close()


def test_migrate_command_and_serve_no_migrate(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    refused = _telex("serve", "--data-dir", data, "--no-migrate", "--port", "0", "--tls-port", "0")
    assert refused.returncode == 1
    assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    assert "this Telex needs" in refused.stderr and "telex migrate" in refused.stderr
    first = _telex("migrate", "--data-dir", data)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("migrated the schema from revision none")
    again = _telex("migrate", "--data-dir", data)
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("the schema is current")
