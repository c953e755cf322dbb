"""``WebhookApp``: a plain ASGI 3 application receiving ``POST /{provider}`` deliveries.

No web framework: mount it in Starlette or FastAPI, put it next to Django's ASGI handler, or
serve it alone with uvicorn or hypercorn. Answers:

* 200 processed, or a duplicate of a processed event (handlers not run again);
* 400 bad signature or malformed payload (handlers never called), or a bad Content-Length; also
  whatever else the provider's plugin raises while verifying and reading a delivery, except a
  transient unipay error: the same bytes would fail again, so 5xx (retry) would be a lie;
* 404 unknown provider (or one without webhooks); 405 anything but POST; 413 body too large;
* 409 the same event is being handled by another delivery right now: the provider retries
  later and then gets 200 (the first succeeded) or runs the handlers (the first failed);
* 500 a handler raised, or the store failed: the event is not marked processed, so the
  provider's redelivery runs the handlers again.

One log line per delivery on ``unipay.webhooks``: provider, event id, type, outcome, status,
duration, and for a refusal the reason; never a secret or a payload.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any, TypeVar

from unipay._flow import Flow, arun, call
from unipay.errors import (
    InvalidRequest,
    ProviderNotConfigured,
    ProviderNotFound,
    UnipayError,
    UnsupportedOperation,
    WebhookVerificationError,
)
from unipay.gateway import AsyncGateway, Gateway
from unipay.models import WebhookEvent, WebhookEventType
from unipay.provider import Provider
from unipay.webhooks.delivery import (
    DeliveryContext,
    DeliveryFailed,
    Handler,
    HandlerFailed,
    Handlers,
    Outcome,
    as_events,
    deliver,
    known_event_type,
)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
H = TypeVar("H", bound=Handler)

logger = logging.getLogger("unipay.webhooks")

DEFAULT_MAX_BODY_SIZE = 1024 * 1024
#: Providers retry for days (Stripe: three); an event id is remembered longer than that.
DEFAULT_DEDUPLICATION_WINDOW = 7 * 24 * 3600.0
_ROUTE = re.compile(r"^/([a-z][a-z0-9_-]{0,39})/?$")
_STATUS_OF = {Outcome.PROCESSED: 200, Outcome.DUPLICATE: 200, Outcome.IN_PROGRESS: 409}
#: ``json.dumps`` with separators builds an encoder per call; this one is built once.
_JSON = json.JSONEncoder(separators=(",", ":"))


@dataclass
class _Report:
    """What the delivery's log line says."""

    provider: str = "-"
    event_id: str = "-"
    event_type: str = "-"
    outcome: str = "-"
    status: int = 0
    error: BaseException | None = None
    #: Why a delivery was refused: shown in the log line, never the payload.
    reason: str = ""


