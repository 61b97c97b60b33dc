"""A bounded schemathesis run over some operations of a live server's /openapi.json (security.md
G1): every generated request must get no 5xx, a documented status and content type, and a body
matching its schema. ``aim`` points generated path parameters and bodies at real objects, so
requests reach the service rather than stopping at 404."""

from __future__ import annotations

from collections.abc import Callable

import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import CheckContext, Response
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

__all__ = ["CHECKS", "fuzz_operations", "operations_under"]


@schemathesis.check
def no_server_error_but_not_implemented(
    ctx: CheckContext, response: Response, case: schemathesis.Case
) -> None:
    """No 5xx, except a deliberate ``501 NotImplemented`` (an option this server does not have, such
    as a text-to-speech play source); status_code_conformance still requires it to be documented."""
    if response.status_code == 501:
        error = response.json().get("error") if response.content else None
        if isinstance(error, dict) and error.get("code") == "NotImplemented":
            return
    not_a_server_error(ctx, response, case)


CHECKS = [
    no_server_error_but_not_implemented,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def operations_under(base_url: str, prefix: str) -> list[schemathesis.APIOperation]:
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    return [op for op in (o.ok() for o in schema.get_all_operations()) if op.path.startswith(prefix)]


def fuzz_operations(
    base_url: str,
    operations: list[schemathesis.APIOperation],
    session: requests.Session,
    aim: Callable[[schemathesis.Case], None],
    max_examples: int,
) -> dict[int, int]:
    """Run every operation in order; returns how many responses had each status."""
    statuses: dict[int, int] = {}
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=max_examples, deadline=None, suppress_health_check=list(HealthCheck), database=None
        )
        def run(case: schemathesis.Case) -> None:
            aim(case)
            response = case.call(base_url=base_url, session=session, timeout=10)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            case.validate_response(response, checks=CHECKS)

        run()
    return statuses
