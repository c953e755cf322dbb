"""unipay.otel through the SDK's in-memory exporter and metric reader: span trees, attributes,
metrics and log correlation on both faces, and no personal data unless asked for."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanContext, SpanKind, StatusCode

import unipay.otel
from unipay import AsyncGateway, CallContext, Gateway, Payment, RetryPolicy, hookimpl
from unipay.errors import PaymentDeclined
from unipay.models import CreatePaymentRequest, PaymentStatus, WebhookEvent
from unipay.provider import Provider
from unipay.storage.sql import SQLStore
from unipay.webhooks import WebhookApp
from unipay_mock import MockProvider

Faces = type[Gateway] | type[AsyncGateway]


class Telemetry:
    """An SDK wired to memory: what the plugin emitted, read back."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    def plugin(self, **options: Any) -> unipay.otel.OpenTelemetryPlugin:
        return unipay.otel.plugin(
            tracer_provider=self.tracer_provider, meter_provider=self.meter_provider, **options
        )

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def named(self, name: str) -> list[ReadableSpan]:
        return [span for span in self.spans() if span.name == name]

    def one(self, name: str) -> ReadableSpan:
        (span,) = self.named(name)
        return span

    def children(self, parent: ReadableSpan) -> list[str]:
        """Names of ``parent``'s children, in the order they started."""
        kids = [s for s in self.spans() if s.parent and s.parent.span_id == _id(parent)]
        return [s.name for s in sorted(kids, key=lambda s: s.start_time or 0)]

    def points(self, metric: str) -> list[tuple[dict[str, Any], Any]]:
        """(attributes, value) of every point of ``metric``; a histogram's value is its count."""
        data = self.reader.get_metrics_data()
        found = []
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                for m in scope.metrics:
                    if m.name == metric:
                        for point in m.data.data_points:
                            value = getattr(point, "value", None)
                            if value is None:
                                value = point.count  # type: ignore[union-attr]
                            found.append((dict(point.attributes or {}), value))
        return found

    def total(self, metric: str, **labels: Any) -> Any:
        return sum(
            value
            for attributes, value in self.points(metric)
            if all(attributes.get(_label(k)) == v for k, v in labels.items())
        )


def _label(name: str) -> str:
    return "error.type" if name == "error_type" else f"unipay.{name}"


def _id(span: ReadableSpan) -> int:
    assert span.context is not None
    span_id: int = span.context.span_id
    return span_id


@pytest.fixture
def telemetry() -> Telemetry:
    return Telemetry()


@pytest.fixture(params=[Gateway, AsyncGateway], ids=["sync", "async"])
def face(request: pytest.FixtureRequest) -> Faces:
    face: Faces = request.param
    return face


@pytest.fixture
def mock() -> MockProvider:
    return MockProvider()


def gateway_for(face: Faces, telemetry: Telemetry, *providers: Provider, **options: Any) -> Any:
    return face(
        providers=providers,
        load_installed=False,
        plugins=[telemetry.plugin(**options)],
        retry=RetryPolicy(base_delay=0, max_delay=0),
    )


async def done(value: Any) -> Any:
    """The result of a gateway call on either face."""
    return await value if inspect.isawaitable(value) else value


async def test_create_is_one_operation_span_with_its_attempt_and_store_calls(
    face: Faces, telemetry: Telemetry, mock: MockProvider
) -> None:
    gw = gateway_for(face, telemetry, mock)
    payment = await done(
        gw.create_payment(
            provider="mock", amount=1299, currency="USD", payment_method="pm_card_visa"
        )
    )

    root = telemetry.one("unipay create_payment")
    assert root.parent is None and root.kind is SpanKind.INTERNAL
    assert telemetry.children(root) == [
        "unipay.store claim",
        "mock create_payment",
        "unipay.store complete",
    ]
    assert dict(root.attributes or {}) == {
        "unipay.provider": "mock",
        "unipay.operation": "create_payment",
        "unipay.amount": 1299,
        "unipay.currency": "USD",
        "unipay.idempotency.replayed": False,
        "unipay.attempts": 1,
        "unipay.status": "succeeded",
        "unipay.outcome": "success",
        "unipay.payment_id": payment.id,
    }
    attempt = telemetry.one("mock create_payment")
    assert attempt.kind is SpanKind.CLIENT
    assert attempt.attributes == {
        "unipay.provider": "mock",
        "unipay.operation": "create_payment",
        "unipay.attempt": 1,
    }
    claim = telemetry.one("unipay.store claim")
    assert claim.attributes == {"unipay.store.method": "claim", "unipay.store.scope": "operation"}

    assert telemetry.total("unipay.operations", outcome="success") == 1
    assert telemetry.total("unipay.operation.duration", operation="create_payment") == 1
    assert telemetry.total("unipay.provider.duration", provider="mock", outcome="success") == 1
    assert telemetry.points("unipay.idempotency.in_progress") == [
        ({"unipay.provider": "mock", "unipay.operation": "create_payment"}, 0)
    ]
    assert telemetry.total("unipay.provider.retries") == 0


