"""api-version: each ACS API accepts the versions Telex implements, and answers any other the way
ACS does (ASP.NET API versioning's codes, as the real service returns them):

    no api-version          ─► 400 ApiVersionUnspecified "An API version is required, but was not specified."
    not a version (garbage) ─► 400 InvalidApiVersion     "The HTTP resource that matches the request URI
    a version Telex lacks   ─► 400 UnsupportedApiVersion  '…' does not support the API version '…'."

``ApiVersions`` is one API's table. Its ``dependency`` goes on the API's router (so FastAPI checks
it, and ``/openapi.json`` lists the accepted versions as the parameter's enum); a hot route's
handler calls ``check`` itself, since the lean way in skips FastAPI's dependencies. The version
the request named is returned, for routes whose shape depends on it.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from fastapi import Query
from starlette.requests import Request

from telex.core.errors import ErrorCode, TelexError

__all__ = ["ApiVersions"]

# yyyy-mm-dd with an optional -preview / -previewN / -beta suffix, as Azure data planes name them.
_SHAPE = re.compile(r"^\d{4}-\d{2}-\d{2}(-[a-z]+\d*)?$")


class ApiVersions:
    """The api-versions one API accepts, newest last."""

    def __init__(self, api: str, versions: tuple[str, ...]) -> None:
        if not versions:
            raise ValueError("an API accepts at least one version")
        self.api = api
        self.versions = versions
        self.latest = versions[-1]
        self._accepted = frozenset(versions)
        # What the official SDKs send: the version as the whole query string. Answered without
        # parsing the query (Starlette's QueryParams was a tenth of a token issue's CPU).
        self._plain = {f"api-version={v}".encode(): v for v in versions}

    def check_value(self, value: str | None, url: str) -> str:
        """The version if accepted; raises the ACS error otherwise."""
        if value is None or value == "":
            raise TelexError(
                ErrorCode.API_VERSION_UNSPECIFIED, "An API version is required, but was not specified."
            )
        if value in self._accepted:
            return value
        code = ErrorCode.UNSUPPORTED_API_VERSION if _SHAPE.match(value) else ErrorCode.INVALID_API_VERSION
        shown = value if len(value) <= 64 else value[:64] + "…"
        raise TelexError(
            code,
            f"The HTTP resource that matches the request URI '{url}' "
            f"does not support the API version '{shown}'.",
        )

    def check(self, request: Request) -> str:
        plain = self._plain.get(request.scope.get("query_string", b""))
        if plain is not None:
            return plain
        values = request.query_params.getlist("api-version")
        if len(values) > 1 and len(set(values)) > 1:
            raise TelexError(
                ErrorCode.INVALID_API_VERSION, "The api-version parameter was given more than once."
            )
        value = values[0] if values else None
        if value in self._accepted:
            return value  # the usual case: no URL to build for a message nobody reads
        return self.check_value(value, str(request.url.replace(query="")))

    @property
    def dependency(self) -> Callable[..., Awaitable[str]]:
        """A FastAPI dependency: checks the request and documents the parameter."""
        versions = self
        described = f"The {self.api} API version: {', '.join(self.versions)}."

        # A default value, not ``Annotated``: annotations are strings here (PEP 563), and FastAPI
        # resolves them in the module, where ``described`` does not exist.
        param = Query(
            None, alias="api-version", description=described, json_schema_extra={"enum": list(self.versions)}
        )

        async def api_version(request: Request, _: str | None = param) -> str:
            return versions.check(request)

        return api_version
