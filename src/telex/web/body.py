"""Request bodies are parsed after authentication, by the route, not by the framework.

FastAPI parses a declared body before it runs dependencies, so an unauthenticated caller would
learn about validation before being refused. Routes therefore take the raw ``Request``, authenticate,
then call ``read_json``; ``body_doc`` puts the same model into the OpenAPI document.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from telex.core import jsonlimits
from telex.core.errors import ErrorCode, TelexError

__all__ = ["body_doc", "read_json", "request_hostname"]

M = TypeVar("M", bound=BaseModel)


def body_doc(model: type[BaseModel], *, required: bool = True) -> dict[str, Any]:
    """``openapi_extra`` describing a JSON request body of ``model``."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    schema.pop("$defs", None)
    content = {"schema": schema}
    return {
        "requestBody": {
            "required": required,
            "content": {"application/json": content},
        }
    }


async def read_json(request: Request, model: type[M], *, allow_empty: bool = False) -> M | None:
    """The body parsed into ``model``; None for an empty body when ``allow_empty``.

    Raises ``InvalidJson`` or ``ValidationFailed`` (400) with a message naming the field.
    """
    headers = request.headers
    if allow_empty and headers.get("content-length") in (None, "0") and "transfer-encoding" not in headers:
        return None  # no body announced: nothing to read (clients fetching relay credentials send none)
    raw = await request.body()
    if not raw.strip():
        if allow_empty:
            return None
        raise TelexError(ErrorCode.VALIDATION_FAILED, "A JSON request body is required.")
    try:
        data = jsonlimits.loads(raw)
    except jsonlimits.JsonTooDeep as exc:
        raise TelexError(ErrorCode.INVALID_JSON, f"The request body is not valid JSON: {exc}.") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TelexError(ErrorCode.INVALID_JSON, "The request body is not valid JSON.") from exc
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        parts = []
        for e in exc.errors()[:5]:
            loc = ".".join(str(p) for p in e["loc"]) or "body"
            parts.append(f"{loc}: {e['msg']}")
        raise TelexError(ErrorCode.VALIDATION_FAILED, "Invalid request: " + "; ".join(parts) + ".") from exc


def request_hostname(request: Request) -> str | None:
    """The host name the client addressed (the ``Host`` header, without port or IPv6 brackets):
    what ``request.url.hostname`` gives, without building the whole URL."""
    host = request.headers.get("host")
    if not host:
        return request.url.hostname
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else None
    return host.rpartition(":")[0] if ":" in host else host
