"""Commands that work on the node's own store and print JSON (``telex events …``,
``telex numbers …``): open the node, run the command, close it, print the result; a refusal is
printed as the ACS error body and exits 1, as the REST twin of each command would answer."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from telex.core.errors import TelexError

if TYPE_CHECKING:
    from telex.app import Node

__all__ = ["run_on_node"]


def run_on_node(settings: Any, work: Callable[[Node], Awaitable[Any]]) -> int:
    """Run ``work`` on a node opened with ``settings``; prints JSON, returns the exit status."""

    async def main() -> Any:
        from telex.app import Node  # the composition root: imported when a command runs

        node = await Node.open(settings)
        try:
            return await work(node)
        finally:
            await node.close()

    try:
        result = asyncio.run(main())
    except TelexError as exc:
        print(json.dumps({"error": {"code": exc.code.wire, "message": exc.message}}))
        return 1
    print(json.dumps(result, indent=2, default=_plain))
    return 0


def _plain(value: Any) -> Any:
    return value.model_dump() if hasattr(value, "model_dump") else str(value)