async def test_a_retried_attempt_is_a_failed_span_then_a_second_one(
    face: Faces, telemetry: Telemetry, mock: MockProvider
) -> None:
    gw = gateway_for(face, telemetry, mock)
    payment = await done(
        gw.create_payment(provider="mock", amount=1299, currency="USD", capture_method="manual")
    )
    mock.fail_next()
    await done(gw.capture_payment(payment.id))

    root = telemetry.one("unipay capture_payment")
    assert telemetry.children(root) == [
        "unipay.store claim",
        "mock capture_payment",
        "mock capture_payment",
        "unipay.store complete",
    ]
    first, second = sorted(telemetry.named("mock capture_payment"), key=lambda s: s.start_time or 0)
    assert first.attributes is not None and second.attributes is not None
    assert first.attributes["unipay.attempt"] == 1
    assert first.attributes["error.type"] == "ProviderUnavailable"
    assert first.attributes["unipay.retriable"] is True
    assert first.status.status_code is StatusCode.ERROR
    assert second.attributes["unipay.attempt"] == 2
    assert "error.type" not in second.attributes
    assert root.attributes is not None
    assert root.attributes["unipay.attempts"] == 2
    assert root.attributes["unipay.outcome"] == "success"
    assert root.attributes["unipay.payment_id"] == payment.id
    assert root.status.status_code is StatusCode.UNSET

    assert telemetry.total("unipay.provider.retries", operation="capture_payment") == 1
    assert telemetry.total("unipay.provider.duration", operation="capture_payment") == 2
    assert telemetry.total("unipay.provider.duration", error_type="ProviderUnavailable") == 1


async def test_a_decline_is_an_error_span_with_its_decline_code(
    face: Faces, telemetry: Telemetry, mock: MockProvider
) -> None:
    gw = gateway_for(face, telemetry, mock)
    with pytest.raises(PaymentDeclined) as declined:
        await done(
            gw.create_payment(
                provider="mock",
                amount=1299,
                currency="USD",
                payment_method="pm_card_chargeDeclined",
            )
        )

    root = telemetry.one("unipay create_payment")
    assert root.attributes is not None
    assert root.attributes["unipay.outcome"] == "declined"
    assert root.attributes["unipay.decline_code"] == declined.value.decline_code
    assert root.attributes["error.type"] == "PaymentDeclined"
    assert root.attributes["unipay.retriable"] is False
    assert root.status.status_code is StatusCode.ERROR
    assert declined.value.payment is not None
    assert root.attributes["unipay.payment_id"] == declined.value.payment.id
    # The decline is stored (a retry with the key replays it): claim, attempt, complete.
    assert telemetry.children(root) == [
        "unipay.store claim",
        "mock create_payment",
        "unipay.store complete",
    ]
    assert telemetry.total("unipay.operations", outcome="declined") == 1
    assert telemetry.total("unipay.operations", outcome="success") == 0


async def test_a_replay_is_marked_and_never_reaches_the_provider(
    face: Faces, telemetry: Telemetry, mock: MockProvider
) -> None:
    gw = gateway_for(face, telemetry, mock)
    for _ in range(2):
        await done(
            gw.create_payment(provider="mock", amount=500, currency="EUR", idempotency_key="k-1")
        )

    first, second = sorted(
        telemetry.named("unipay create_payment"), key=lambda s: s.start_time or 0
    )
    assert first.attributes is not None and second.attributes is not None
    assert first.attributes["unipay.idempotency.replayed"] is False
    assert second.attributes["unipay.idempotency.replayed"] is True
    assert second.attributes["unipay.attempts"] == 0
    assert second.attributes["unipay.outcome"] == "success"
    assert telemetry.children(second) == ["unipay.store claim"]
    assert len(telemetry.named("mock create_payment")) == 1
    assert telemetry.total("unipay.idempotency.replays") == 1
    assert telemetry.total("unipay.operations") == 2