class WebhookApp:
    """Verified, deduplicated, unified webhook events for every provider of a gateway."""

    def __init__(
        self,
        gateway: Gateway | AsyncGateway,
        *,
        max_body_size: int = DEFAULT_MAX_BODY_SIZE,
        deduplication_window: float = DEFAULT_DEDUPLICATION_WINDOW,
    ) -> None:
        """An ASGI application that receives the webhooks of ``gateway``'s providers.

        Args:
            gateway: its providers verify deliveries, its store deduplicates them and keeps
                payments current, its plugins receive the ``unipay_webhook_event`` hook.
            max_body_size: larger bodies are refused with 413 before they are read in full.
            deduplication_window: seconds an event id is remembered as processed.
        """
        if max_body_size < 1:
            raise InvalidRequest(
                "max_body_size must be a positive number of bytes", param="max_body_size"
            )
        self.gateway = gateway
        self.max_body_size = max_body_size
        self._handlers = Handlers(gateway.plugin_manager)
        self._context = DeliveryContext(
            store=gateway.store,
            handlers=self._handlers,
            lock_timeout=gateway.idempotency.lock_timeout,
            retention=deduplication_window,
        )

    def __repr__(self) -> str:
        return f"<WebhookApp providers={self.gateway.providers.names()}>"

    def on(self, *event_types: str | WebhookEventType) -> Callable[[H], H]:
        """Register a handler (``def`` or ``async def``) for these unified types, or ``"*"``.

        ``@app.on("payment.succeeded", "payment.failed")``. Several handlers per type run in
        registration order; a handler that raises makes the delivery fail with 500.
        """
        names = [str(t.value if isinstance(t, WebhookEventType) else t) for t in event_types]
        unknown = [n for n in names if not known_event_type(n)]
        if not names or unknown:
            choices = ", ".join(t.value for t in WebhookEventType)
            raise InvalidRequest(
                f"unknown event type(s) {unknown}: use '*' or one of {choices}",
                param="event_type",
            )

        def register(handler: H) -> H:
            for name in names:
                self._handlers.add(name, handler)
            return handler

        return register

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            await receive()
            await send({"type": "websocket.close", "code": 1000})
            return
        started = time.perf_counter()
        report = _Report()
        status, body, extra = await self._respond(scope, receive, report)
        if status == 0:  # the client went away before the body was read
            return
        report.status = status
        if isinstance(body, str):  # the provider's own acknowledgement text
            raw, kind = body.encode(), b"text/plain; charset=utf-8"
        else:
            raw, kind = _JSON.encode(body).encode(), b"application/json"
        headers = [(b"content-type", kind), (b"content-length", b"%d" % len(raw))]
        await send({"type": "http.response.start", "status": status, "headers": headers + extra})
        await send({"type": "http.response.body", "body": raw})
        _log(report, time.perf_counter() - started)

    async def _respond(
        self, scope: Scope, receive: Receive, report: _Report
    ) -> tuple[int, dict[str, Any] | str, list[tuple[bytes, bytes]]]:
        match = _ROUTE.match(_route_path(scope))
        if match is None:
            return _error(report, 404, "not_found", "POST deliveries to /{provider}.")
        report.provider = match.group(1)
        provider = self._provider(report.provider)
        if provider is None:
            return _error(report, 404, "not_found", "No provider receives webhooks here.")
        if scope["method"] != "POST":
            status, error, _ = _error(report, 405, "method_not_allowed", "Use POST.")
            return status, error, [(b"allow", b"POST")]
        headers = _headers(scope)
        body = await _read_body(receive, headers.get("content-length"), self.max_body_size)
        if isinstance(body, int):
            if body == 0:
                return 0, {}, []
            if body == 400:
                return _error(report, 400, "bad_request", "Content-Length is not a number.")
            return _error(
                report, 413, "body_too_large", f"The limit is {self.max_body_size} bytes."
            )
        try:
            delivered = await arun(
                deliver(self._context, provider, body, headers, verify=_guarded_verify)
            )
        except WebhookVerificationError as rejected:
            report.reason = rejected.message
            return _error(report, 400, rejected.code, rejected.message)
        except _Unreadable as unreadable:
            report.reason = unreadable.reason
            refusal = _error(report, 400, unreadable.code, unreadable.message)
            report.outcome = "unreadable"
            return refusal
        except (UnsupportedOperation, ProviderNotConfigured) as unable:
            logger.warning("webhook for provider %s refused: %s", provider.name, unable.message)
            return _error(report, 404, "not_found", "No provider receives webhooks here.")
        except (HandlerFailed, DeliveryFailed) as failure:
            failed = failure if isinstance(failure, HandlerFailed) else failure.failed
            report.event_id, report.event_type = failed.event.id, failed.event.type.value
            report.error = failed.__cause__
            return _error(report, 500, "handler_failed", "A handler failed; send it again.")
        except Exception as error:
            report.error = error
            return _error(report, 500, "internal_error", "The delivery could not be recorded.")
        event = delivered.event
        report.event_id, report.event_type = event.id, event.type.value
        report.outcome = delivered.outcome.value
        status = _STATUS_OF[delivered.outcome]
        extra = [(b"retry-after", b"5")] if delivered.outcome is Outcome.IN_PROGRESS else []
        if status == 200 and provider.webhook_acknowledgement is not None:
            return status, provider.webhook_acknowledgement, extra
        answer: dict[str, Any] = {
            "received": True,
            "id": event.id,
            "type": event.type.value,
            "outcome": delivered.outcome.value,
        }
        if len(delivered.events) > 1:
            answer["events"] = [
                {"id": each.id, "type": each.type.value, "outcome": outcome.value}
                for each, outcome in delivered.events
            ]
        return status, answer, extra

    def _provider(self, name: str) -> Provider | None:
        try:
            provider = self.gateway.providers.get(name)
        except ProviderNotFound:
            return None
        except ProviderNotConfigured as error:
            logger.warning("webhook for provider %s refused: %s", name, error.message)
            return None
        if not provider.capabilities.webhooks:
            return None
        return provider


class _Unreadable(Exception):
    """The provider's plugin raised while verifying or reading a delivery."""

    def __init__(self, reason: str, code: str, message: str) -> None:
        super().__init__(reason)
        self.reason, self.code, self.message = reason, code, message


