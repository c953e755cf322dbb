"""OpenTelemetry traces, metrics and log correlation for unipay (``pip install unipay[otel]``).

Built only on unipay's public observation hooks (``unipay_observe_operation`` and
``unipay_observe_delivery``, see ``docs/hooks.md``), so another telemetry system can be wired the
same way. Depends on ``opentelemetry-api`` alone: spans and metrics go wherever the application's
SDK sends them, and nowhere (at no cost beyond the API's no-ops) when it configured none.

Enable it for every gateway created afterwards with :func:`instrument`, or for one gateway with
``Gateway(plugins=[unipay.otel.plugin()])``. Not enabled, this module is never imported and
unipay registers no observer: an unobserved gateway skips all observation.

No personal data leaves by default: no e-mail address, payment-method token, description,
return URL or metadata value. ``record_personal_data=True`` adds them (for a test environment).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.trace import Span, SpanContext, SpanKind, Status, StatusCode

from unipay.errors import PaymentDeclined, WebhookVerificationError
from unipay.hookspecs import AttemptCall, OperationCall, StoreCall, hookimpl
from unipay.models import Payment, Refund, WebhookEvent
from unipay.plugins import register_global_plugin, unregister_global_plugin

__all__ = [
    "OpenTelemetryPlugin",
    "TraceContextFilter",
    "instrument",
    "plugin",
    "uninstrument",
]

#: The instrumentation scope of every span and instrument.
SCOPE = "unipay"

# Attribute names (docs/observability.md lists them with their meaning).
PROVIDER = "unipay.provider"
OPERATION = "unipay.operation"
ATTEMPT = "unipay.attempt"
ATTEMPTS = "unipay.attempts"
REPLAYED = "unipay.idempotency.replayed"
OUTCOME = "unipay.outcome"
DECLINE_CODE = "unipay.decline_code"
ERROR_TYPE = "error.type"
RETRIABLE = "unipay.retriable"
AMOUNT = "unipay.amount"
CURRENCY = "unipay.currency"
PAYMENT_ID = "unipay.payment_id"
REFUND_ID = "unipay.refund_id"
STATUS = "unipay.status"
STORE_METHOD = "unipay.store.method"
STORE_SCOPE = "unipay.store.scope"
EVENT_ID = "unipay.webhook.event_id"
EVENT_TYPE = "unipay.webhook.event_type"

#: Seconds, from a fast in-memory call to a slow provider's timeout.
_SECONDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

logger = logging.getLogger("unipay")
_NOTHING = contextlib.nullcontext()


class OpenTelemetryPlugin:
    """The unipay plugin that turns observed operations and deliveries into spans and metrics.

    Args:
        tracer_provider: where spans go; the global one (``trace.set_tracer_provider``) if None.
        meter_provider: where metrics go; the global one if None.
        record_personal_data: also record the customer's e-mail, the payment-method token, the
            description and metadata values. Off by default: traces often leave the PCI/GDPR
            perimeter that payment data must stay in.
        linked_payments: how many payments' last traces to remember, so that a webhook delivery
            about one of them links to the trace of the operation that caused it.
        store_spans: a span per store call (claim, complete, ...). False halves the spans of a
            payment: worth it when the store is in memory and every microsecond counts.
    """

    def __init__(
        self,
        *,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
        record_personal_data: bool = False,
        linked_payments: int = 10_000,
        store_spans: bool = True,
    ) -> None:
        from unipay import __version__

        self.tracer = trace.get_tracer(SCOPE, __version__, tracer_provider)
        meter = metrics.get_meter(SCOPE, __version__, meter_provider)
        self.record_personal_data = record_personal_data
        self.store_spans = store_spans
        self.operations = meter.create_counter(
            "unipay.operations", "{operation}", "Gateway operations by provider, name and outcome"
        )
        self.operation_duration = meter.create_histogram(
            "unipay.operation.duration",
            "s",
            "Duration of gateway operations, idempotency and retries included",
            explicit_bucket_boundaries_advisory=_SECONDS,
        )
        self.provider_duration = meter.create_histogram(
            "unipay.provider.duration",
            "s",
            "Duration of single provider calls (one per attempt)",
            explicit_bucket_boundaries_advisory=_SECONDS,
        )
        self.retries = meter.create_counter(
            "unipay.provider.retries", "{retry}", "Provider calls that retried a transient failure"
        )
        self.replays = meter.create_counter(
            "unipay.idempotency.replays", "{operation}", "Operations answered from the store"
        )
        self.in_progress = meter.create_up_down_counter(
            "unipay.idempotency.in_progress", "{key}", "Idempotency keys held by running calls"
        )
        self.deliveries = meter.create_counter(
            "unipay.webhook.deliveries", "{delivery}", "Webhook deliveries by provider and outcome"
        )
        self._linked_payments = linked_payments
        self._last_trace: OrderedDict[str, SpanContext] = OrderedDict()
        self._lock = threading.Lock()

    @hookimpl
    def unipay_observe_operation(self, call: OperationCall) -> _Operation:
        return _Operation(self, call)

    @hookimpl
    def unipay_observe_delivery(self, provider: str) -> _Delivery:
        return _Delivery(self, provider)

    # --- payment id -> the span context of its last operation (bounded, most recent kept) ----

    def remember(self, payment_id: str, span_context: SpanContext) -> None:
        with self._lock:
            self._last_trace[payment_id] = span_context
            self._last_trace.move_to_end(payment_id)
            while len(self._last_trace) > self._linked_payments:
                self._last_trace.popitem(last=False)

    def last_trace(self, payment_id: str) -> SpanContext | None:
        with self._lock:
            return self._last_trace.get(payment_id)


def _request_attributes(call: OperationCall, personal: bool) -> dict[str, Any]:
    attributes: dict[str, Any] = {PROVIDER: call.provider, OPERATION: call.operation}
    if call.payment_id is not None:
        attributes[PAYMENT_ID] = call.payment_id
    request = call.request
    if request is None:
        return attributes
    fields = request.__dict__
    if fields.get("amount") is not None:
        attributes[AMOUNT] = fields["amount"]
    if fields.get("currency") is not None:
        attributes[CURRENCY] = fields["currency"]
    if personal:
        for name in ("customer_email", "payment_method", "description", "return_url"):
            if fields.get(name) is not None:
                attributes[f"unipay.{name}"] = fields[name]
        metadata: Mapping[str, str] = fields.get("metadata") or {}
        for key, value in metadata.items():
            attributes[f"unipay.metadata.{key}"] = value
    return attributes


def _error_attributes(span: Span, error: BaseException) -> dict[str, Any]:
    """Mark ``span`` failed by ``error`` (its type, never its text: it may quote a payload)."""
    attributes: dict[str, Any] = {
        ERROR_TYPE: type(error).__qualname__,
        RETRIABLE: bool(getattr(error, "retriable", False)),
    }
    if isinstance(error, PaymentDeclined):
        attributes[DECLINE_CODE] = error.decline_code
    span.set_attributes(attributes)
    span.set_status(Status(StatusCode.ERROR))
    return attributes


class _Operation:
    """One operation: a span from its claim to its end, and its metrics."""

    __slots__ = ("attempts", "call", "context", "holding", "labels", "plugin", "span", "started")

    def __init__(self, plugin: OpenTelemetryPlugin, call: OperationCall) -> None:
        self.plugin = plugin
        self.call = call
        self.labels = {PROVIDER: call.provider, OPERATION: call.operation}
        self.span = plugin.tracer.start_span(
            f"unipay {call.operation}",
            kind=SpanKind.INTERNAL,
            attributes=_request_attributes(call, plugin.record_personal_data),
        )
        # Children name their parent explicitly: this span is never made current across the
        # flow's yields, only each attempt's and store call's own span around its effect.
        self.context = trace.set_span_in_context(self.span)
        self.started = time.perf_counter()
        self.attempts = 0
        self.holding = False

    def claimed(self) -> None:
        self.holding = True
        self.plugin.in_progress.add(1, self.labels)

    def attempt(self, attempt: AttemptCall) -> _Child:
        self.attempts = attempt.attempt
        if attempt.attempt > 1:
            self.plugin.retries.add(1, self.labels)
        return _Child(
            self,
            f"{self.call.provider} {self.call.operation}",
            SpanKind.CLIENT,
            {**self.labels, ATTEMPT: attempt.attempt},
            timed=True,
        )

    def store(self, call: StoreCall) -> AbstractContextManager[object]:
        if not self.plugin.store_spans:
            return _NOTHING
        return _Child(self, f"unipay.store {call.method}", SpanKind.INTERNAL, _store(call))

    def finished(
        self, result: Payment | Refund | None, error: BaseException | None, replayed: bool
    ) -> None:
        span, plugin = self.span, self.plugin
        attributes: dict[str, Any] = {REPLAYED: replayed, ATTEMPTS: self.attempts}
        payment_id = self.call.payment_id
        if isinstance(result, Payment):
            payment_id = result.id
            attributes[STATUS] = result.status.value
        elif isinstance(result, Refund):
            attributes[REFUND_ID] = result.id
            attributes[STATUS] = result.status.value
        if error is None:
            outcome = "success"
        else:
            outcome = "declined" if isinstance(error, PaymentDeclined) else "error"
            _error_attributes(span, error)
            if isinstance(error, PaymentDeclined) and error.payment is not None:
                payment_id = error.payment.id
                attributes[STATUS] = error.payment.status.value
        attributes[OUTCOME] = outcome
        if payment_id is not None:
            attributes[PAYMENT_ID] = payment_id
            plugin.remember(payment_id, span.get_span_context())
        span.set_attributes(attributes)
        span.end()
        labels = {**self.labels, OUTCOME: outcome}
        plugin.operations.add(1, labels)
        plugin.operation_duration.record(time.perf_counter() - self.started, labels)
        if replayed:
            plugin.replays.add(1, self.labels)
        if self.holding:
            plugin.in_progress.add(-1, self.labels)


def _store(call: StoreCall) -> dict[str, Any]:
    if call.scope is None:
        return {STORE_METHOD: call.method}
    return {STORE_METHOD: call.method, STORE_SCOPE: call.scope}


class _Child:
    """A span current around one effect (a provider attempt or a store call).

    Started and made current on enter, ended on exit; the context is attached and detached in
    the same thread or task, around a single effect, so it never leaks across the flow's other
    steps or into another task."""

    __slots__ = ("attributes", "kind", "name", "parent", "span", "started", "timed", "token")

    def __init__(
        self,
        parent: _Operation | _Delivery,
        name: str,
        kind: SpanKind,
        attributes: dict[str, Any],
        timed: bool = False,
    ) -> None:
        self.parent = parent
        self.name = name
        self.kind = kind
        self.attributes = attributes
        self.timed = timed

    def __enter__(self) -> Span:
        self.span = self.parent.plugin.tracer.start_span(
            self.name, self.parent.context, self.kind, self.attributes
        )
        self.token = otel_context.attach(trace.set_span_in_context(self.span))
        self.started = time.perf_counter()
        return self.span

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        elapsed = time.perf_counter() - self.started
        otel_context.detach(self.token)
        labels = self.attributes
        if exc is not None:
            labels = {**labels, **_error_attributes(self.span, exc)}
            labels.pop(DECLINE_CODE, None)  # a metric label with few values only
        self.span.end()
        if self.timed:
            labels = {key: value for key, value in labels.items() if key != ATTEMPT}
            labels[OUTCOME] = "success" if exc is None else "error"
            self.parent.plugin.provider_duration.record(elapsed, labels)


class _Delivery:
    """One webhook delivery: a span linked to the trace of its payment's last operation."""

    __slots__ = ("context", "event_type", "plugin", "provider", "span")

    def __init__(self, plugin: OpenTelemetryPlugin, provider: str) -> None:
        self.plugin = plugin
        self.provider = provider
        self.span = plugin.tracer.start_span(
            "unipay webhook", kind=SpanKind.CONSUMER, attributes={PROVIDER: provider}
        )
        self.context = trace.set_span_in_context(self.span)
        self.event_type: str | None = None

    def verified(self, event: WebhookEvent) -> None:
        self.event_type = event.type.value
        attributes: dict[str, Any] = {EVENT_ID: event.id, EVENT_TYPE: event.type.value}
        payment_id = event.payment.id if event.payment is not None else None
        if payment_id is None and event.refund is not None:
            payment_id = event.refund.payment_id
        if payment_id is not None:
            attributes[PAYMENT_ID] = payment_id
            linked = self.plugin.last_trace(payment_id)
            if linked is not None:
                self.span.add_link(linked, {PAYMENT_ID: payment_id})
        self.span.set_attributes(attributes)

    def store(self, call: StoreCall) -> AbstractContextManager[object]:
        if not self.plugin.store_spans:
            return _NOTHING
        return _Child(self, f"unipay.store {call.method}", SpanKind.INTERNAL, _store(call))

    def handlers(self, event: WebhookEvent) -> _Child:
        attributes = {EVENT_TYPE: event.type.value}
        return _Child(self, "unipay.webhook handlers", SpanKind.INTERNAL, attributes)

    def finished(self, outcome: str | None, error: BaseException | None) -> None:
        if error is not None:
            _error_attributes(self.span, error)
            outcome = "rejected" if isinstance(error, WebhookVerificationError) else "error"
        assert outcome is not None
        self.span.set_attribute(OUTCOME, outcome)
        self.span.end()
        labels = {PROVIDER: self.provider, OUTCOME: outcome}
        if self.event_type is not None:
            labels[EVENT_TYPE] = self.event_type
        self.plugin.deliveries.add(1, labels)


