"""Map every error to the OpenAI envelope `{"error": {message, type, param, code}}`."""

from __future__ import annotations

import logging

import orjson
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from assistantd.errors import AssistantdError, InvalidRequestError, NotFoundError

log = logging.getLogger("assistantd.api")


def envelope_response(error: AssistantdError) -> Response:
    return Response(
        orjson.dumps(error.envelope()),
        status_code=error.status_code,
        headers=error.headers,
        media_type="application/json",
    )


async def _assistantd_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AssistantdError)
    if exc.status_code >= 500:
        log.error("request_id=%s %s", getattr(request.state, "request_id", "-"), exc.message)
    return envelope_response(exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        error: AssistantdError = NotFoundError(
            f"Invalid URL ({request.method} {request.url.path})", code="unknown_url"
        )
    elif exc.status_code == 405:
        error = InvalidRequestError(
            f"Invalid method for URL ({request.method} {request.url.path})",
            code="method_not_allowed",
        )
        error.status_code = 405
    else:
        error = InvalidRequestError(str(exc.detail))
        error.status_code = exc.status_code
    return envelope_response(error)


async def _framework_validation_error(request: Request, exc: Exception) -> Response:
    # Our routes parse their own input; this only guards against a 422 ever leaking out.
    return envelope_response(InvalidRequestError(f"Invalid request: {exc}"))


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AssistantdError, _assistantd_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _framework_validation_error)