async def test_a_webhook_delivery_is_a_span_linked_to_its_payments_trace(
    face: Faces, telemetry: Telemetry, mock: MockProvider
) -> None:
    gw = gateway_for(face, telemetry, mock)
    payment: Payment = await done(gw.create_payment(provider="mock", amount=1299, currency="USD"))
    created = telemetry.one("unipay create_payment")
    body, headers = mock.sign_test_delivery("payment.succeeded", payment)  # type: ignore[arg-type]
    app = WebhookApp(gw)
    tracer = telemetry.tracer_provider.get_tracer("shop")

    @app.on("payment.succeeded")
    def fulfil(event: WebhookEvent) -> None:  # sync: run in a worker thread
        with tracer.start_as_current_span("fulfil order"):
            pass

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        assert (await http.post("/mock", content=body, headers=headers)).status_code == 200
        assert (await http.post("/mock", content=body, headers=headers)).status_code == 200
        tampered = await http.post("/mock", content=body + b" ", headers=headers)
        assert tampered.status_code == 400

    processed, duplicate, rejected = sorted(
        telemetry.named("unipay webhook"), key=lambda s: s.start_time or 0
    )
    assert processed.kind is SpanKind.CONSUMER
    assert processed.attributes is not None
    assert processed.attributes["unipay.provider"] == "mock"
    assert processed.attributes["unipay.outcome"] == "processed"
    assert processed.attributes["unipay.webhook.event_type"] == "payment.succeeded"
    assert processed.attributes["unipay.payment_id"] == payment.id
    assert created.context is not None
    assert [link.context.span_id for link in processed.links] == [created.context.span_id]
    assert [link.context.trace_id for link in processed.links] == [created.context.trace_id]
    assert telemetry.children(processed) == [
        "unipay.store claim",
        "unipay.store save_payment",
        "unipay.webhook handlers",
        "unipay.store complete",
    ]
    # The application's handler spans nest under the delivery's handlers span.
    assert telemetry.children(telemetry.one("unipay.webhook handlers")) == ["fulfil order"]
    assert duplicate.attributes is not None and rejected.attributes is not None
    assert duplicate.attributes["unipay.outcome"] == "duplicate"
    assert telemetry.children(duplicate) == ["unipay.store claim"]
    assert rejected.attributes["unipay.outcome"] == "rejected"
    assert rejected.status.status_code is StatusCode.ERROR
    assert telemetry.total("unipay.webhook.deliveries", outcome="processed") == 1
    assert telemetry.total("unipay.webhook.deliveries", outcome="duplicate") == 1
    assert telemetry.total("unipay.webhook.deliveries", outcome="rejected") == 1


PERSONAL = {
    "customer_email": "jane.doe@example.com",
    "payment_method": "pm_card_visa",
    "description": "Order for Jane Doe",
    "metadata": {"shipping_address": "12 Secret Lane"},
}


def _everything_emitted(telemetry: Telemetry) -> str:
    spans = [span.to_json() for span in telemetry.spans()]
    data = telemetry.reader.get_metrics_data()
    return "\n".join([*spans, data.to_json() if data else ""])


@pytest.mark.parametrize("opted_in", [False, True], ids=["default", "opted-in"])
async def test_no_personal_data_unless_opted_in(
    face: Faces, telemetry: Telemetry, mock: MockProvider, opted_in: bool
) -> None:
    gw = gateway_for(face, telemetry, mock, record_personal_data=opted_in)
    payment = await done(
        gw.create_payment(provider="mock", amount=1299, currency="USD", **PERSONAL)
    )
    await done(gw.refund_payment(payment.id, metadata={"note": "refund for Jane Doe"}))
    dumped = _everything_emitted(telemetry)
    assert "unipay create_payment" in dumped and "unipay refund_payment" in dumped
    assert payment.id in dumped  # ids are not personal data: they tie a trace to a payment
    secrets = ("jane.doe@example.com", "pm_card_visa", "Jane Doe", "12 Secret Lane", "refund for")
    for secret in secrets:
        assert (secret in dumped) is opted_in, secret


class HTTPProvider(MockProvider):
    """A provider making one real httpx request per call (to an in-process transport), with no
    async methods: ``AsyncGateway`` runs it in a worker thread."""

    def __init__(self) -> None:
        super().__init__(name="http")

        def answer(request: httpx.Request) -> httpx.Response:
            return httpx.Response(200, json={"id": "pi_http"})

        self.client = httpx.Client(transport=httpx.MockTransport(answer))
        HTTPXClientInstrumentor.instrument_client(self.client)

    def create_payment(self, request: CreatePaymentRequest, ctx: CallContext) -> Payment:
        logging.getLogger("unipay.http").warning("calling the provider")
        answer = self.client.post("https://provider.test/payments").json()
        return Payment(
            provider=self.name,
            provider_payment_id=answer["id"],
            status=PaymentStatus.SUCCEEDED,
            amount=request.amount,
            currency=request.currency,
        )

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(name)  # no native ``a<operation>``: the thread path


