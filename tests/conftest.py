"""Shared fixtures: settings in a temp dir, an in-process node and app, PostgreSQL, signing."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from telex.app import Node, build_app
from telex.config import Settings, load_settings
from telex.core.clock import SystemClock
from tests.support.apiversions import async_hooks
from tests.support.pg import PostgresCluster, find_pg_bin
from tests.support.redis import find_redis, redis_server
from tests.support.signing import HmacSigner

IN_CI = bool(os.environ.get("CI"))


def make_settings(tmp_path: Path, database: str = "", **overrides: object) -> Settings:
    cli: dict[str, object] = {"data_dir": tmp_path / "data", "database": database, **overrides}
    return load_settings(environ={}, cli=cli)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PostgresCluster]:
    if find_pg_bin() is None:
        if IN_CI:
            pytest.fail("PostgreSQL is required in CI (scripts/test installs it)")
        pytest.skip("PostgreSQL not installed")
    cluster = PostgresCluster()
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if find_redis() is None:
        if IN_CI:
            pytest.fail("redis-server is required in CI (scripts/apt-packages.txt)")
        pytest.skip("redis-server not installed")
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Run the test once on each backend."""
    if request.param == "sqlite":
        return ""
    cluster: PostgresCluster = request.getfixturevalue("pg_cluster")
    return cluster.create_database()


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Node]:
    n = await Node.open(make_settings(tmp_path), SystemClock())
    try:
        yield n
    finally:
        await n.close()


@pytest.fixture
async def client(node: Node) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the in-process app, signing with the primary key."""
    transport = httpx.ASGITransport(app=build_app(node))
    async with httpx.AsyncClient(
        event_hooks=async_hooks(),
        transport=transport,
        base_url="http://testserver",
        auth=HmacSigner(node.keyring.state.primary_key),
    ) as c:
        yield c
