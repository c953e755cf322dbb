"""What ``unipay.otel`` costs on the mock path (``Gateway.create_payment``, memory store).

* tracing on (spans to the SDK's in-memory exporter, metrics to an in-memory reader) against the
  same gateway without the plugin: target at most 1.10x;
* the extra installed and ``unipay.otel`` imported but not enabled, against a plain gateway:
  no observer is registered, so the gateway skips observation (target 1.00x; 1.02 allows for
  this machine's noise);
* for scale, tracing on / off when the provider takes 20 ms to answer (the mock's ``latency``),
  still far quicker than a real provider's API.

The mock path in memory is the worst case: a whole payment costs about as much as one SDK span
(the Python SDK spends tens of microseconds per span and per metric point), so tracing its four
spans and five metric points cannot stay within 1.10x there; ``store_spans=False`` removes two
spans, and is measured too. So is the floor: the same plain gateway with each create wrapped in
one bare span of the same SDK, which no instrumentation emitting the required span tree
(an operation span, an attempt span, store spans) can undercut.

Pairs are interleaved (A, B, A, B, ...) so that a machine slowing down mid-run slows both sides
alike; the median of the per-pair ratios is reported with its range (as ``import_time`` does).
"""

from __future__ import annotations

import statistics
import sys
import time
import uuid
from collections.abc import Callable

from benchmarks._report import Row, print_table
from unipay import Gateway
from unipay.storage import MemoryStore
from unipay_mock import Ledger, MockProvider


def _gateway(*plugins: object, latency: float = 0.0) -> Gateway:
    mock = MockProvider(ledger=Ledger(), latency=latency)
    return Gateway(providers=[mock], store=MemoryStore(), load_installed=False, plugins=plugins)


def _timed(gateway: Gateway, payments: int) -> float:
    start = time.perf_counter()
    for _ in range(payments):
        gateway.create_payment(
            provider="mock", amount=1299, currency="USD", idempotency_key=uuid.uuid4().hex
        )
    return time.perf_counter() - start


#: Each side of a pair runs in this many alternating slices (A, B, A, B, ...): on a shared,
#: busy machine a burst of load then lands on both sides rather than on one.
SLICES = 10


def _pairs(
    pairs: int, payments: int, first: Callable[[int], float], second: Callable[[int], float]
) -> tuple[list[float], list[float], list[float]]:
    """Interleaved timings of ``payments`` creates a side: ratios first/second, each side's s."""
    ratios, a, b = [], [], []
    first(SLICES), second(SLICES)  # warm-up: caches, lazily built validators
    size = max(1, payments // SLICES)
    for _ in range(pairs):
        one = two = 0.0
        for _ in range(SLICES):
            one += first(size)
            two += second(size)
        a.append(one)
        b.append(two)
        ratios.append(one / two)
    return ratios, a, b


def _row(comparison: str, target: str, payments: int, result: tuple[list[float], ...]) -> Row:
    ratios, a, b = result
    per = 1e6 / (max(1, payments // SLICES) * SLICES)
    return Row(
        "otel overhead",
        comparison,
        statistics.median(ratios),
        target=target,
        detail=(
            f"median of {len(ratios)} interleaved pairs, ratios {min(ratios):.3f}-"
            f"{max(ratios):.3f}; {statistics.median(a) * per:.0f} us vs "
            f"{statistics.median(b) * per:.0f} us per create"
        ),
    )


def run(quick: bool = False) -> list[Row]:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    import unipay.otel

    payments = 300 if quick else 2000
    pairs = 5 if quick else 15
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    # Every comparison gets fresh gateways: a store that kept earlier runs' payments is slower.
    traced = _gateway(
        unipay.otel.plugin(tracer_provider=tracer_provider, meter_provider=meter_provider)
    )
    lean = _gateway(
        unipay.otel.plugin(
            tracer_provider=tracer_provider, meter_provider=meter_provider, store_spans=False
        )
    )
    # "Not enabled": the module is imported (the extra installed), instrument() never called.
    not_enabled = _gateway()
    assert not not_enabled.plugin_manager.hook.unipay_observe_operation.get_hookimpls()

    def on(gateway: Gateway) -> Callable[[int], float]:
        def timed(count: int) -> float:
            exporter.clear()  # the exporter keeps every span: never let it grow
            return _timed(gateway, count)

        return timed

    def off(gateway: Gateway) -> Callable[[int], float]:
        return lambda count: _timed(gateway, count)

    tracer = tracer_provider.get_tracer("floor")
    plain = _gateway()

    def one_bare_span(count: int) -> float:
        exporter.clear()
        start = time.perf_counter()
        for _ in range(count):
            with tracer.start_as_current_span("create"):
                plain.create_payment(
                    provider="mock", amount=1299, currency="USD", idempotency_key=uuid.uuid4().hex
                )
        return time.perf_counter() - start

    slow = 10 if quick else 30
    slow_traced = _gateway(
        unipay.otel.plugin(tracer_provider=tracer_provider, meter_provider=meter_provider),
        latency=0.02,
    )
    rows = [
        _row(
            "tracing on / off (mock create)",
            "<= 1.10",
            payments,
            _pairs(pairs, payments, on(traced), off(_gateway())),
        ),
        _row(
            "tracing on, store_spans=False / off",
            "<= 1.10",
            payments,
            _pairs(pairs, payments, on(lean), off(_gateway())),
        ),
        _row(
            "floor: one bare SDK span per create / off",
            "",
            payments,
            _pairs(pairs, payments, one_bare_span, off(_gateway())),
        ),
        _row(
            "extra installed, not enabled / plain",
            "<= 1.02",
            payments,
            _pairs(pairs, payments, off(not_enabled), off(_gateway())),
        ),
        _row(
            "tracing on / off, provider answering in 20 ms",
            "<= 1.10",
            slow,
            _pairs(pairs, slow, on(slow_traced), off(_gateway(latency=0.02))),
        ),
    ]
    tracer_provider.shutdown()
    meter_provider.shutdown()
    return rows


if __name__ == "__main__":
    print_table(run(quick="--quick" in sys.argv))
