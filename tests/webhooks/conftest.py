"""Fixtures for the webhook tests: a loopback DNS server the test controls, and a test CA."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.webhooks.certs import LocalCA
from tests.webhooks.loopback_dns import DnsServer, dns_server


@pytest.fixture
async def dns() -> AsyncIterator[DnsServer]:
    async with dns_server() as server:
        yield server


@pytest.fixture
def ca(tmp_path: Path) -> LocalCA:
    return LocalCA(tmp_path)
