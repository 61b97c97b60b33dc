"""The demo's SMS panel in Chromium: the visitor's simulated phone texts the demo number, the
HELP keyword is answered, the app replies, and both sides show it (screenshot:
artifacts/demo-sms.png)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser

from tests.browser.conftest import DEMO_ENV, Console, new_page
from tests.browser.demo import sign_in, wait_true
from tests.support.live import LiveServer

pytestmark = pytest.mark.browser

# The texts of one side's messages (each message's first node is its text; a status may follow).
TEXTS = "[...document.querySelectorAll('{} .chat-message')].map((m) => m.firstChild.textContent)"
ENV = {**DEMO_ENV, "TELEX_CARRIERS__SIMULATED__DELIVERY_DELAY_SECONDS": "0.2"}


@pytest.fixture(scope="module")
def sms_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with LiveServer(tmp_path_factory.mktemp("sms-demo") / "data", env=ENV, extra_args=["--demo"]) as server:
        yield server


async def test_text_the_demo_number_and_get_answers(
    sms_demo: LiveServer, browser: Browser, console: Console, artifacts: Path
) -> None:
    page = await new_page(browser, console, "ada")
    await sign_in(page, sms_demo.http_url, "Ada")
    await wait_true(page, "!document.querySelector('#sms-panel').hidden")
    await wait_true(page, "document.querySelector('#sms-number').textContent.startsWith('+1')")
    await page.fill("#sms-handset-input", "HELP")
    await page.click("#sms-handset-send")
    app_sees = TEXTS.format("#sms-app-messages")
    await wait_true(page, f"{app_sees}.includes('HELP')")
    await page.fill("#sms-reply-input", "Hello from the app")
    await page.click("#sms-reply-send")
    phone_sees = TEXTS.format("#sms-handset-messages")
    await wait_true(page, f"{phone_sees}.includes('Hello from the app')")
    await wait_true(page, f"{phone_sees}.some((t) => t.startsWith('Reply STOP'))")
    await page.locator("#sms-panel").screenshot(path=str(artifacts / "demo-sms.png"))