def _guarded_verify(
    provider: Provider, body: bytes, headers: dict[str, str]
) -> Flow[list[WebhookEvent]]:
    """The provider's verify step, failing only in ways the app answers correctly.

    A plugin that cannot read a delivery (a bug, a payload shape it never met) would otherwise
    surface as a 500, and providers redeliver a 5xx for days although the same bytes fail every
    time. Anything it raises becomes `_Unreadable` (400, the reason logged), except unipay
    errors that already have their answer or are transient (``retriable``: the provider's API
    or the store is down, and a redelivery may succeed).
    """
    try:
        verified = yield from call(provider.verify_webhook, body, headers)
    except Exception as error:
        unreadable = _unreadable(provider, error)
        if unreadable is None:
            raise
        raise unreadable from error
    try:
        return as_events(provider, verified)
    except TypeError as wrong:
        raise _Unreadable(str(wrong), "unreadable_delivery", _UNREADABLE) from None


def _unreadable(provider: Provider, error: Exception) -> _Unreadable | None:
    """What the app answers for ``error``, or None to let it through as it is."""
    plugin = type(provider).__name__
    if isinstance(error, WebhookVerificationError | UnsupportedOperation | ProviderNotConfigured):
        return None
    if isinstance(error, UnipayError):
        if error.retriable:
            return None
        reason = f"{plugin}.verify_webhook raised {type(error).__name__}: {error.message}"
        return _Unreadable(reason, error.code, error.message)
    # Only the type and the place: the exception's text may quote the payload.
    reason = f"{plugin}.verify_webhook raised {type(error).__name__} {_place(error)}"
    return _Unreadable(reason, "unreadable_delivery", _UNREADABLE)


_UNREADABLE = "The provider's plugin could not read this delivery; the receiver's log says why."


def _place(error: BaseException) -> str:
    """Where an exception was raised: ``(at package/module.py:12 in function)``."""
    trace = error.__traceback__
    if trace is None:
        return ""
    while trace.tb_next is not None:
        trace = trace.tb_next
    code = trace.tb_frame.f_code
    path = "/".join(code.co_filename.replace("\\", "/").split("/")[-2:])
    return f"(at {path}:{trace.tb_lineno} in {code.co_name})"


def _route_path(scope: Scope) -> str:
    """The path below ``root_path``: servers and Mount may or may not leave the prefix in."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root) and path[len(root) : len(root) + 1] in ("/", ""):
        return path[len(root) :]
    return path


def _headers(scope: Scope) -> dict[str, str]:
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope["headers"]:
        name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return headers


async def _read_body(receive: Receive, length: str | None, limit: int) -> bytes | int:
    """The raw body, or 0 (client gone), 400 (bad Content-Length) or 413 (over ``limit``)."""
    if length is not None:
        if not length.isascii() or not length.strip().isdigit():
            return 400
        if int(length) > limit:
            return 413
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return 0
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return 413
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


#: The error ``type`` by status, as unipay's REST API names them (its error classes).
_ERROR_TYPES = {400: "InvalidRequest", 500: "InternalError"}


def _error(
    report: _Report, status: int, code: str, message: str
) -> tuple[int, dict[str, Any], list[tuple[bytes, bytes]]]:
    """The REST API's error shape (``unipay.server.errors.ErrorDetail``), so a client reads a
    refused delivery the way it reads any other unipay error."""
    report.outcome = "rejected" if status < 500 else "failed"
    kind = _ERROR_TYPES.get(status, "HTTPError")
    if code == "webhook_verification_failed":
        kind = "WebhookVerificationError"
    detail = {
        "type": kind,
        "code": code,
        "message": message,
        "param": None,
        "provider": None,
        "provider_code": None,
        "request_id": None,
        "retriable": status >= 500,
        "decline_code": None,
        "payment": None,
    }
    return status, {"error": detail}, []


def _log(report: _Report, seconds: float) -> None:
    level = logging.ERROR if report.status >= 500 else logging.INFO
    if report.outcome == "unreadable":
        level = logging.WARNING  # a plugin that cannot read what its provider sends
    if not logger.isEnabledFor(level):
        return
    fields = {
        "provider": report.provider,
        "event_id": report.event_id,
        "event_type": report.event_type,
        "outcome": report.outcome,
        "status": report.status,
        "duration_ms": round(seconds * 1000, 2),
    }
    if report.reason:
        fields["reason"] = report.reason
    logger.log(
        level,
        "webhook %s",
        " ".join(f"{k}={json.dumps(v) if k == 'reason' else v}" for k, v in fields.items()),
        extra={"webhook": fields},
        exc_info=report.error,
    )


async def _lifespan(receive: Receive, send: Send) -> None:
    """Served alone, the app has nothing to start or stop; say so instead of failing."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
