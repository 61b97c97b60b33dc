"""Real-browser tests: headless Debian Chromium driven by Playwright against ``telex serve --demo``.

The recipe is the one measured in shared/reference/webrtc-browser-testing.md:
- the whole test run sits in a network namespace holding only loopback (``scripts/netns-run``,
  which ``./scripts/test`` uses), so neither the tests nor Chromium's own background requests
  reach anything but the servers started here;
- Chromium gets fake camera and microphone devices, auto-accepted permission prompts (without
  which it gathers no ICE candidates at all on loopback) and loopback peer connections;
- calls are relay-only (``?relay=1``) through Telex's own TURN server.

Screenshots go to ``artifacts/`` (or ``$TELEX_ARTIFACTS``) for a person to look at.
"""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, ConsoleMessage, Page, async_playwright

from tests.support.live import LiveServer

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/lib/chromium/chromium")
MEDIA_FLAGS = [
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--allow-loopback-in-peer-connection",
    "--disable-quic",
]
ROOT = Path(__file__).resolve().parents[2]
DEMO_ENV = {
    # Every peer here is on loopback, which Telex TURN refuses to relay to unless told to.
    "TELEX_TURN__ALLOW_LOOPBACK_PEERS": "true",
    # Shorter than a test's call, so the pages must really send keep-alives to stay in.
    "TELEX_CALLING__KEEPALIVE_TIMEOUT_SECONDS": "6",
    "TELEX_CALLING__TIMER_POLL_SECONDS": "0.5",
    # Every page of every test signs in from 127.0.0.1, far more often than a visitor would, and
    # calls the same few users back to back: lift the per-address and per-callee limits.
    "TELEX_DEMO__SIGN_INS_PER_IP_PER_MINUTE": "0",
    "TELEX_CALLING__INVITATIONS_PER_CALLER_PER_MINUTE": "0",
    "TELEX_CALLING__INVITATIONS_PER_CALLEE_PER_MINUTE": "0",
}
ARTIFACTS = Path(os.environ.get("TELEX_ARTIFACTS", ROOT / "artifacts"))


def chromium_path() -> str:
    for candidate in CHROMIUM_CANDIDATES:
        if os.access(candidate, os.X_OK):
            return candidate
    pytest.fail("Chromium is required (Debian package 'chromium', installed by ./scripts/test)")


def _only_loopback() -> bool:
    # Asked of the kernel for this process's namespace (/sys/class/net shows sysfs's, not ours).
    return [name for _, name in socket.if_nameindex()] == ["lo"]


@pytest.fixture(scope="session", autouse=True)
def _isolated_network() -> None:
    if not _only_loopback():
        pytest.fail(
            "browser tests run in a network namespace that holds only loopback: "
            "run them through scripts/netns-run (./scripts/test does)"
        )


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = LiveServer(tmp_path_factory.mktemp("demo") / "data", env=DEMO_ENV, extra_args=["--demo"])
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


async def launch(playwright: Any, *, fake_ui: bool = True) -> Browser:
    args = list(MEDIA_FLAGS)
    if not fake_ui:  # headless Chromium then denies every camera and microphone prompt
        args.remove("--use-fake-ui-for-media-stream")
    browser: Browser = await playwright.chromium.launch(
        executable_path=chromium_path(), headless=True, args=args
    )
    return browser


@pytest.fixture
async def playwright() -> AsyncIterator[Any]:
    async with async_playwright() as pw:
        yield pw


@pytest.fixture
async def browser(playwright: Any) -> AsyncIterator[Browser]:
    b = await launch(playwright)
    try:
        yield b
    finally:
        await b.close()


class Console:
    """What a page logged: shown when a test fails, so a browser-side error is not a mystery."""

    def __init__(self) -> None:
        self.lines: dict[str, list[str]] = {}

    def attach(self, page: Page, name: str) -> None:
        lines = self.lines.setdefault(name, [])

        def on_console(message: ConsoleMessage) -> None:
            lines.append(f"{message.type}: {message.text}")

        page.on("console", on_console)
        page.on("pageerror", lambda exc: lines.append(f"pageerror: {exc}"))

    def dump(self) -> str:
        return "\n".join(f"[{name}] {line}" for name, lines in self.lines.items() for line in lines[-40:])


@pytest.fixture
def console() -> Console:
    return Console()


@pytest.fixture(autouse=True)
def _show_console_on_failure(request: pytest.FixtureRequest, console: Console) -> Iterator[None]:
    yield
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        print("--- browser console ---\n" + console.dump())


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.when == "call":
        item.rep_call = report  # type: ignore[attr-defined]


async def new_page(browser: Browser, console: Console, name: str) -> Page:
    context: BrowserContext = await browser.new_context(viewport={"width": 1280, "height": 800})
    page = await context.new_page()
    console.attach(page, name)
    return page
