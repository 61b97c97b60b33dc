"""The store away (PostgreSQL stopped): requests get 503 with Retry-After in the ACS error body,
quickly; /readyz says 503, /healthz 200; one log line per outage, no tracebacks; and all of it
recovers by itself when the store is back."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from telex.app import build_app
from telex.client import RealtimeClient
from telex.core.outage import QuietOutages
from tests.chat.conftest import open_node, users_of
from tests.support.apiversions import async_hooks
from tests.support.metrics import samples, scrape
from tests.support.pg import PostgresCluster, find_pg_bin
from tests.support.serve import running
from tests.support.signing import HmacSigner


@pytest.fixture(scope="module")
def own_pg() -> Iterator[PostgresCluster]:
    """A cluster of this module's own: the tests stop it."""
    if find_pg_bin() is None:
        pytest.skip("PostgreSQL not installed")
    cluster = PostgresCluster()
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


def _unavailable(r: httpx.Response) -> None:
    assert r.status_code == 503, (r.request.url, r.status_code, r.text)
    assert r.json()["error"]["code"] == "ServiceUnavailable"
    assert int(r.headers["retry-after"]) >= 1


async def test_a_stopped_database_means_503_then_recovery(
    own_pg: PostgresCluster, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    node = await open_node(tmp_path, database=own_pg.create_database())
    caplog.handler.addFilter(QuietOutages())  # as `telex serve` installs it
    node.start_background()  # timers, sweeps and the hub run through the outage too
    try:
        owner = await users_of(node)()
        key = node.keyring.state.primary_key
        transport = httpx.ASGITransport(app=build_app(node), raise_app_exceptions=False)
        async with httpx.AsyncClient(
            event_hooks=async_hooks(), transport=transport, base_url="http://t", timeout=10
        ) as api:
            r = await api.post("/chat/threads", json={"topic": "t"}, headers=owner.headers)
            assert r.status_code == 201, r.text
            messages = f"/chat/threads/{r.json()['chatThread']['id']}/messages"
            own_pg.pause()
            caplog.clear()
            with caplog.at_level(logging.INFO):
                started = time.monotonic()
                for _ in range(3):
                    _unavailable(await api.post("/identities", auth=HmacSigner(key)))
                    _unavailable(await api.post(messages, json={"content": "hi"}, headers=owner.headers))
                    _unavailable(await api.get(messages, headers=owner.headers))
                    ready = await api.get("/readyz")
                    assert ready.status_code == 503
                    assert ready.json()["store"] != "ok"
                    assert (await api.get("/healthz")).status_code == 200
                elapsed = time.monotonic() - started
                during = samples(await scrape(node))
            assert elapsed < 10  # no request waited for a timeout
            assert not [r for r in caplog.records if r.exc_info], "tracebacks in the log"
            store_lines = [r for r in caplog.records if r.name.startswith("telex.store")]
            assert len(store_lines) == 1, [r.getMessage() for r in store_lines]
            assert during["telex_store_up"] == 0
            assert during["telex_store_unavailable_total"] >= 9
            assert during["telex_store_outages_total"] == 1
            own_pg.resume()
            caplog.clear()
            with caplog.at_level(logging.INFO):
                r = await api.post(messages, json={"content": "back"}, headers=owner.headers)
                assert r.status_code == 201, r.text
                assert (await api.get("/readyz")).status_code == 200
                after = samples(await scrape(node))
            assert after["telex_store_up"] == 1
            assert after['telex_store_transaction_seconds_count{kind="write"}'] >= 1
            assert after["telex_store_pool_in_use"] >= 0
            back = [r.getMessage() for r in caplog.records if r.name.startswith("telex.store")]
            assert len(back) == 1 and back[0].startswith("store reachable again after"), back
    finally:
        await node.close()


async def test_realtime_clients_ride_out_a_store_outage(own_pg: PostgresCluster, tmp_path: Path) -> None:
    node = await open_node(tmp_path, database=own_pg.create_database(), poll_seconds=0.2)
    try:
        make = users_of(node)
        owner, reader = await make(), await make()
        async with (
            running(node) as url,
            httpx.AsyncClient(event_hooks=async_hooks(), base_url=url, timeout=10) as api,
        ):
            body = {"topic": "t", "participants": [{"communicationIdentifier": {"rawId": reader.id}}]}
            r = await api.post("/chat/threads", json=body, headers=owner.headers)
            messages = f"/chat/threads/{r.json()['chatThread']['id']}/messages"
            async with RealtimeClient(url, reader.token, max_backoff=0.5) as kept:
                async with asyncio.timeout(10):
                    await kept.wait_connected()
                own_pg.pause()
                try:
                    # a client resuming now (its cursor needs the store) is asked to come back
                    # (1013), not told its token is bad
                    resume = RealtimeClient(url, reader.token, cursor=kept.cursor, max_backoff=0.5)
                    async with resume as late:
                        await asyncio.sleep(1.5)
                        assert not late.connected.is_set()
                        own_pg.resume()
                        async with asyncio.timeout(15):
                            await late.wait_connected()
                        r = await api.post(messages, json={"content": "after"}, headers=owner.headers)
                        assert r.status_code == 201, r.text
                        for client in (kept, late):
                            async with asyncio.timeout(10):
                                async for event in client:
                                    if event.type == "chatMessageReceived":
                                        assert event.data["id"] == r.json()["id"]
                                        break
                finally:
                    own_pg.resume_if_stopped()
            assert kept.connects == 1  # the open socket stayed open through the outage
    finally:
        await node.close()