class TraceContextFilter(logging.Filter):
    """Adds the current trace to every record: ``otelTraceID``, ``otelSpanID`` (hex, as the
    OpenTelemetry logging instrumentation names them; ``"0"`` outside any span) and
    ``otelTraceSampled``. Use them in a format: ``%(otelTraceID)s %(otelSpanID)s``."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            record.otelTraceID = trace.format_trace_id(context.trace_id)
            record.otelSpanID = trace.format_span_id(context.span_id)
            record.otelTraceSampled = context.trace_flags.sampled
        else:
            record.otelTraceID = record.otelSpanID = "0"
            record.otelTraceSampled = False
        return True


#: unipay's loggers: a logger's filters apply only to records logged on it, not its children.
LOGGERS = ("unipay", "unipay.webhooks", "unipay.server", "unipay.storage")

_state: dict[str, Any] = {}
_state_lock = threading.Lock()


def plugin(
    *,
    tracer_provider: trace.TracerProvider | None = None,
    meter_provider: metrics.MeterProvider | None = None,
    record_personal_data: bool = False,
    store_spans: bool = True,
) -> OpenTelemetryPlugin:
    """A plugin for one gateway: ``Gateway(plugins=[unipay.otel.plugin()])``. The options are
    :class:`OpenTelemetryPlugin`'s."""
    return OpenTelemetryPlugin(
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
        record_personal_data=record_personal_data,
        store_spans=store_spans,
    )


