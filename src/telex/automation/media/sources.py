"""Play sources: fetched under the outbound policy, decoded in worker threads, cached.

    load(url, cache_id) ─► cache hit? ─► Clip
                        ─► in flight already? ─► wait for it (one fetch per source at a time)
                        ─► OutboundSender GET (SSRF rules of webhooks: every resolved address
                           checked, pinned at connect, no redirects, body bounded)
                        ─► decode_clip in the worker pool (bounded: MP3 decoding is CPU work)
                        ─► cache (LRU, by playSourceCacheId when given, else by URL)

Failures carry the ACS sub-code of the ``PlayFailed`` they end in: 8536 when the file could not
be downloaded (refused address, network, HTTP status, too large), 8535 when it is not WAV or
MP3 audio.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Executor

from telex.automation.media.audio import Clip, ClipError, decode_clip
from telex.automation.media.core import DOWNLOAD_FAILED, INVALID_FORMAT, Result
from telex.webhooks.outbound import DeliveryFailed, DestinationRefused, OutboundSender

__all__ = ["SourceError", "SourceLoader"]

log = logging.getLogger(__name__)


class SourceError(Exception):
    def __init__(self, result: Result, detail: str) -> None:
        super().__init__(detail)
        self.result = result


class SourceLoader:
    def __init__(
        self,
        sender: OutboundSender,
        executor: Executor,
        *,
        max_seconds: float,
        cache_entries: int,
        decode: Callable[..., Clip] = decode_clip,
    ) -> None:
        self._sender = sender
        self._executor = executor
        self._max_seconds = max_seconds
        self._capacity = cache_entries
        self._decode = decode
        self._cache: OrderedDict[str, Clip] = OrderedDict()
        self._inflight: dict[str, asyncio.Future[Clip]] = {}
        self.fetches = 0  # downloads made (tests check the cache with it)

    async def load(self, url: str, cache_id: str | None = None) -> Clip:
        key = f"id:{cache_id}" if cache_id else f"url:{url}"
        clip = self._cache.get(key)
        if clip is not None:
            self._cache.move_to_end(key)
            return clip
        pending = self._inflight.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Clip] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            clip = await self._fetch(url)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: a failure nobody else awaited is not logged as lost
            raise
        finally:
            del self._inflight[key]
        future.set_result(clip)
        if self._capacity:
            self._cache[key] = clip
            while len(self._cache) > self._capacity:
                self._cache.popitem(last=False)
        return clip

    async def _fetch(self, url: str) -> Clip:
        self.fetches += 1
        try:
            response = await self._sender.send("GET", url)
        except (DestinationRefused, DeliveryFailed) as exc:
            log.info("play source %s not fetched: %s", url[:200], getattr(exc, "detail", exc))
            raise SourceError(DOWNLOAD_FAILED, str(exc)) from exc
        if response.status != 200 or response.truncated:
            raise SourceError(DOWNLOAD_FAILED, f"HTTP {response.status}{' (too large)' * response.truncated}")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(
                self._executor, lambda: self._decode(response.body, max_seconds=self._max_seconds)
            )
        except ClipError as exc:
            raise SourceError(INVALID_FORMAT, str(exc)) from exc
