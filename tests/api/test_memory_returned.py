"""Item 13 of the hardening report: after a burst the server "gave nothing back". Large request
bodies (and frames, query results) are malloc'd by CPython, and glibc keeps the pages a burst
grew the heap by; ``telex serve`` trims them every ``memory_trim_seconds`` (1 s here)."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import httpx

from tests.api.test_http_limits import rss_mib
from tests.support.live import LiveServer


async def test_memory_goes_back_after_a_burst_of_large_bodies(tmp_path: Path) -> None:
    env = {"TELEX_MEMORY_TRIM_SECONDS": "1"}
    with LiveServer(tmp_path / "data", env=env, extra_args=["--demo"]) as live:
        assert live.proc is not None
        pid = live.proc.pid
        async with httpx.AsyncClient(base_url=live.http_url, timeout=30) as http:
            for _ in range(20):
                await http.get("/healthz")
        await asyncio.sleep(1.5)
        base = rss_mib(pid)
        # 400 bodies of 1 MB from 100 connections at a time: each is read, parsed and refused.
        body = json.dumps({"displayName": "z" * 1_000_000}).encode()
        headers = {"content-type": "application/json"}
        for _ in range(4):
            limits = httpx.Limits(max_connections=100, max_keepalive_connections=0)
            async with httpx.AsyncClient(base_url=live.http_url, timeout=30, limits=limits) as http:
                answers = await asyncio.gather(
                    *(http.post("/demo/api/session", content=body, headers=headers) for _ in range(100))
                )
            assert {r.status_code for r in answers} == {400}
        peak = rss_mib(pid)
        deadline = time.monotonic() + 10
        while (now := rss_mib(pid)) > base + 16 and time.monotonic() < deadline:
            await asyncio.sleep(0.25)
        print(f"\nRSS {base:.0f} -> peak {peak:.0f} -> {now:.0f} MiB")
        assert now <= base + 16, f"RSS {base:.0f} -> {peak:.0f} -> {now:.0f} MiB"
