"""Number routes in the store (migration 0013 on SQLite and PostgreSQL) and ``telex numbers``."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from telex.cli import main
from telex.core.errors import TelexError
from telex.numbers import (
    AssignmentType,
    Capabilities,
    Capability,
    Cost,
    NumbersStore,
    NumberType,
    OwnedNumber,
)
from telex.numbers.routing import NumberRoute, NumberRoutes, make_route
from telex.store.database import Database
from telex.telephony.numbers import E164


async def test_routes_on_both_databases(database_url: str, tmp_path: Path) -> None:
    db = Database(database_url or f"sqlite:///{tmp_path / 'r.db'}")
    await db.migrate()
    store = NumbersStore(db)
    routes = NumberRoutes(store)
    owned = OwnedNumber(
        E164("+14255550100"), "US", NumberType.GEOGRAPHIC, AssignmentType.APPLICATION,
        Capabilities(Capability.INBOUND_OUTBOUND, Capability.NONE), Cost(1.0, "USD"), 0.0,
    )  # fmt: skip
    try:
        async with store.write() as tx:
            await tx.put_owned([owned])
        users = make_route("+14255550100", ["8:acs:a", {"rawId": "8:acs:b"}, "8:acs:a"], None, None)
        assert users == NumberRoute("+14255550100", ("8:acs:a", "8:acs:b"), None, 30)
        await routes.put(users, 1.0)
        assert await routes.get("+14255550100") == users
        group = make_route("14255550100", [], str(uuid.uuid4()).upper(), 45)
        await routes.put(group, 2.0)  # replaces
        assert await routes.all() == [group] and group.group_call_id == group.group_call_id.lower()
        with pytest.raises(TelexError) as refused:
            await routes.put(make_route("+14255550199", ["8:acs:a"], None, None), 3.0)
        assert refused.value.code.status == 404
        assert await routes.delete("+14255550100") and not await routes.delete("+14255550100")
        assert await routes.get("+14255550100") is None
    finally:
        await db.close()


def test_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    where = ["--data-dir", str(tmp_path)]
    assert main(["numbers", "routes", *where]) == 0
    assert json.loads(capsys.readouterr().out) == {"value": []}
    assert main(["numbers", "route", "+14255550199", "--user", "8:acs:a", *where]) == 1
    assert json.loads(capsys.readouterr().out)["error"]["code"] == "NotFound"
    assert main(["numbers", "unroute", "+14255550199", *where]) == 0
    assert json.loads(capsys.readouterr().out) == {"phoneNumber": "+14255550199", "removed": False}
