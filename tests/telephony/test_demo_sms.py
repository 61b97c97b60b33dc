"""The demo's SMS page (``serve --demo``): the demo buys a number once and keeps it; a signed-in
visitor's simulated phone texts it and reads the answers; without a session it is 401."""

from __future__ import annotations

from pathlib import Path

import httpx

from telex.app import Node, build_app
from telex.core.clock import SystemClock
from tests.conftest import make_settings


async def _open(tmp_path: Path) -> Node:
    settings = make_settings(
        tmp_path, demo={"enabled": True}, carriers={"simulated": {"delivery_delay_seconds": 0}}
    )
    return await Node.open(settings, SystemClock())


async def test_the_visitors_phone_and_the_demo_number(tmp_path: Path) -> None:
    node = await _open(tmp_path)
    try:
        assert node.demo is not None and node.demo.sms is not None and node.telephony is not None
        number = node.demo.sms.number
        assert await node.telephony.numbers.lookup(number) is not None
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=build_app(node)), base_url="http://t"
        ) as web:
            assert (await web.get("/demo/api/sms")).status_code == 401
            assert (await web.post("/demo/api/session", json={"displayName": "Ada"})).status_code == 200
            view = (await web.get("/demo/api/sms")).json()
            assert view["number"] == number and view["handset"].startswith("+1202555")
            sent = await web.post("/demo/api/sms/handset", json={"message": "HELP"})
            assert sent.status_code == 200, sent.text
            help_reply = node.telephony.sms.settings.opt_out["en"].help_reply
            assert [m["message"] for m in sent.json()["appMessages"]] == ["HELP", help_reply]
            replied = await web.post("/demo/api/sms/reply", json={"message": "Hi Ada!"})
            assert replied.status_code == 200
            for _ in range(3):
                await node.telephony.simulated.step()
            view = (await web.get("/demo/api/sms")).json()
            got = [m["message"] for m in view["handsetMessages"] if m["to"] == view["handset"]]
            assert sorted(got) == sorted([help_reply, "Hi Ada!"])
            assert [m["from"] for m in view["handsetMessages"]].count(view["handset"]) == 1
            too_long = await web.post("/demo/api/sms/reply", json={"message": "x" * 481})
            assert too_long.status_code == 400
    finally:
        await node.close()
    again = await _open(tmp_path)  # the same number after a restart
    try:
        assert again.demo is not None and again.demo.sms is not None and again.demo.sms.number == number
    finally:
        await again.close()
