"""The demo in Firefox: Debian's firefox-esr, driven over WebDriver BiDi, in relay-only group calls
through Telex TURN with a Chromium page (Playwright, as in test_demo_call.py) and with itself.

Firefox is driven by a small Node script (``tests/browser/firefox/driver.mjs``, puppeteer-core,
which never downloads a browser here) that only executes commands sent as JSON lines; every check
stays in this file. ``FirefoxPage`` offers the few Playwright ``Page`` methods the helpers in
``tests/browser/demo.py`` use, so Firefox pages go through the same sign-in, state and stats code.

``./scripts/test`` installs firefox-esr (scripts/apt-packages.txt) and the driver's node_modules
(``npm ci``); without them this test fails in CI and is skipped elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page

from tests.browser.conftest import Console, new_page
from tests.browser.demo import (
    assert_relayed,
    sign_in,
    start_group_call,
    wait_media_flowing,
    wait_state,
    wait_true,
)
from tests.support.live import LiveServer

pytestmark = pytest.mark.browser

FIREFOX = "/usr/bin/firefox-esr"
DRIVER_DIR = Path(__file__).resolve().parent / "firefox"
TIMEOUT = 30_000  # ms, for waits on a page
PINGED = "/\\d+(\\.\\d+)?\\s*ms/.test(document.querySelector('#ping-result').textContent)"
REMOTE_CONNECTED = ".participant:not(.local)[data-state='Connected']"


def _missing() -> str | None:
    if not os.access(FIREFOX, os.X_OK):
        return f"{FIREFOX} (Debian package 'firefox-esr', in scripts/apt-packages.txt)"
    if shutil.which("node") is None:
        return "node"
    if not (DRIVER_DIR / "node_modules" / "puppeteer-core").is_dir():
        return f"puppeteer-core (npm ci --prefix {DRIVER_DIR})"
    return None


class DriverError(AssertionError):
    pass


class Firefox:
    """One firefox-esr, through driver.mjs. Requests are answered in any order, matched by id."""

    def __init__(self, console: Console, prefs: dict[str, Any] | None = None) -> None:
        self.console = console
        self.prefs = prefs or {}
        self.proc: asyncio.subprocess.Process | None = None
        self.firefox_pid: int | None = None
        self.version = ""
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._next_id = 0
        self._ready: asyncio.Future[dict[str, Any]] | None = None
        self._reader: asyncio.Task[None] | None = None
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 (outlives this method; closed by close())

    async def start(self, timeout: float = 90.0) -> None:
        # Its own session, so that a signal meant for it never reaches pytest.
        self.proc = await asyncio.create_subprocess_exec(
            "node",
            str(DRIVER_DIR / "driver.mjs"),
            FIREFOX,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=self._stderr,
            cwd=DRIVER_DIR,
            start_new_session=True,
            limit=16 * 1024 * 1024,
            env={**os.environ, "TELEX_FIREFOX_PREFS": json.dumps(self.prefs)},
        )
        self._ready = asyncio.get_running_loop().create_future()
        self._reader = asyncio.create_task(self._read())
        try:
            async with asyncio.timeout(timeout):
                ready = await self._ready
        except TimeoutError:
            raise DriverError(f"Firefox did not start in {timeout} s\n{self.stderr_tail()}") from None
        self.version = ready["version"]
        self.firefox_pid = ready.get("pid")

    def stderr_tail(self) -> str:
        self._stderr.seek(0)
        return "\n".join(self._stderr.read().decode(errors="replace").splitlines()[-30:])

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            try:
                message = json.loads(line)
            except ValueError:  # not ours (a library printing): keep it for the failure report
                self.console.lines.setdefault("driver", []).append(line.decode(errors="replace").rstrip())
                continue
            if message.get("event") == "ready" and self._ready and not self._ready.done():
                self._ready.set_result(message)
            elif message.get("event") == "console":
                self.console.lines.setdefault(message["page"], []).append(message["text"])
            elif (future := self._pending.pop(message.get("id"), None)) and not future.done():
                if message["ok"]:
                    future.set_result(message["value"])
                else:
                    future.set_exception(DriverError(message["error"]))
        gone = DriverError(f"the Firefox driver exited\n{self.stderr_tail()}")
        for future in [*self._pending.values(), self._ready]:
            if future is not None and not future.done():
                future.set_exception(gone)
        self._pending.clear()

    async def request(self, cmd: str, timeout: float = 45.0, **args: Any) -> Any:
        assert self.proc is not None and self.proc.stdin is not None
        self._next_id += 1
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[self._next_id] = future
        self.proc.stdin.write((json.dumps({"id": self._next_id, "cmd": cmd, **args}) + "\n").encode())
        await self.proc.stdin.drain()
        try:
            async with asyncio.timeout(timeout):
                return await future
        except TimeoutError:
            raise DriverError(f"{cmd} {args} took over {timeout} s") from None

    async def new_page(self, name: str, *, shared: bool = False) -> FirefoxPage:
        await self.request("newPage", page=name, shared=shared)
        return FirefoxPage(self, name)

    async def close(self) -> None:
        """Close Firefox through the driver; failing that, end both processes, by their ids only."""
        if self.proc is None:
            return
        proc = self.proc
        with contextlib.suppress(Exception):
            await self.request("close", timeout=5)
        try:
            async with asyncio.timeout(30):
                await proc.wait()
        except TimeoutError:
            proc.terminate()  # puppeteer kills its Firefox on SIGTERM
            try:
                async with asyncio.timeout(10):
                    await proc.wait()
            except TimeoutError:
                proc.kill()
                await proc.wait()
        # puppeteer starts Firefox as the leader of its own process group.
        if self.firefox_pid:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.firefox_pid, signal.SIGKILL)
        if self._reader:
            await self._reader
        self._stderr.close()
        self.proc = None


class FirefoxPage:
    """The few Playwright ``Page`` methods tests/browser/demo.py and this test use."""

    def __init__(self, firefox: Firefox, name: str) -> None:
        self.firefox = firefox
        self.name = name

    async def goto(self, url: str) -> None:
        await self.firefox.request("goto", page=self.name, url=url)

    async def click(self, selector: str) -> None:
        await self.firefox.request("click", page=self.name, selector=selector)

    async def fill(self, selector: str, value: str) -> None:
        await self.firefox.request("fill", page=self.name, selector=selector, value=value)

    async def evaluate(self, expression: str) -> Any:
        return await self.firefox.request("eval", page=self.name, expression=expression)

    async def text_content(self, selector: str) -> str | None:
        result: str | None = await self.evaluate(
            f"document.querySelector({json.dumps(selector)})?.textContent ?? null"
        )
        return result

    async def wait_for_selector(
        self, selector: str, state: str = "visible", timeout: float = TIMEOUT
    ) -> None:
        found = f"document.querySelector({json.dumps(selector)})"
        condition = {
            "attached": f"!!{found}",
            "detached": f"!{found}",
            "visible": f"!!{found}?.checkVisibility()",
            "hidden": f"!{found}?.checkVisibility()",
        }[state]
        try:
            await wait_true(self, condition, timeout=timeout / 1000)  # type: ignore[arg-type]
        except TimeoutError:
            where = await self.evaluate(
                "({state: document.querySelector('#call-state')?.dataset.state,"
                " error: document.querySelector('#error-text')?.textContent})"
            )
            raise AssertionError(
                f"[{self.name}] {selector} not {state} in {timeout / 1000} s: {where}"
            ) from None

    async def close(self) -> None:
        await self.firefox.request("closePage", page=self.name)


@pytest.fixture(autouse=True)
def _needs_firefox() -> None:
    """Before any server or browser starts: fail in CI, skip elsewhere (as for PostgreSQL)."""
    missing = _missing()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"Firefox tests need {missing}: ./scripts/test installs it")
        pytest.skip(f"not installed: {missing}")


@pytest.fixture
async def firefox(console: Console) -> AsyncIterator[Firefox]:
    ff = Firefox(console)
    try:
        await ff.start()
        yield ff
    finally:
        await ff.close()


async def _media_and_relay(page: Page | FirefoxPage) -> dict[str, dict[str, Any]]:
    """Inbound audio and video from the one other peer keep increasing, relay to relay."""
    flowing = await wait_media_flowing(page, remotes=1)  # type: ignore[arg-type]
    for peer in flowing.values():
        assert_relayed(peer)
        assert peer["framesDecoded"] > 0, peer
    return flowing


async def _ping(page: Page | FirefoxPage) -> None:
    await page.click("#ping")
    await wait_true(page, PINGED)  # type: ignore[arg-type]


async def _hang_up(page: Page | FirefoxPage, other: Page | FirefoxPage) -> None:
    """``page`` hangs up: its call ends with hungUp; ``other`` sees it go and stays in."""
    me = await page.evaluate("window.telexDemo.call.participantId")
    await page.click("#hang-up")
    await wait_state(page, "Disconnected")  # type: ignore[arg-type]
    assert (await page.text_content("#call-end-reason") or "").strip() == "hungUp"
    await other.wait_for_selector(
        f".participant[data-participant-id='{me}']", state="detached", timeout=TIMEOUT
    )
    await wait_state(other, "Connected")  # type: ignore[arg-type]


async def test_firefox_and_chromium_in_one_relay_call(
    demo_server: LiveServer, browser: Browser, console: Console, firefox: Firefox
) -> None:
    url = demo_server.http_url
    ada = await new_page(browser, console, "Ada (Chromium)")
    await sign_in(ada, url, "Ada")
    room = await start_group_call(ada)
    await wait_state(ada, "Connected")

    bob = await firefox.new_page("Bob (Firefox)")
    started = time.monotonic()
    await sign_in(bob, url, "Bob", room=room)  # type: ignore[arg-type]
    await wait_state(bob, "Connected")  # type: ignore[arg-type]
    for page in (ada, bob):
        await page.wait_for_selector(REMOTE_CONNECTED, state="attached", timeout=TIMEOUT)
    connected = time.monotonic() - started

    # Media both ways, relay to relay: only Telex's TURN server can have carried it.
    for page in (ada, bob):
        await _media_and_relay(page)
    flowing = time.monotonic() - started
    print(f"\n{firefox.version}: join → both Connected {connected:.2f} s, media both ways {flowing:.2f} s")

    # A data-channel ping each way.
    for page in (bob, ada):
        await _ping(page)

    # Firefox's mute shows on Chromium, and so does its unmute.
    await bob.click("#mute")
    await ada.wait_for_selector(".participant:not(.local)[data-muted='true']", timeout=TIMEOUT)
    await bob.click("#mute")
    await ada.wait_for_selector(".participant:not(.local)[data-muted='false']", timeout=TIMEOUT)

    # Firefox hangs up: its call ends hungUp; Chromium sees it leave and stays in the call.
    await _hang_up(bob, ada)
    await bob.close()
    await ada.context.close()


async def test_two_firefox_pages_in_one_relay_call(
    demo_server: LiveServer, console: Console, firefox: Firefox
) -> None:
    url = demo_server.http_url
    # Two windows of one Firefox: a click focuses its window (driver.mjs), without which Firefox
    # would hold back the camera and microphone of the window that lost focus to the other.
    ada = await firefox.new_page("Ada (Firefox)")
    bob = await firefox.new_page("Bob (Firefox)")
    await sign_in(ada, url, "Ada")  # type: ignore[arg-type]
    await ada.click("#new-call")
    await wait_state(ada, "Connected")  # type: ignore[arg-type]
    room = await ada.evaluate("new URLSearchParams(location.search).get('room')")
    assert room
    started = time.monotonic()
    await sign_in(bob, url, "Bob", room=room)  # type: ignore[arg-type]
    for page in (ada, bob):
        await page.wait_for_selector(REMOTE_CONNECTED, state="attached", timeout=TIMEOUT)
    connected = time.monotonic() - started
    for page in (ada, bob):
        await _media_and_relay(page)
    print(f"\nFirefox ↔ Firefox: sign-in+join → both Connected {connected:.2f} s")
    for page in (ada, bob):
        await _ping(page)
    await ada.click("#mute")
    await bob.wait_for_selector(".participant:not(.local)[data-muted='true']", timeout=TIMEOUT)
    await _hang_up(bob, ada)
    await ada.close()
    await bob.close()