@pytest.fixture
def http_provider(telemetry: Telemetry) -> Iterator[HTTPProvider]:
    provider = HTTPProvider()
    yield provider
    HTTPXClientInstrumentor.uninstrument_client(provider.client)


async def test_http_spans_nest_under_the_attempt_span(
    face: Faces, telemetry: Telemetry, http_provider: HTTPProvider
) -> None:
    """On the async face the blocking method runs in a worker thread: the span still nests."""
    # The instrumentor uses the global tracer provider; hand it ours for this client only.
    HTTPXClientInstrumentor.uninstrument_client(http_provider.client)
    HTTPXClientInstrumentor.instrument_client(
        http_provider.client, tracer_provider=telemetry.tracer_provider
    )
    gw = gateway_for(face, telemetry, http_provider)
    await done(gw.create_payment(provider="http", amount=100, currency="USD"))

    attempt = telemetry.one("http create_payment")
    (http_span,) = [s for s in telemetry.spans() if s.kind is SpanKind.CLIENT and s is not attempt]
    assert http_span.parent is not None and http_span.parent.span_id == _id(attempt)
    assert http_span.context is not None and attempt.context is not None
    assert http_span.context.trace_id == attempt.context.trace_id


async def test_log_records_carry_trace_and_span_ids(
    face: Faces, telemetry: Telemetry, http_provider: HTTPProvider, caplog: pytest.LogCaptureFixture
) -> None:
    unipay.otel.instrument(
        tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider
    )
    try:
        # The filter sits on unipay's loggers; a provider logs on its own child logger.
        logging.getLogger("unipay.http").addFilter(unipay.otel.TraceContextFilter())
        gw = face(providers=[http_provider], load_installed=False)
        with caplog.at_level(logging.INFO, logger="unipay"):
            await done(gw.create_payment(provider="http", amount=100, currency="USD"))
            logging.getLogger("unipay").info("outside any span")
    finally:
        unipay.otel.uninstrument()
    attempt = telemetry.one("http create_payment")
    assert attempt.context is not None
    inside, outside = (r for r in caplog.records if r.name.startswith("unipay"))
    assert inside.otelSpanID == f"{attempt.context.span_id:016x}"  # type: ignore[attr-defined]
    assert inside.otelTraceID == f"{attempt.context.trace_id:032x}"  # type: ignore[attr-defined]
    assert outside.otelTraceID == "0"  # type: ignore[attr-defined]


async def test_instrument_covers_every_new_gateway_and_uninstrument_stops(
    face: Faces, telemetry: Telemetry, mock: MockProvider
) -> None:
    plain = face(providers=[mock], load_installed=False)
    assert not plain.plugin_manager.hook.unipay_observe_operation.get_hookimpls()
    unipay.otel.instrument(
        tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider
    )
    try:
        traced = face(providers=[mock], load_installed=False)
        await done(traced.create_payment(provider="mock", amount=100, currency="USD"))
        await done(plain.create_payment(provider="mock", amount=100, currency="USD"))
    finally:
        unipay.otel.uninstrument()
    after = face(providers=[mock], load_installed=False)
    await done(after.create_payment(provider="mock", amount=100, currency="USD"))
    assert not after.plugin_manager.hook.unipay_observe_operation.get_hookimpls()
    assert len(telemetry.named("unipay create_payment")) == 1


class BrokenObserver:
    """An observer whose every method raises: payments must not notice."""

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(f"observer bug in {name}")


class Broken:
    @hookimpl
    def unipay_observe_operation(self) -> BrokenObserver:
        return BrokenObserver()


async def test_a_failing_observer_never_fails_a_payment(
    face: Faces, telemetry: Telemetry, mock: MockProvider, caplog: pytest.LogCaptureFixture
) -> None:
    gw = face(providers=[mock], load_installed=False, plugins=[Broken(), telemetry.plugin()])
    payment = await done(gw.create_payment(provider="mock", amount=100, currency="USD"))
    assert payment.status is PaymentStatus.SUCCEEDED
    assert "observer" in caplog.text
    # The well-behaved observer beside it still saw everything.
    root = telemetry.one("unipay create_payment")
    assert root.attributes is not None and root.attributes["unipay.outcome"] == "success"


