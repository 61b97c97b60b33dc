"""``telex numbers …``: number routes from the command line, on the node's own store.

    telex numbers routes                                   every route, as JSON
    telex numbers route +14255550100 --user 8:acs:… [--user 8:acs:…] [--ring-seconds 30]
    telex numbers route +14255550100 --group-call 0b0c…    the caller joins that group call
    telex numbers unroute +14255550100                     back to IncomingCall

It opens the store the way ``telex events`` does; a running gateway reads the route at the next
call. The REST twin is ``PUT /phoneNumbers/{number}/routing`` (HMAC).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from telex.jsoncli import run_on_node

if TYPE_CHECKING:
    from telex.app import Node

__all__ = ["add_subcommands", "run"]


def add_subcommands(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
    common: Callable[[argparse.ArgumentParser], None],
) -> None:
    """Add ``numbers`` to the ``telex`` parser; ``common`` adds --config, --data-dir, --database."""
    numbers = subparsers.add_parser("numbers", help="route purchased numbers' calls to users")
    sub = numbers.add_subparsers(dest="numbers_command", required=True)
    common(sub.add_parser("routes", help="list the numbers' routes"))
    route = sub.add_parser("route", help="ring users (or join a group call) on calls to a number")
    common(route)
    route.add_argument("number", help="an owned number, E.164 (+14255550100)")
    route.add_argument("--user", dest="users", action="append", default=[], help="8:acs:… (repeatable)")
    route.add_argument("--group-call", dest="group_call", help="a group call id (UUID) to join instead")
    route.add_argument("--ring-seconds", dest="ring_seconds", type=int, help="ring time (default 30)")
    unroute = sub.add_parser("unroute", help="calls to the number raise IncomingCall again")
    common(unroute)
    unroute.add_argument("number")


def run(args: argparse.Namespace, settings: Any) -> int:
    """Run one ``telex numbers`` command; prints JSON, returns the exit status."""
    return run_on_node(settings, lambda node: _execute(args, node))


async def _execute(args: argparse.Namespace, node: Node) -> Any:
    from telex.numbers.routing import NumberRoutes, make_route
    from telex.numbers.service import parse_number_path

    if node.telephony is None:
        raise SystemExit("telex numbers: this configuration has no phone numbers")
    numbers = node.telephony.numbers
    routes = NumberRoutes(numbers.store)
    command = args.numbers_command
    if command == "routes":
        return {"value": [r.wire() for r in await routes.all()]}
    if command == "route":
        route = make_route(args.number, args.users, args.group_call, args.ring_seconds)
        return (await routes.put(route, numbers.clock.now())).wire()
    number = parse_number_path(args.number)
    return {"phoneNumber": number, "removed": await routes.delete(number)}
