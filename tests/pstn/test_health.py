"""OPTIONS keep-alives, sans-I/O on a hand-moved clock: when pings go out, what marks a trunk
down and up, and how routing skips a down trunk."""

from __future__ import annotations

import pytest

from telex.core.clock import FakeClock
from telex.core.errors import ErrorCode, TelexError
from telex.pstn import TrunkRouter, TrunkSettings
from telex.pstn.health import TrunkChange, TrunkHealth


def trunk(name: str, **kw: object) -> TrunkSettings:
    return TrunkSettings(name=name, host="192.0.2.10", **kw)  # type: ignore[arg-type]


def test_pings_every_interval_and_not_over_an_unanswered_one() -> None:
    clock = FakeClock()
    router = TrunkRouter([trunk("a", options_interval_seconds=30), trunk("off", options_interval_seconds=0)])
    health = TrunkHealth(router.trunks, clock.now())
    assert health.next_timer() == clock.now() + 30
    assert health.handle_timer(clock.now()) == []
    clock.advance(30)
    (a,) = health.handle_timer(clock.now())
    health.sent(a, "h1")
    clock.advance(30)
    assert health.handle_timer(clock.now()) == []  # h1 still waits for its answer
    assert health.result("h1", 200, clock.now()) is None  # up already: no change
    clock.advance(30)
    assert health.handle_timer(clock.now()) == [a]
    assert health.pings == {"a": 1, "off": 0} and health.answers == {"a": 1, "off": 0}


@pytest.mark.parametrize("failure", [None, 503], ids=["no-answer", "5xx"])
def test_down_after_failures_in_a_row_and_up_on_an_answer(failure: int | None) -> None:
    router = TrunkRouter([trunk("a", options_failures=2)])
    health, (a,) = TrunkHealth(router.trunks, 0.0), router.trunks
    for handle in ("1", "2"):
        health.sent(a, handle)
    assert health.result("1", failure, 1.0) is None and a.up
    assert health.result("2", failure, 2.0) == TrunkChange(a, False) and not a.up
    health.sent(a, "3")
    assert health.result("3", 404, 3.0) == TrunkChange(a, True) and a.up  # a 4xx: someone is there
    assert health.result("unknown", None, 4.0) is None


def test_routing_skips_a_down_trunk_and_refuses_when_none_is_up() -> None:
    router = TrunkRouter(
        [trunk("ny", prefixes=["+1212"]), trunk("us", prefixes=["+1"]), trunk("uk", prefixes=["+44"])]
    )
    ny, us, uk = router.trunks
    ny.up = False
    assert router.route("+12125550100") is us
    us.up = False
    with pytest.raises(TelexError) as info:
        router.route("+12125550100")
    assert info.value.code is ErrorCode.UNAVAILABLE and "ny, us" in info.value.message
    assert router.route("+442079460000") is uk
    with pytest.raises(TelexError) as refused:
        router.route("+33142000000")
    assert refused.value.code is ErrorCode.FORBIDDEN  # no trunk may call it at all
