"""The REST boundary of the error taxonomy: every failure leaves as the ACS error body.

    {"error": {"code": "<ErrorCode.wire>", "message": "..."}}   with status ErrorCode.status

Framework errors (unknown route, wrong method, validation) are translated here too, so no
client ever sees a framework's own error shape or an HTML page.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response

from telex.core.errors import ErrorCode, TelexError

__all__ = ["ErrorBody", "ErrorResponse", "error_response", "install_error_handlers"]

log = logging.getLogger(__name__)


class ErrorBody(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    error: ErrorBody


_BY_STATUS = {
    400: ErrorCode.BAD_REQUEST,
    401: ErrorCode.UNAUTHORIZED,
    403: ErrorCode.FORBIDDEN,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    413: ErrorCode.PAYLOAD_TOO_LARGE,
    415: ErrorCode.UNSUPPORTED_MEDIA_TYPE,
}


def error_response(exc: TelexError) -> JSONResponse:
    headers = {"x-ms-error-code": exc.code.wire}
    if exc.retry_after is not None:
        headers["Retry-After"] = str(max(1, round(exc.retry_after)))
    return JSONResponse(
        {"error": {"code": exc.code.wire, "message": exc.message}}, status_code=exc.status, headers=headers
    )


def _validation_message(exc: RequestValidationError) -> TelexError:
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return TelexError(ErrorCode.INVALID_JSON, "The request body is not valid JSON.")
    parts = []
    for e in errors[:5]:
        loc = ".".join(str(p) for p in e.get("loc", ()) if p != "body")
        parts.append(f"{loc or 'body'}: {e.get('msg', 'invalid')}")
    return TelexError(ErrorCode.VALIDATION_FAILED, "Invalid request: " + "; ".join(parts) + ".")


async def _on_telex_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, TelexError)
    return error_response(exc)


async def _on_validation_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return error_response(_validation_message(exc))


async def _on_http_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = _BY_STATUS.get(
        exc.status_code, ErrorCode.BAD_REQUEST if exc.status_code < 500 else ErrorCode.INTERNAL
    )
    message = {
        404: "The requested resource does not exist.",
        405: "The method is not allowed on this resource.",
    }.get(exc.status_code, str(exc.detail))
    response = error_response(TelexError(code, message))
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def _on_unexpected(_: Request, exc: Exception) -> Response:
    log.error("unhandled error", exc_info=exc)
    return error_response(TelexError(ErrorCode.INTERNAL, "An internal error occurred."))


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(TelexError, _on_telex_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(Exception, _on_unexpected)
