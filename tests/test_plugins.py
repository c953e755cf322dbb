"""Plugins: in-process registration, discovery controls, hooks, capabilities, async faces."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Callable
from typing import Any

import pluggy
import pytest

from unipay import (
    AsyncGateway,
    CallContext,
    Capabilities,
    Gateway,
    OperationCall,
    Payment,
    PaymentStatus,
    Provider,
    Refund,
    RefundStatus,
    hookimpl,
)
from unipay.errors import (
    OperationVetoed,
    ProviderNotConfigured,
    ProviderNotFound,
    UnipayError,
    UnsupportedOperation,
)
from unipay.models import (
    CancelPaymentRequest,
    CapturePaymentRequest,
    ConfirmPaymentRequest,
    CreatePaymentRequest,
    RefundPaymentRequest,
)
from unipay.plugins import installed_plugins
from unipay.testing.faces import Face
from unipay_mock import MockProvider


class LedgerProvider(Provider):
    """A tiny provider defined in this test file: synchronous only, no capture, no cancel."""

    capabilities = Capabilities(partial_refunds=False)

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []  # (operation, thread id)
        self.payments: dict[str, Payment] = {}

    def _record(self, operation: str) -> None:
        self.calls.append((operation, threading.get_ident()))

    def create_payment(self, request: CreatePaymentRequest, ctx: CallContext) -> Payment:
        self._record("create_payment")
        payment = Payment(
            provider=self.name,
            provider_payment_id=f"lp_{len(self.payments)}",
            status=PaymentStatus.SUCCEEDED,
            amount=request.amount,
            currency=request.currency,
            amount_received=request.amount,
        )
        self.payments[payment.provider_payment_id] = payment
        return payment

    def confirm_payment(
        self, provider_payment_id: str, request: ConfirmPaymentRequest, ctx: CallContext
    ) -> Payment:
        raise NotImplementedError

    def capture_payment(
        self, provider_payment_id: str, request: CapturePaymentRequest, ctx: CallContext
    ) -> Payment:
        raise NotImplementedError

    def cancel_payment(
        self, provider_payment_id: str, request: CancelPaymentRequest, ctx: CallContext
    ) -> Payment:
        raise NotImplementedError

    def refund_payment(
        self, provider_payment_id: str, request: RefundPaymentRequest, ctx: CallContext
    ) -> Refund:
        self._record("refund_payment")
        payment = self.payments[provider_payment_id]
        return Refund(
            provider=self.name,
            provider_refund_id=f"lr_{provider_payment_id}",
            payment_id=payment.id,
            amount=payment.amount_received,
            currency=payment.currency,
            status=RefundStatus.SUCCEEDED,
        )

    def retrieve_payment(self, provider_payment_id: str, ctx: CallContext) -> Payment:
        return self.payments[provider_payment_id]


class LedgerPlugin:
    def __init__(self) -> None:
        self.provider = LedgerProvider()

    @hookimpl
    def unipay_register_providers(
        self, register: Callable[[str, Callable[[], Provider]], None]
    ) -> None:
        register("ledger", lambda: self.provider)


async def test_a_plugin_from_this_file_is_used_without_being_installed(
    make_face: Callable[..., Face],
) -> None:
    plugin = LedgerPlugin()
    face = make_face(plugins=[plugin])
    payment = await face("create_payment", provider="ledger", amount=700, currency="EUR")
    assert payment.id == "ledger:lp_0" and payment.status is PaymentStatus.SUCCEEDED
    assert [op for op, _ in plugin.provider.calls] == ["create_payment"]
    assert set(face.gateway.providers.names()) >= {"ledger", "mock"}


def test_a_misspelled_hook_fails_loudly() -> None:
    class Typo:
        @hookimpl
        def unipay_regster_providers(self, register: Any) -> None:
            pass

    with pytest.raises(pluggy.PluginValidationError, match="unipay_regster_providers"):
        Gateway(plugins=[Typo()])


def test_load_plugins_allow_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UNIPAY_LOAD_PLUGINS", "mock")
    assert Gateway().providers.names() == ["mock"]
    monkeypatch.setenv("UNIPAY_LOAD_PLUGINS", "")
    assert Gateway().providers.names() == []
    with pytest.raises(ProviderNotFound, match="Installed providers: none"):
        Gateway().create_payment(provider="mock", amount=100, currency="USD")


def test_disable_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    others = sorted({ep.name for ep in installed_plugins()} - {"mock"})
    assert "stripe" in others
    monkeypatch.setenv("UNIPAY_DISABLE_PLUGINS", ", ".join([*others, "not-installed"]))
    assert Gateway().providers.names() == ["mock"]


def test_load_installed_false_ignores_entry_points() -> None:
    assert Gateway(load_installed=False, plugins=[LedgerPlugin()]).providers.names() == ["ledger"]


def test_two_plugins_for_one_provider_name_is_an_error() -> None:
    class Again:
        @hookimpl
        def unipay_register_providers(self, register: Any) -> None:
            register("mock", MockProvider)

    with pytest.raises(UnipayError, match="both register a provider named 'mock'"):
        Gateway(plugins=[Again()])


def test_unconfigured_provider_names_the_setting_and_recovers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class NeedsKey:
        @hookimpl
        def unipay_register_providers(self, register: Any) -> None:
            def build() -> Provider:
                import os

                if not os.environ.get("ACME_KEY"):
                    raise ProviderNotConfigured("acme", "ACME_KEY")
                return MockProvider(name="acme")

            register("acme", build)

    gateway = Gateway(plugins=[NeedsKey()])
    assert "acme" in gateway.providers.names()
    with pytest.raises(ProviderNotConfigured, match="set ACME_KEY") as caught:
        gateway.create_payment(provider="acme", amount=100, currency="USD")
    assert caught.value.setting == "ACME_KEY"
    monkeypatch.setenv("ACME_KEY", "set")
    assert gateway.create_payment(provider="acme", amount=100, currency="USD").provider == "acme"


class Recorder:
    def __init__(self, veto: str | None = None) -> None:
        self.veto = veto
        self.before: list[OperationCall] = []
        self.after: list[tuple[str, object, object]] = []

    @hookimpl
    def unipay_before_operation(self, call: OperationCall) -> None:
        self.before.append(call)
        if self.veto == call.operation:
            raise OperationVetoed("refunds are frozen during the audit")

    @hookimpl
    def unipay_after_operation(self, call: OperationCall, result: object, error: object) -> None:
        self.after.append((call.operation, result, error))


async def test_hooks_see_every_operation(make_face: Callable[..., Face]) -> None:
    recorder = Recorder()
    face = make_face(plugins=[recorder])
    key = f"hook-{uuid.uuid4()}"  # keys are global at the provider, as at Stripe
    payment = await face(
        "create_payment",
        provider="mock",
        amount=900,
        currency="USD",
        capture_method="manual",
        idempotency_key=key,
    )
    await face("capture_payment", payment.id)
    assert [c.operation for c in recorder.before] == ["create_payment", "capture_payment"]
    assert recorder.before[0].idempotency_key == key
    assert recorder.before[0].payment_id is None
    assert recorder.before[1].payment_id == payment.id
    assert recorder.after[0][1] == payment and recorder.after[0][2] is None
    # A replay never reaches the hooks: nothing was done.
    await face(
        "create_payment",
        provider="mock",
        amount=900,
        currency="USD",
        capture_method="manual",
        idempotency_key=key,
    )
    assert len(recorder.before) == 2


async def test_a_veto_stops_the_call_and_frees_the_key(make_face: Callable[..., Face]) -> None:
    recorder = Recorder(veto="refund_payment")
    face = make_face(plugins=[recorder])
    payment = await face("create_payment", provider="mock", amount=900, currency="USD")
    key = f"refund-{uuid.uuid4()}"
    with pytest.raises(OperationVetoed, match="frozen"):
        await face("refund_payment", payment.id, idempotency_key=key)
    assert (await face("retrieve_payment", payment.id)).amount_refunded == 0
    assert isinstance(recorder.after[-1][2], OperationVetoed)
    face.gateway.plugin_manager.unregister(recorder)
    refund = await face("refund_payment", payment.id, idempotency_key=key)
    assert refund.amount == 900 and not refund.replayed


async def test_a_failing_after_hook_does_not_hide_a_charge(
    make_face: Callable[..., Face], caplog: pytest.LogCaptureFixture
) -> None:
    class Broken:
        @hookimpl
        def unipay_after_operation(self) -> None:
            raise RuntimeError("observer bug")

    face = make_face(plugins=[Broken()])
    payment = await face("create_payment", provider="mock", amount=900, currency="USD")
    assert payment.status is PaymentStatus.SUCCEEDED
    assert "unipay_after_operation hook failed" in caplog.text


@pytest.mark.parametrize(
    ("operation", "kwargs", "feature"),
    [
        ("create_payment", {"capture_method": "manual"}, "manual capture"),
        ("cancel_payment", {}, "cancellation"),
        ("refund_payment", {"amount": 100}, "partial refunds"),
    ],
)
async def test_capabilities_are_checked_before_calling(
    make_face: Callable[..., Face], operation: str, kwargs: dict[str, Any], feature: str
) -> None:
    plugin = LedgerPlugin()
    face = make_face(plugins=[plugin])
    if operation == "create_payment":
        args: tuple[Any, ...] = ()
        kwargs = {"provider": "ledger", "amount": 500, "currency": "USD", **kwargs}
    else:
        payment = await face("create_payment", provider="ledger", amount=500, currency="USD")
        args = (payment.id,)
    calls_before = len(plugin.provider.calls)
    with pytest.raises(UnsupportedOperation, match=feature) as caught:
        await face(operation, *args, **kwargs)
    assert caught.value.operation == operation and caught.value.provider == "ledger"
    assert len(plugin.provider.calls) == calls_before


async def test_a_full_refund_by_amount_is_not_partial(make_face: Callable[..., Face]) -> None:
    face = make_face(plugins=[LedgerPlugin()])
    payment = await face("create_payment", provider="ledger", amount=500, currency="USD")
    refund = await face("refund_payment", payment.id, amount=500)
    assert refund.amount == 500


async def test_partial_capture_needs_the_capability(make_face: Callable[..., Face]) -> None:
    whole_only = MockProvider(name="wholeonly")
    whole_only.capabilities = Capabilities(manual_capture=True, cancel=True)
    face = make_face(providers=[whole_only])
    payment = await face(
        "create_payment", provider="wholeonly", amount=500, currency="USD", capture_method="manual"
    )
    with pytest.raises(UnsupportedOperation, match=r"partial capture\. Omit `amount`"):
        await face("capture_payment", payment.id, amount=300)
    assert (await face("capture_payment", payment.id, amount=500)).amount_received == 500


async def test_async_face_runs_a_sync_only_provider_off_the_event_loop() -> None:
    plugin = LedgerPlugin()
    gateway = AsyncGateway(plugins=[plugin])
    loop_thread = threading.get_ident()
    await gateway.create_payment(provider="ledger", amount=500, currency="USD")
    ((_, provider_thread),) = plugin.provider.calls
    assert provider_thread != loop_thread


async def test_async_face_awaits_native_async_providers_on_the_loop() -> None:
    mock = MockProvider(name="slowmock", latency=0.05)
    gateway = AsyncGateway(providers=[mock])
    # 20 concurrent calls: each sleeps on the loop (native a<operation>), no worker thread.
    # Compared by identity, not by count: an earlier test's daemon thread may end meanwhile.
    threads_before = set(threading.enumerate())
    payments = await asyncio.gather(
        *[
            gateway.create_payment(provider="slowmock", amount=100, currency="USD")
            for _ in range(20)
        ]
    )
    assert len({p.id for p in payments}) == 20
    assert set(threading.enumerate()) - threads_before == set()


def test_gateway_closes_what_it_opened() -> None:
    closed: list[str] = []

    class Closing(LedgerProvider):
        def close(self) -> None:
            closed.append(self.name)

    provider = Closing()
    provider.name = "closing"
    with Gateway(providers=[provider], load_installed=False) as gateway:
        gateway.create_payment(provider="closing", amount=100, currency="USD")
    assert closed == ["closing"]


def test_public_method_signatures_are_the_flows() -> None:
    import inspect

    signature = inspect.signature(Gateway.create_payment)
    assert Gateway.create_payment.__name__ == "create_payment"
    assert signature.return_annotation == "Payment"
    assert "idempotency_key" in signature.parameters
    assert inspect.iscoroutinefunction(AsyncGateway.create_payment)
    assert not inspect.iscoroutinefunction(Gateway.create_payment)


async def test_a_retried_refund_replays_where_only_one_refund_is_allowed(
    make_face: Callable[..., Face],
) -> None:
    plugin = LedgerPlugin()  # no partial or multiple refunds
    face = make_face(plugins=[plugin])
    payment = await face("create_payment", provider="ledger", amount=500, currency="USD")
    key = f"refund-{uuid.uuid4()}"
    first = await face("refund_payment", payment.id, amount=500, idempotency_key=key)
    again = await face("refund_payment", payment.id, amount=500, idempotency_key=key)
    assert again.replayed and again.id == first.id
    assert [op for op, _ in plugin.provider.calls].count("refund_payment") == 1
    with pytest.raises(UnsupportedOperation, match="more than one refund"):
        await face("refund_payment", payment.id)


async def test_a_retried_full_capture_by_amount_replays_without_partial_capture(
    make_face: Callable[..., Face],
) -> None:
    whole_only = MockProvider(name="wholeonly")
    whole_only.capabilities = Capabilities(manual_capture=True, cancel=True)
    face = make_face(providers=[whole_only])
    payment = await face(
        "create_payment", provider="wholeonly", amount=500, currency="USD", capture_method="manual"
    )
    key = f"capture-{uuid.uuid4()}"
    first = await face("capture_payment", payment.id, amount=500, idempotency_key=key)
    again = await face("capture_payment", payment.id, amount=500, idempotency_key=key)
    assert again.replayed and again.amount_received == first.amount_received == 500