def instrument(
    *,
    tracer_provider: trace.TracerProvider | None = None,
    meter_provider: metrics.MeterProvider | None = None,
    record_personal_data: bool = False,
    store_spans: bool = True,
    logs: bool = True,
) -> OpenTelemetryPlugin:
    """Trace and measure every gateway and webhook app created from now on (create them after
    this call); with ``logs``, unipay's log records carry trace and span ids. Calling it again
    replaces the previous instrumentation."""
    made = plugin(
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
        record_personal_data=record_personal_data,
        store_spans=store_spans,
    )
    with _state_lock:
        _uninstrument()
        register_global_plugin(made)
        _state["plugin"] = made
        if logs:
            log_filter = TraceContextFilter()
            for name in LOGGERS:
                logging.getLogger(name).addFilter(log_filter)
            _state["filter"] = log_filter
    return made


def uninstrument() -> None:
    """Stop instrumenting gateways created from now on, and remove the log filter."""
    with _state_lock:
        _uninstrument()


def _uninstrument() -> None:
    installed = _state.pop("plugin", None)
    if installed is not None:
        unregister_global_plugin(installed)
    log_filter = _state.pop("filter", None)
    if log_filter is not None:
        for name in LOGGERS:
            logging.getLogger(name).removeFilter(log_filter)
