"""An httpx ``Auth`` that signs requests the way the official SDKs do (acs-wire.md §2.1)."""

from __future__ import annotations

import time
from collections.abc import Callable, Generator

import httpx

from telex.identity.hmac_auth import sign
from tests.support.apiversions import add_api_version

__all__ = ["HmacSigner"]


class HmacSigner(httpx.Auth):
    requires_request_body = True

    def __init__(self, key: bytes, now: Callable[[], float] = time.time, *, add_version: bool = True) -> None:
        self.key = key
        self.now = now
        self.add_version = add_version

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if self.add_version:
            add_api_version(request)  # before signing: the version is part of the signed target
        target = request.url.raw_path.decode("ascii")
        host = request.headers["host"]
        for name, value in sign(request.method, target, host, request.content, self.key, self.now()).items():
            request.headers[name] = value
        yield request
