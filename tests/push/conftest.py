"""Fixtures for the push tests: a fake clock starting at the real time (provider tokens carry
wall-clock timestamps that the loopback services check against the same clock)."""

from __future__ import annotations

import time

import pytest

from telex.core.clock import FakeClock
from tests.webhooks.conftest import ca, dns

__all__ = ["ca", "clock", "dns"]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(float(int(time.time())))
