"""``telex events …``: event subscriptions from the command line, on the node's own store.

    telex events types
    telex events list | show NAME | delete NAME
    telex events create NAME --url URL [--schema cloudevents] [--type T]... [--all-types]
          [--subject-begins-with S] [--subject-ends-with S] [--max-events-per-batch N]
          [--max-attempts N] [--ttl-minutes N]
    telex events update NAME [the same options]
    telex events secret NAME | rotate-secret NAME [--keep-minutes N]
    telex events replay NAME (--from-position P | --from-time 2026-03-01T12:00:00Z)
    telex events dead-letters NAME [--limit N] | status NAME

It opens the store the way ``telex keys`` does (a running server sees the change within its poll
interval) and prints what the REST API would answer, as JSON. Creating or moving a subscription
runs the ownership handshake from this process.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from telex.jsoncli import run_on_node
from telex.subscriptions.api import merge, render_dead_letter, render_secrets, render_subscription
from telex.subscriptions.wire import (
    Destination,
    FilterRequest,
    RetryPolicyModel,
    SubscriptionUpdate,
    WebhookProperties,
)

if TYPE_CHECKING:
    from telex.app import Node

__all__ = ["add_subcommands", "run"]

_SCHEMAS = {"eventgrid": "EventGridSchema", "cloudevents": "CloudEventSchemaV1_0"}


def _spec_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--url", help="the webhook's https URL")
    p.add_argument("--schema", choices=sorted(_SCHEMAS), help="delivery schema (default eventgrid)")
    p.add_argument("--type", dest="types", action="append", help="an ACS event type to deliver (repeatable)")
    p.add_argument("--all-types", action="store_true", help="deliver every type (clears --type filters)")
    p.add_argument("--subject-begins-with")
    p.add_argument("--subject-ends-with")
    p.add_argument("--max-events-per-batch", type=int)
    p.add_argument("--max-attempts", type=int)
    p.add_argument("--ttl-minutes", type=int)


def add_subcommands(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
    common: Callable[[argparse.ArgumentParser], None],
) -> None:
    """Add ``events`` to the ``telex`` parser; ``common`` adds --config, --data-dir, --database."""
    events = subparsers.add_parser("events", help="manage event subscriptions (webhooks)")
    sub = events.add_subparsers(dest="events_command", required=True)
    for name, text in (("types", "list the event types subscriptions can filter on"),
                       ("list", "list subscriptions")):  # fmt: skip
        common(sub.add_parser(name, help=text))
    for name, text in (("show", "show a subscription"), ("delete", "delete a subscription"),
                       ("secret", "print the signing secret(s)"), ("status", "delivered position and lag"),
                       ("full-url", "print the endpoint URL with its query")):  # fmt: skip
        p = sub.add_parser(name, help=text)
        common(p)
        p.add_argument("name")
    for name, text in (("create", "create (or replace) a subscription"), ("update", "change a subscription")):
        p = sub.add_parser(name, help=text)
        common(p)
        p.add_argument("name")
        _spec_options(p)
    rotate = sub.add_parser("rotate-secret", help="new signing secret; the old one signs a while longer")
    common(rotate)
    rotate.add_argument("name")
    rotate.add_argument("--keep-minutes", type=int, default=1440, help="how long the old secret still signs")
    replay = sub.add_parser("replay", help="deliver again from a log position or a time")
    common(replay)
    replay.add_argument("name")
    group = replay.add_mutually_exclusive_group(required=True)
    group.add_argument("--from-position", type=int)
    group.add_argument("--from-time", help="RFC 3339, e.g. 2026-03-01T12:00:00Z")
    dead = sub.add_parser("dead-letters", help="list events given up on")
    common(dead)
    dead.add_argument("name")
    dead.add_argument("--limit", type=int, default=100)


def _update(args: argparse.Namespace) -> SubscriptionUpdate:
    filter_fields: dict[str, Any] = {}
    if args.all_types:
        filter_fields["includedEventTypes"] = None
    elif args.types:
        filter_fields["includedEventTypes"] = args.types
    if args.subject_begins_with is not None:
        filter_fields["subjectBeginsWith"] = args.subject_begins_with
    if args.subject_ends_with is not None:
        filter_fields["subjectEndsWith"] = args.subject_ends_with
    retry = {k: v for k, v in (("maxDeliveryAttempts", args.max_attempts),
                               ("eventTimeToLiveInMinutes", args.ttl_minutes)) if v is not None}  # fmt: skip
    return SubscriptionUpdate(
        destination=Destination(
            properties=WebhookProperties(
                endpointUrl=args.url,
                maxEventsPerBatch=args.max_events_per_batch,
            )
        ),
        filter=FilterRequest(**filter_fields) if filter_fields else None,
        eventDeliverySchema=_SCHEMAS[args.schema] if args.schema else None,
        retryPolicy=RetryPolicyModel(**retry) if retry else None,
    )


async def _execute(args: argparse.Namespace, settings: Any, node: Node) -> Any:
    service = node.subscriptions
    assert service is not None
    base = settings.public_url or f"https://{settings.host}:{settings.tls_port}"
    command = args.events_command
    if command == "types":
        return sorted(service.catalogue.types)
    if command == "list":
        return {"value": [render_subscription(service, s) for s in await service.all()]}
    if command == "create":
        if not args.url:
            raise SystemExit("telex events create: --url is required")
        sub, _ = await service.put(args.name, merge(None, _update(args)), base)
        return render_subscription(service, sub)
    if command == "update":
        current = await service.get(args.name)
        sub, _ = await service.put(args.name, merge(current.spec, _update(args)), base, must_exist=True)
        return render_subscription(service, sub)
    if command == "show":
        return render_subscription(service, await service.get(args.name))
    if command == "delete":
        await service.delete(args.name)
        return {"deleted": args.name}
    if command == "secret":
        return render_secrets(await service.get(args.name), service.now())
    if command == "full-url":
        return {"endpointUrl": (await service.get(args.name)).spec.url}
    if command == "rotate-secret":
        return render_secrets(await service.rotate_secret(args.name, args.keep_minutes * 60.0), service.now())
    if command == "replay":
        when = None
        if args.from_time is not None:
            moment = datetime.fromisoformat(args.from_time.replace("Z", "+00:00"))
            if moment.tzinfo is None:
                raise SystemExit("telex events replay: --from-time needs a time zone (e.g. a trailing Z)")
            when = moment.timestamp()
        first = await service.replay(args.name, from_position=args.from_position, from_time=when)
        return {"fromPosition": first}
    if command == "dead-letters":
        found = await service.dead_letters(args.name, 0, max(1, min(args.limit, 1000)))
        return {"value": [render_dead_letter(d) for d in found]}
    if command == "status":
        position, head = await service.position(args.name)
        return {"deliveredPosition": position, "headPosition": head, "lagEvents": max(0, head - position)}
    raise SystemExit(f"telex events: unknown command {command}")


def run(args: argparse.Namespace, settings: Any) -> int:
    """Run one ``telex events`` command; prints JSON, returns the exit status."""
    return run_on_node(settings, lambda node: _execute(args, settings, node))
