"""``POST /sms`` is a hot route (web/lean.py): the same request answers alike below FastAPI and
through it, for a good send, per-recipient failures and every whole-request error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from telex.app import build_app
from tests.api.test_lean_routes import _same
from tests.support.signing import HmacSigner
from tests.telephony.phone import phone_node


async def test_sms_send_answers_alike(tmp_path: Path) -> None:
    async with phone_node(tmp_path) as phone:
        [a] = await phone.own(1)
        signer = HmacSigner(phone.node.keyring.state.primary_key, now=phone.clock.now)

        def body(sender: str = a, to: Any = "+14255550123", message: Any = "hi") -> dict[str, Any]:
            return {"from": sender, "message": message, "smsRecipients": [{"to": to}]}

        cases: list[dict[str, Any]] = [
            {"json": body(), "auth": signer},
            {"json": body(to="+1425"), "auth": signer},
            {"json": body(sender="+14255550150"), "auth": signer},
            {"json": body(sender="+1425"), "auth": signer},
            {"json": body(message=""), "auth": signer},
            {"json": body(message=7), "auth": signer},
            {"json": {**body(), "smsRecipients": []}, "auth": signer},
            {"content": b"{", "headers": {"content-type": "application/json"}, "auth": signer},
            {"json": body()},  # unsigned
        ]
        for kw in cases:
            out = []
            for lean in (True, False):
                transport = httpx.ASGITransport(app=build_app(phone.node, lean=lean))
                async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
                    out.append(await http.post("/sms", **kw))
            _same(*out)
