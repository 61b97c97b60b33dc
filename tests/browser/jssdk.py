"""The official ACS JavaScript SDKs in Chromium: a page whose script is ``tests/js/page/app.js``
bundled by esbuild from the packages pinned in ``tests/js/package-lock.json`` (``npm ci`` in
``./scripts/test``), unmodified.

The page lives on the Telex server's own HTTPS origin (see ``open_page``), so the SDK's calls are
same-origin and need no CORS; the browser context ignores certificate errors instead of trusting
the local CA (the SDK sends its bearer token over HTTPS only).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import Browser, Page

from tests.browser.conftest import Console
from tests.support.apiversions import versioned
from tests.support.live import LiveServer
from tests.support.signing import HmacSigner

__all__ = ["JS_DIR", "bundle", "missing", "open_page", "user"]

JS_DIR = Path(__file__).resolve().parents[1] / "js"


def missing() -> str | None:
    if shutil.which("node") is None:
        return "node"
    if not (JS_DIR / "node_modules" / "@azure" / "communication-chat").is_dir():
        return f"the SDKs (npm ci --prefix {JS_DIR})"
    return None


def bundle(out: Path) -> Path:
    """Bundle the page's script with esbuild (the browser build of each SDK); returns the file."""
    target = out / "app.js"
    script = (
        "require('esbuild').build({entryPoints: ['page/app.js'], bundle: true, platform: 'browser',"
        f" format: 'iife', outfile: {json.dumps(str(target))}, logLevel: 'error'}})"
        ".catch(() => process.exit(1))"
    )
    subprocess.run(["node", "-e", script], cwd=JS_DIR, check=True, timeout=120, env={**os.environ})
    return target


def user(server: LiveServer, scopes: tuple[str, ...] = ("chat",)) -> tuple[str, str]:
    """A new user and its token, from the identity API."""
    signer = HmacSigner(base64.b64decode(server.access_key))
    r = httpx.post(
        versioned(f"{server.http_url}/identities"), json={"createTokenWithScopes": list(scopes)}, auth=signer
    )
    r.raise_for_status()
    return r.json()["identity"]["id"], r.json()["accessToken"]["token"]


async def open_page(browser: Browser, server: LiveServer, script: Path, console: Console, name: str) -> Page:
    """A page on the server's HTTPS origin that has loaded the bundled SDKs (``window.telex``).

    The page is a document the server really sent (``/healthz``) with the bundle added to it: a
    document Playwright made up (``page.route``) has no address, and Chromium's Local Network
    Access checks then refuse its WebSocket to loopback."""
    context = await browser.new_context(ignore_https_errors=True)
    page = await context.new_page()
    console.attach(page, name)
    await page.goto(f"{server.https_url}/healthz")
    await page.add_script_tag(content=script.read_text())
    await page.wait_for_function("() => window.telex !== undefined", timeout=15_000)
    return page


async def call(page: Page, method: str, *args: Any) -> Any:
    """``window.telex[method](...args)`` in the page."""
    return await page.evaluate(f"(args) => window.telex.{method}(...args)", list(args))
