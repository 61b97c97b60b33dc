"""A node's ``/metrics``: ``scrape(node)`` reads it from the node's admin app (it is never on the
public listeners), ``samples(text)`` turns the text into ``{sample name with labels: value}``."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from telex.app import Node, build_admin_app

__all__ = ["samples", "scrape"]


async def scrape(node: Node) -> str:
    transport = httpx.ASGITransport(app=build_admin_app(node))
    async with httpx.AsyncClient(transport=transport, base_url="http://admin") as admin:
        return (await admin.get("/metrics")).text


def samples(text: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
            out[f"{s.name}{{{labels}}}" if labels else s.name] = s.value
    return out
