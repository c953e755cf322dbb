"""The one place where unipay errors become HTTP statuses and JSON error bodies.

The body is Stripe's error shape under an ``error`` key. Statuses follow Stripe and the IETF
Idempotency-Key draft: 402 for a decline, 422 for a key reused with another request, 409 (with
``Retry-After``) while the first request with a key is still running.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from unipay import errors
from unipay.models import Payment
from unipay.server.http_idempotency import REPLAYED_HEADER

logger = logging.getLogger("unipay.server")

#: Seconds a client should wait before retrying a 409 or a 503.
RETRY_AFTER_SECONDS = 1

#: Error class -> status; the most specific class in an error's MRO decides.
STATUS_OF: dict[type[errors.UnipayError], int] = {
    errors.InvalidRequest: 400,
    errors.UnsupportedOperation: 400,
    errors.ProviderNotFound: 400,
    errors.ProviderNotConfigured: 400,
    errors.WebhookVerificationError: 400,
    errors.PaymentDeclined: 402,
    errors.OperationVetoed: 403,
    errors.PaymentNotFound: 404,
    errors.IdempotencyInProgress: 409,
    errors.IdempotencyKeyReused: 422,
    errors.UnipayError: 500,
    errors.ProviderError: 502,
    errors.ProviderUnavailable: 503,
    errors.StoreUnavailable: 503,
}

_RETRY_LATER = {409, 503}


class ErrorDetail(BaseModel):
    """Stripe's error object; ``decline_code`` and ``payment`` come with 402 only."""

    type: str
    code: str
    message: str
    param: str | None = None
    provider: str | None = None
    provider_code: str | None = None
    request_id: str | None = None
    retriable: bool = False
    decline_code: str | None = None
    payment: Payment | None = None


class ErrorResponse(BaseModel):
    error: ErrorDetail


def status_of(error: errors.UnipayError) -> int:
    for cls in type(error).__mro__:
        if cls in STATUS_OF:
            return STATUS_OF[cls]
    raise AssertionError("unreachable: UnipayError is in the table")


def payment_body(payment: Payment) -> dict[str, Any]:
    """A payment as JSON; ``replayed`` travels as the ``Idempotent-Replayed`` header instead,
    so a replay's body is the original body."""
    return payment.model_dump(mode="json")


#: The 409's message: what an HTTP client does (the SDK's own message names its policy).
IN_PROGRESS_ADVICE = (
    "A request with this Idempotency-Key is still in progress. Send the same request with the "
    "same Idempotency-Key again after Retry-After seconds: it then gets the first request's "
    "answer, and nothing runs twice."
)


def error_response(error: errors.UnipayError) -> JSONResponse:
    status = status_of(error)
    headers: dict[str, str] = {}
    detail = ErrorDetail.model_validate(error.to_dict())
    if isinstance(error, errors.IdempotencyInProgress):
        detail = detail.model_copy(update={"message": IN_PROGRESS_ADVICE})
    if isinstance(error, errors.PaymentDeclined):
        detail = detail.model_copy(
            update={"decline_code": error.decline_code, "payment": error.payment}
        )
        if error.payment is not None and error.payment.replayed:
            headers[REPLAYED_HEADER] = "true"
    if status in _RETRY_LATER:
        headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    if status >= 500:
        logger.error("%s answered %d: %s", type(error).__name__, status, error.message)
    return _respond(status, detail, headers)


def _respond(
    status: int, detail: ErrorDetail, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = {"error": detail.model_dump(mode="json")}
    return JSONResponse(body, status_code=status, headers=headers)


def plain_error_body(type_: str, code: str, message: str) -> dict[str, Any]:
    """An error body for code outside FastAPI's handlers (ASGI middleware), same shape."""
    detail = ErrorDetail(type=type_, code=code, message=message)
    return {"error": detail.model_dump(mode="json")}


def unauthorized(message: str) -> JSONResponse:
    """401 with the challenge RFC 6750 asks for."""
    response = _plain_error(401, "AuthenticationError", "unauthorized", message)
    response.headers["WWW-Authenticate"] = 'Bearer realm="unipay"'
    return response


def _plain_error(status: int, type_: str, code: str, message: str, **extra: Any) -> JSONResponse:
    return _respond(status, ErrorDetail(type=type_, code=code, message=message, **extra))


async def _on_unipay_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, errors.UnipayError)
    return error_response(error)


async def _on_validation_error(request: Request, error: Exception) -> JSONResponse:
    """Bad JSON, a wrong type, a missing field: 400 naming the field, never echoing input."""
    assert isinstance(error, RequestValidationError)
    problems = list(error.errors())
    # A JSON syntax error is located at a character offset of the body, not at a field.
    locations = [
        "" if p["type"] == "json_invalid" else ".".join(str(part) for part in p["loc"][1:])
        for p in problems
    ]
    detail = "; ".join(
        f"{loc or 'body'}: {str(p['msg']).removeprefix('Value error, ')}"
        for loc, p in zip(locations, problems, strict=True)
    )
    param = locations[0] if locations and locations[0] else None
    return _plain_error(
        400, "InvalidRequest", "invalid_request", f"Invalid request: {detail}", param=param
    )


async def _on_http_error(request: Request, error: Exception) -> JSONResponse:
    """Starlette's own errors (unknown route, wrong method) in the same shape."""
    assert isinstance(error, HTTPException)
    response = _plain_error(error.status_code, "HTTPError", "http_error", str(error.detail))
    response.headers.update(error.headers or {})
    return response


async def _on_unexpected(request: Request, error: Exception) -> JSONResponse:
    """A bug: logged with its traceback, answered without details."""
    logger.exception("unexpected error on %s %s", request.method, request.url.path)
    return _plain_error(500, "InternalError", "internal_error", "An unexpected error occurred.")


class AuthenticationFailed(Exception):
    """The request lacks the server's API key; the message says what to send."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


async def _on_authentication_failed(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, AuthenticationFailed)
    return unauthorized(error.message)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AuthenticationFailed, _on_authentication_failed)
    app.add_exception_handler(errors.UnipayError, _on_unipay_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(HTTPException, _on_http_error)
    app.add_exception_handler(Exception, _on_unexpected)


def documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for these error statuses, plus a default, all in the error shape."""
    described: dict[int | str, dict[str, Any]] = {
        status: {"model": ErrorResponse, "description": _DESCRIPTIONS[status]}
        for status in statuses
    }
    described["default"] = {"model": ErrorResponse, "description": "Any other error."}
    for status in statuses:
        if status in _RETRY_LATER:
            described[status]["headers"] = {
                "Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}
            }
    return described


_DESCRIPTIONS = {
    400: "Invalid request, unknown or unconfigured provider, or a malformed or repeated "
    "Idempotency-Key header.",
    401: "UNIPAY_API_KEY is set and the request has no `Authorization: Bearer <key>` with it.",
    402: "The payment was declined; the error carries decline_code and the payment.",
    404: "No such payment at the provider.",
    409: "A request with this Idempotency-Key is still in progress; send it again with the same "
    "key after Retry-After seconds.",
    422: "This Idempotency-Key was already used with another request.",
    502: "The provider refused the call (e.g. its credentials on this server are wrong).",
    503: "The provider or the store is unavailable; retry with the same Idempotency-Key.",
}