async def test_unipays_retry_log_record_carries_the_failed_attempts_span(
    face: Faces, telemetry: Telemetry, mock: MockProvider, caplog: pytest.LogCaptureFixture
) -> None:
    unipay.otel.instrument(
        tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider
    )
    try:
        gw = face(providers=[mock], load_installed=False, retry=RetryPolicy(base_delay=0))
        mock.fail_next()
        with caplog.at_level(logging.INFO, logger="unipay"):
            await done(gw.create_payment(provider="mock", amount=100, currency="USD"))
    finally:
        unipay.otel.uninstrument()
    first = min(telemetry.named("mock create_payment"), key=lambda s: s.start_time or 0)
    (retrying,) = [r for r in caplog.records if r.getMessage().startswith("retrying")]
    assert retrying.otelSpanID == f"{_id(first):016x}"  # type: ignore[attr-defined]


class AsyncHTTPProvider(HTTPProvider):
    """The same, with a native ``acreate_payment`` on an ``httpx.AsyncClient``: awaited in the
    caller's task."""

    def __init__(self) -> None:
        super().__init__()

        def answer(request: httpx.Request) -> httpx.Response:
            return httpx.Response(200, json={"id": "pi_async"})

        self.aclient = httpx.AsyncClient(transport=httpx.MockTransport(answer))

    async def acreate_payment(self, request: CreatePaymentRequest, ctx: CallContext) -> Payment:
        answer = (await self.aclient.post("https://provider.test/payments")).json()
        return Payment(
            provider=self.name,
            provider_payment_id=answer["id"],
            status=PaymentStatus.SUCCEEDED,
            amount=request.amount,
            currency=request.currency,
        )


async def test_async_http_spans_nest_under_the_attempt_span(telemetry: Telemetry) -> None:
    provider = AsyncHTTPProvider()
    HTTPXClientInstrumentor.instrument_client(
        provider.aclient, tracer_provider=telemetry.tracer_provider
    )
    try:
        gw = gateway_for(AsyncGateway, telemetry, provider)
        payment = await gw.create_payment(provider="http", amount=100, currency="USD")
    finally:
        HTTPXClientInstrumentor.uninstrument_client(provider.aclient)
        await provider.aclient.aclose()
    assert payment.provider_payment_id == "pi_async"  # the native method ran
    attempt = telemetry.one("http create_payment")
    (http_span,) = [s for s in telemetry.spans() if s.kind is SpanKind.CLIENT and s is not attempt]
    assert http_span.parent is not None and http_span.parent.span_id == _id(attempt)


def test_remembered_traces_are_bounded_most_recent_kept(telemetry: Telemetry) -> None:
    plugin = unipay.otel.OpenTelemetryPlugin(
        tracer_provider=telemetry.tracer_provider, linked_payments=2
    )
    contexts = [SpanContext(1, n, is_remote=False) for n in (1, 2, 3)]
    plugin.remember("mock:pi_a", contexts[0])
    plugin.remember("mock:pi_b", contexts[1])
    plugin.remember("mock:pi_a", contexts[0])  # used again: now the most recent
    plugin.remember("mock:pi_c", contexts[2])
    assert plugin.last_trace("mock:pi_b") is None
    assert plugin.last_trace("mock:pi_a") == contexts[0]
    assert plugin.last_trace("mock:pi_c") == contexts[2]


async def test_concurrent_async_calls_on_a_blocking_store_keep_their_own_trees(
    telemetry: Telemetry, tmp_path: Path
) -> None:
    """A SQL store runs in worker threads; five payments at once: five separate trees, each
    store call's own spans under that payment's store span."""
    tracer = telemetry.tracer_provider.get_tracer("db")

    class TracedSQL(SQLStore):
        def claim(self, *args: Any, **kwargs: Any) -> Any:
            with tracer.start_as_current_span("db claim"):
                return super().claim(*args, **kwargs)

    store = TracedSQL(f"sqlite:///{tmp_path / 'unipay.db'}")
    gw = AsyncGateway(
        providers=[MockProvider()],
        store=store,
        load_installed=False,
        plugins=[telemetry.plugin()],
    )
    try:
        await asyncio.gather(
            *(gw.create_payment(provider="mock", amount=100, currency="USD") for _ in range(5))
        )
    finally:
        store.close()
    by_id = {_id(span): span for span in telemetry.spans()}
    roots = telemetry.named("unipay create_payment")
    assert len(roots) == 5 and all(root.parent is None for root in roots)
    db_claims = telemetry.named("db claim")
    assert len(db_claims) == 5
    owners = set()
    for db in db_claims:
        assert db.parent is not None
        store_span = by_id[db.parent.span_id]
        assert store_span.name == "unipay.store claim" and store_span.parent is not None
        owners.add(store_span.parent.span_id)
    assert owners == {_id(root) for root in roots}
