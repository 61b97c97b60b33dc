"""One error taxonomy for the whole server.

Domain code raises ``TelexError(ErrorCode.X, "message")``; each boundary maps it once:
REST turns it into the ACS error body ``{"error": {"code", "message"}}`` with ``code.status``,
the realtime gateway into an error frame or close code, the Python SDK re-raises the same code.

The ``code`` strings are part of the wire contract: clients match on them, so never rename one.
Messages must not help an attacker (no "which part of the signature was wrong").
"""

from __future__ import annotations

from enum import Enum

__all__ = ["ErrorCode", "TelexError"]


class ErrorCode(Enum):
    """Stable error codes, each with its HTTP status."""

    def __init__(self, wire: str, status: int) -> None:
        self.wire = wire
        self.status = status

    # 400
    BAD_REQUEST = ("BadRequest", 400)
    INVALID_JSON = ("InvalidJson", 400)
    VALIDATION_FAILED = ("ValidationFailed", 400)
    # api-version (ASP.NET API versioning's codes, which ACS returns)
    API_VERSION_UNSPECIFIED = ("ApiVersionUnspecified", 400)
    INVALID_API_VERSION = ("InvalidApiVersion", 400)
    UNSUPPORTED_API_VERSION = ("UnsupportedApiVersion", 400)
    # 401 / 403
    UNAUTHORIZED = ("Unauthorized", 401)
    INVALID_TOKEN = ("InvalidToken", 401)
    FORBIDDEN = ("Forbidden", 403)
    # 404 / 405 / 409
    NOT_FOUND = ("NotFound", 404)
    IDENTITY_NOT_FOUND = ("IdentityNotFound", 404)
    METHOD_NOT_ALLOWED = ("MethodNotAllowed", 405)
    CONFLICT = ("Conflict", 409)
    # A call already has as many participants as a mesh call may have (calling.max_participants).
    CALL_FULL = ("CallFull", 409)
    # 412 / 413 / 415 / 429
    PRECONDITION_FAILED = ("PreconditionFailed", 412)
    PAYLOAD_TOO_LARGE = ("PayloadTooLarge", 413)
    UNSUPPORTED_MEDIA_TYPE = ("UnsupportedMediaType", 415)
    TOO_MANY_REQUESTS = ("TooManyRequests", 429)
    # 5xx
    INTERNAL = ("InternalError", 500)
    # An ACS API this server does not have yet (web/unsupported.py), or one that needs something
    # it does not run (a speech service, the PSTN gateway); the message says what.
    NOT_IMPLEMENTED = ("NotImplemented", 501)
    UNAVAILABLE = ("ServiceUnavailable", 503)


class TelexError(Exception):
    """A failure with a stable code; the message is safe to show to the caller."""

    def __init__(self, code: ErrorCode, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after = retry_after

    @property
    def status(self) -> int:
        return self.code.status

    def __repr__(self) -> str:
        return f"TelexError({self.code.wire!r}, {self.message!r})"
