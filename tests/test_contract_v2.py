"""The v2 provider contract, seen from the gateway: capabilities held to their word, at-most-once
for providers without idempotency keys (lookup, OutcomeUnknown, reconcile), providers written
as flows or as 0.1's plain methods, and hooks and handlers off the event loop on both faces."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx
import pytest

import unipay
from unipay import AsyncGateway, Gateway
from unipay._flow import Flow, arun, call, run, shielded
from unipay.errors import (
    AuthenticationFailed,
    InvalidPaymentState,
    InvalidRequest,
    OutcomeUnknown,
    PaymentDeclined,
    PaymentNotFound,
    ProviderError,
    ProviderUnavailable,
    UnipayError,
    UnsupportedOperation,
)
from unipay.http import HttpClient
from unipay.idempotency import ATTEMPT_SCOPE, OPERATION_SCOPE, IdempotencyPolicy, fingerprint
from unipay.models import (
    ConfirmPaymentRequest,
    CreatePaymentRequest,
    Payment,
    PaymentStatus,
    Refund,
    RefundPaymentRequest,
    RefundStatus,
    WebhookEvent,
    WebhookEventType,
    parse_request,
)
from unipay.provider import CallContext, Capabilities, Provider
from unipay.storage import MemoryStore
from unipay.testing.faces import Face
from unipay.testing.processor import ProcessorError, ProcessorPayment, ReferenceProcessor
from unipay.webhooks.delivery import DeliveryContext, Handlers, Outcome, deliver

CHARGE: dict[str, Any] = {"provider": "keyless", "amount": 1000, "currency": "EUR"}


def _payment(name: str, paid: ProcessorPayment) -> Payment:
    return Payment(
        provider=name,
        provider_payment_id=paid.id,
        status=PaymentStatus(paid.status),
        amount=paid.amount,
        currency=paid.currency,
        amount_received=paid.amount_received,
        decline_code=paid.decline_code,
    )


class Keyless(Provider):
    """A provider that honours no idempotency key, on a reference processor; ``fail`` makes the
    next calls raise a transient error after (``"after"``) or before (``"before"``) acting, or
    crash after acting (``"crash"``)."""

    def __init__(self, *, lookup: bool) -> None:
        self.name = "keyless"
        self.capabilities = Capabilities(
            confirmation=False, idempotency_keys=False, lookup_by_reference=lookup, retrieve=False
        )
        self.processor = ReferenceProcessor(idempotency_keys=False)
        self.fail: list[str] = []
        self.lookup_fails = False
        self.contexts: list[CallContext] = []

    def create_payment(self, request: CreatePaymentRequest, ctx: CallContext) -> Flow[Payment]:
        when = self.fail.pop(0) if self.fail else None
        if when == "before":
            raise ProviderUnavailable("timed out before the processor acted", provider=self.name)
        try:
            paid = yield from call(
                self.processor.create,
                request.amount,
                request.currency,
                payment_method=self.token(request.payment_method, prefixes=("tok",)) or "tok_ok",
                reference=ctx.reference,
            )
        except ProcessorError as error:
            raise PaymentDeclined(
                error.message, decline_code=error.decline_code or error.code
            ) from None
        if when == "after":
            raise ProviderUnavailable("timed out after the processor acted", provider=self.name)
        if when == "crash":
            raise RuntimeError("the SDK crashed after the processor acted")
        return _payment(self.name, paid)

    def refund_payment(
        self, provider_payment_id: str, request: RefundPaymentRequest, ctx: CallContext
    ) -> Flow[Refund]:
        self.contexts.append(ctx)
        refund = yield from call(self.processor.refund, provider_payment_id, request.amount)
        return Refund(
            provider=self.name,
            provider_refund_id=refund.id,
            payment_id=f"{self.name}:{provider_payment_id}",
            amount=refund.amount,
            currency="EUR",
            status=RefundStatus(refund.status),
        )

    def lookup(
        self, operation: str, provider_payment_id: str | None, ctx: CallContext
    ) -> Flow[Payment | Refund | None]:
        if self.lookup_fails:
            raise ProviderUnavailable("lookup timed out", provider=self.name)
        found = yield from call(self.processor.find_by_reference, ctx.reference)
        return None if found is None else _payment(self.name, found)


@pytest.fixture(params=["Gateway", "AsyncGateway"])
def face_of(request: pytest.FixtureRequest) -> Any:
    def make(provider: Provider, **kwargs: Any) -> Face:
        kind = Gateway if request.param == "Gateway" else AsyncGateway
        return Face(kind(providers=[provider], load_installed=False, **kwargs))

    return make


# --- at most once without idempotency keys -------------------------------------------------------


async def test_a_call_in_doubt_is_not_resent_without_a_lookup(face_of: Any) -> None:
    keyless = Keyless(lookup=False)
    face = face_of(keyless)
    keyless.fail = ["after", "after"]
    with pytest.raises(OutcomeUnknown) as unknown:
        await face("create_payment", idempotency_key="order-1", **CHARGE)
    assert not unknown.value.retriable
    assert "reconcile" in unknown.value.message
    # Retrying the key replays the doubt; the provider was called once, never again.
    with pytest.raises(OutcomeUnknown):
        await face("create_payment", idempotency_key="order-1", **CHARGE)
    assert keyless.processor.calls["create"] == 1
    with pytest.raises(UnsupportedOperation, match="dashboard"):
        await face("reconcile", "order-1")


async def test_a_crash_after_the_provider_acted_is_an_unknown_outcome(face_of: Any) -> None:
    keyless = Keyless(lookup=False)
    face = face_of(keyless)
    keyless.fail = ["crash"]
    with pytest.raises(OutcomeUnknown) as unknown:
        await face("create_payment", idempotency_key="order-2", **CHARGE)
    assert isinstance(unknown.value.__cause__, RuntimeError)
    assert not unknown.value.retriable
    # The key keeps the doubt: its retry replays it and never reaches the provider again.
    with pytest.raises(OutcomeUnknown):
        await face("create_payment", idempotency_key="order-2", **CHARGE)
    assert keyless.processor.calls["create"] == 1


async def test_a_call_in_doubt_is_looked_up_by_its_reference(face_of: Any) -> None:
    keyless = Keyless(lookup=True)
    face = face_of(keyless)
    keyless.fail = ["after"]
    payment = await face("create_payment", idempotency_key="order-2", **CHARGE)
    assert payment.status is PaymentStatus.SUCCEEDED
    assert keyless.processor.calls["create"] == 1
    again = await face("create_payment", idempotency_key="order-2", **CHARGE)
    assert (again.id, again.replayed) == (payment.id, True)
    assert keyless.processor.calls["create"] == 1


async def test_a_call_that_never_acted_is_sent_again_after_the_lookup(face_of: Any) -> None:
    keyless = Keyless(lookup=True)
    face = face_of(keyless, retry=unipay.RetryPolicy(attempts=2, base_delay=0))
    keyless.fail = ["before"]
    payment = await face("create_payment", idempotency_key="order-3", **CHARGE)
    assert payment.status is PaymentStatus.SUCCEEDED
    assert keyless.processor.calls["create"] == 1  # the first attempt never reached it


async def test_reconcile_settles_an_unknown_outcome_from_the_provider(face_of: Any) -> None:
    keyless = Keyless(lookup=True)
    face = face_of(keyless)
    keyless.fail, keyless.lookup_fails = ["after"], True
    with pytest.raises(OutcomeUnknown):
        await face("create_payment", idempotency_key="order-4", **CHARGE)
    keyless.lookup_fails = False
    settled = await face("reconcile", "order-4")
    assert isinstance(settled, Payment) and settled.status is PaymentStatus.SUCCEEDED
    # From now on the key replays what reconcile found; the provider acted once.
    replay = await face("create_payment", idempotency_key="order-4", **CHARGE)
    assert replay.id == settled.id and replay.replayed
    assert keyless.processor.calls["create"] == 1
    assert (await face("stored_payment", settled.id)) is not None


async def test_reconcile_of_a_call_the_provider_never_saw(face_of: Any) -> None:
    keyless = Keyless(lookup=True)
    face = face_of(keyless, retry=unipay.RetryPolicy(attempts=1))
    keyless.fail, keyless.lookup_fails = ["before"], True
    with pytest.raises(OutcomeUnknown):
        await face("create_payment", idempotency_key="order-5", **CHARGE)
    keyless.lookup_fails = False
    with pytest.raises(InvalidRequest, match="never acted"):
        await face("reconcile", "order-5")
    with pytest.raises(InvalidRequest, match="new key"):
        await face("create_payment", idempotency_key="order-5", **CHARGE)
    assert keyless.processor.calls["create"] == 0


async def test_a_takeover_after_a_crash_mid_call_looks_up_instead_of_resending(
    face_of: Any,
) -> None:
    """A holder that died after its provider call began left its lease and the attempt marker:
    the caller that takes the key over must find the payment, not create a second one."""
    keyless = Keyless(lookup=True)
    store = MemoryStore()
    face = face_of(keyless, store=store, idempotency=IdempotencyPolicy(lock_timeout=0.2))
    request = parse_request(CreatePaymentRequest, CHARGE)
    print_ = fingerprint("create_payment", "keyless", None, request)
    store.claim(OPERATION_SCOPE, "order-6", print_, lease=0.05, retention=60)
    marker = store.claim(ATTEMPT_SCOPE, "order-6", ATTEMPT_SCOPE, lease=60, retention=60)
    assert marker.token is not None
    store.complete(ATTEMPT_SCOPE, "order-6", marker.token, "{}")
    from unipay.gateway import _reference  # the dead holder sent this reference

    keyless.processor.create(1000, "EUR", payment_method="tok_ok", reference=_reference("order-6"))
    time.sleep(0.1)
    payment = await face("create_payment", idempotency_key="order-6", **CHARGE)
    assert payment.status is PaymentStatus.SUCCEEDED
    assert keyless.processor.calls["create"] == 1


async def test_a_decline_without_a_payment_is_stored_and_replayed(face_of: Any) -> None:
    keyless = Keyless(lookup=False)
    face = face_of(keyless)
    with pytest.raises(PaymentDeclined) as declined:
        await face("create_payment", payment_method="tok_decline", idempotency_key="d", **CHARGE)
    assert declined.value.payment is None
    with pytest.raises(PaymentDeclined):
        await face("create_payment", payment_method="tok_decline", idempotency_key="d", **CHARGE)
    assert keyless.processor.calls["create"] == 1


# --- capabilities are held to their word ---------------------------------------------------------


async def test_what_the_capabilities_rule_out_never_reaches_the_provider(face_of: Any) -> None:
    keyless = Keyless(lookup=False)
    face = face_of(keyless)
    with pytest.raises(UnsupportedOperation, match="confirm step"):
        await face("create_payment", confirm=False, **CHARGE)
    with pytest.raises(UnsupportedOperation, match="confirm step"):
        await face("confirm_payment", "keyless:pay_1")
    with pytest.raises(UnsupportedOperation, match="stored_payment"):
        await face("retrieve_payment", "keyless:pay_1")
    with pytest.raises(UnsupportedOperation, match="manual capture"):
        await face("capture_payment", "keyless:pay_1")
    assert sum(keyless.processor.calls.values()) == 0


async def test_the_core_accepts_any_providers_token_format(face_of: Any) -> None:
    face = face_of(Keyless(lookup=False))
    payment = await face("create_payment", payment_method="tokencc_bc_4t6n6s", **CHARGE)
    assert payment.status is PaymentStatus.SUCCEEDED


# --- 0.1 providers: plain methods keep working, off the event loop -------------------------------


class Plain(Provider):
    """0.1's shape: plain methods, one native async twin."""

    name = "plain"
    capabilities = Capabilities(confirmation=False)

    def __init__(self) -> None:
        self.threads: list[bool] = []

    def create_payment(self, request: CreatePaymentRequest, ctx: CallContext) -> Payment:
        self.threads.append(_on_event_loop())
        return Payment(
            provider="plain",
            provider_payment_id="p1",
            status=PaymentStatus.SUCCEEDED,
            amount=request.amount,
            currency=request.currency,
        )

    def refund_payment(
        self, provider_payment_id: str, request: RefundPaymentRequest, ctx: CallContext
    ) -> Refund:
        raise AssertionError("the async twin is awaited instead")

    async def arefund_payment(
        self, provider_payment_id: str, request: RefundPaymentRequest, ctx: CallContext
    ) -> Refund:
        self.threads.append(_on_event_loop())
        return Refund(
            provider="plain",
            provider_refund_id="r1",
            payment_id="plain:p1",
            amount=request.amount or 1,
            currency="USD",
            status=RefundStatus.SUCCEEDED,
        )


def _on_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


@pytest.mark.filterwarnings("ignore:.*plain method:DeprecationWarning")
async def test_a_01_provider_runs_off_the_loop_and_its_twin_is_awaited() -> None:
    plain = Plain()
    async with AsyncGateway(providers=[plain], load_installed=False) as gateway:
        await gateway.create_payment(provider="plain", amount=100, currency="USD")
        await gateway.refund_payment("plain:p1")
    assert plain.threads == [False, True]


@pytest.mark.filterwarnings("ignore:.*plain method:DeprecationWarning")
def test_a_01_provider_on_the_sync_face() -> None:
    plain = Plain()
    with Gateway(providers=[plain], load_installed=False) as gateway:
        payment = gateway.create_payment(provider="plain", amount=100, currency="USD")
    assert payment.status is PaymentStatus.SUCCEEDED and plain.threads == [False]


class Work:
    """A store-like object; ``blocking`` says whether the async face may call it on the loop."""

    def __init__(self, blocking: bool) -> None:
        self.blocking = blocking

    def claim(self) -> asyncio.Task[Any] | None:
        try:
            return asyncio.current_task()
        except RuntimeError:  # a worker thread has no loop
            return None


@pytest.mark.parametrize("blocking", [False, True])
async def test_a_shielded_effect_gets_a_task_of_its_own_unless_it_runs_inline(
    blocking: bool,
) -> None:
    """An inline call (``blocking = False``: the memory store) cannot be interrupted midway, so
    it runs in the caller's task; anything awaited still runs to its end in a task of its own."""

    def flow() -> Flow[asyncio.Task[Any] | None]:
        return (yield from shielded(Work(blocking).claim))

    ran_in = await arun(flow())
    caller = asyncio.current_task()
    assert (ran_in is caller) is not blocking


# --- hooks and handlers: never blocking the event loop, working on both faces --------------------


class BlockingHooks:
    def __init__(self) -> None:
        self.on_loop: list[bool] = []

    @unipay.hookimpl
    def unipay_before_operation(self) -> None:
        self.on_loop.append(_on_event_loop())
        time.sleep(0.01)  # a database write, say

    @unipay.hookimpl
    def unipay_after_operation(self) -> None:
        self.on_loop.append(_on_event_loop())


async def test_a_blocking_hook_does_not_run_on_the_event_loop() -> None:
    hooks = BlockingHooks()
    async with AsyncGateway(
        providers=[Keyless(lookup=False)], plugins=[hooks], load_installed=False
    ) as gateway:
        await gateway.create_payment(**CHARGE)
    assert hooks.on_loop == [False, False]


def _signed_delivery() -> tuple[Provider, bytes, dict[str, str]]:
    class Signed(Keyless):
        capabilities = Capabilities(webhooks=True)

        def verify_webhook(self, body: bytes, headers: Mapping[str, str]) -> WebhookEvent:
            return WebhookEvent(
                id=body.decode(),
                provider="keyless",
                type=WebhookEventType.PAYMENT_SUCCEEDED,
                provider_type="paid",
            )

    return Signed(lookup=False), b"evt_1", {}


@pytest.mark.parametrize("faced", ["sync", "async"])
def test_webhook_handlers_are_dispatched_on_both_faces(faced: str) -> None:
    """The delivery flow once named a ``dispatch`` that only existed as ``adispatch``: the sync
    runner raised AttributeError. Typed effects make that a mypy error; this runs both faces."""
    seen: list[tuple[str, bool]] = []
    pm = Gateway(load_installed=False).plugin_manager
    handlers = Handlers(pm)
    handlers.add("*", lambda event: seen.append((event.id, _on_event_loop())))
    ctx = DeliveryContext(MemoryStore(), handlers, lock_timeout=5, retention=60)
    provider, body, headers = _signed_delivery()
    flow = deliver(ctx, provider, body, headers)
    delivered = run(flow) if faced == "sync" else asyncio.run(arun(flow))
    assert delivered.outcome is Outcome.PROCESSED
    assert seen == [("evt_1", False)]


def test_unipay_reconcile_settles_keys_from_the_command_line(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from unipay import cli

    url = f"sqlite:///{tmp_path / 'unipay.db'}"
    keyless = Keyless(lookup=True)
    keyless.fail, keyless.lookup_fails = ["after"], True
    gateway = Gateway(store=url, providers=[keyless], load_installed=False)
    with gateway, pytest.raises(OutcomeUnknown):
        gateway.create_payment(idempotency_key="order-7", **CHARGE)
    keyless.lookup_fails = False
    # The command's gateway is the installed providers' one; this test's provider is not
    # installed, so hand it in.
    monkeypatch.setattr(
        cli,
        "Gateway",
        lambda **kwargs: Gateway(providers=[keyless], load_installed=False, **kwargs),
    )
    assert cli.main(["reconcile", "--url", url, "order-7", "never-used"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("order-7: payment keyless:pay_") and out[0].endswith("(succeeded)")
    assert out[1].startswith("never-used: not settled: No call with idempotency key")
    assert keyless.processor.calls["create"] == 1


def test_a_01_provider_is_told_once_how_to_migrate() -> None:
    class Legacy(Plain):
        def create_payment(self, request: CreatePaymentRequest, ctx: CallContext) -> Payment:
            return super().create_payment(request, ctx)

    gateway = Gateway(providers=[Legacy()], load_installed=False)
    with pytest.warns(DeprecationWarning, match=r"Legacy\.create_payment is a plain method"):
        gateway.create_payment(provider="plain", amount=100, currency="USD")


# --- payment methods: any token, or a structured object, never card data -------------------------


DROP_IN = {
    "type": "scheme",
    "encryptedCardNumber": "adyenjs_0_1_25$XYZ",
    "encryptedExpiryMonth": "adyenjs_0_1_25$MM",
    "encryptedSecurityCode": "adyenjs_0_1_25$CVC",
    "holderName": "J. Smith",
}


def test_a_structured_payment_method_passes_the_core_sorted() -> None:
    request = parse_request(
        CreatePaymentRequest, {**CHARGE, "payment_method": dict(reversed(DROP_IN.items()))}
    )
    assert request.payment_method == DROP_IN
    assert list(request.payment_method) == sorted(DROP_IN)
    reordered = parse_request(CreatePaymentRequest, {**CHARGE, "payment_method": DROP_IN})
    assert fingerprint("create_payment", "x", None, request) == fingerprint(
        "create_payment", "x", None, reordered
    )


@pytest.mark.parametrize(
    ("method", "problem"),
    [
        ({"type": "scheme", "number": "4111111111111111", "cvc": "737"}, "'number' field"),
        ({"type": "scheme", "card": {"cvc": "123"}}, "'cvc' field"),
        ({"type": "scheme", "note": "4111 1111 1111 1111"}, "card number"),
        ({"type": "scheme", "list": [{"deep": "4000056655665556"}]}, "card number"),
        ({}, "empty"),
        ({"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}}, "nested deeper"),
    ],
)
def test_card_data_in_a_structured_payment_method_is_refused(
    method: dict[str, Any], problem: str
) -> None:
    with pytest.raises(InvalidRequest, match=problem) as refused:
        parse_request(CreatePaymentRequest, {**CHARGE, "payment_method": method})
    assert refused.value.param == "payment_method"
    assert "4111" not in str(refused.value) and "4000" not in str(refused.value)


async def test_a_provider_refuses_what_it_does_not_take(face_of: Any) -> None:
    class Picky(Keyless):
        def create_payment(self, request: CreatePaymentRequest, ctx: CallContext) -> Flow[Payment]:
            self.token(request.payment_method, prefixes=("tok_",))
            return (yield from super().create_payment(request, ctx))

    face = face_of(Picky(lookup=False))
    for method in ("pm_card_visa", DROP_IN):
        with pytest.raises(InvalidRequest, match="starting with 'tok_'") as refused:
            await face("create_payment", payment_method=method, **CHARGE)
        assert refused.value.param == "payment_method"
    assert (await face("create_payment", payment_method="tok_ok", **CHARGE)).amount == 1000


def test_a_next_actions_result_reaches_the_provider_checked() -> None:
    checkout = {
        "razorpay_payment_id": "pay_29QQoUBi66xm2f",
        "razorpay_order_id": "order_9A33XWu170gUtm",
        "razorpay_signature": "9ef4dffbfd84f1318f6739a3ce19f9d85851857ae648f114332d8401e0949a3d",
    }
    request = parse_request(ConfirmPaymentRequest, {"action_result": checkout})
    assert request.action_result == checkout
    with pytest.raises(InvalidRequest, match="card number") as refused:
        parse_request(ConfirmPaymentRequest, {"action_result": {"pan": "4242424242424242"}})
    assert refused.value.param == "action_result"


# --- HTTP providers: one client pair, closed with the gateway; errors by status ------------------


class Http(Provider):
    """A provider over unipay's HttpClient, on httpx's mock transports."""

    name = "http"
    capabilities = Capabilities(confirmation=False)

    def __init__(
        self,
        answer: httpx.Response,
        errors: Callable[[httpx.Response], UnipayError] | None = None,
    ) -> None:
        def handler(request: httpx.Request) -> httpx.Response:
            self.seen.append(request)
            return answer

        self.seen: list[httpx.Request] = []
        self.http = HttpClient(
            provider=self.name,
            base_url="https://api.example/v1/",
            headers={"Authorization": "Bearer sk_secret"},
            transport=httpx.MockTransport(handler),
            async_transport=httpx.MockTransport(handler),
            errors=errors,
        )

    def create_payment(self, request: CreatePaymentRequest, ctx: CallContext) -> Flow[Payment]:
        answer = yield from self.http.json(
            "POST", "charges", json={"amount": request.amount}, headers={"Idempotency-Key": "k"}
        )
        return Payment(provider=self.name, status="succeeded", **answer)

    def refund_payment(
        self, provider_payment_id: str, request: RefundPaymentRequest, ctx: CallContext
    ) -> Flow[Refund]:
        raise NotImplementedError
        yield  # a flow that never yields


async def test_an_http_provider_serves_both_faces_and_closes_with_the_gateway(
    face_of: Any,
) -> None:
    ok = httpx.Response(
        200, json={"provider_payment_id": "ch_1", "amount": 1000, "currency": "EUR"}
    )
    http = Http(ok)
    face = face_of(http)
    payment = await face("create_payment", provider="http", amount=1000, currency="EUR")
    assert payment.id == "http:ch_1"
    sent = http.seen[0]
    assert (str(sent.url), sent.headers["authorization"]) == (
        "https://api.example/v1/charges",
        "Bearer sk_secret",
    )
    assert (sent.headers["idempotency-key"], json.loads(sent.content)) == ("k", {"amount": 1000})
    client = http.http._client if isinstance(face.gateway, Gateway) else http.http._async_client
    other = http.http._async_client if isinstance(face.gateway, Gateway) else http.http._client
    assert client is not None and other is None  # each face builds only its own client
    await face("aclose" if isinstance(face.gateway, AsyncGateway) else "close")
    assert client.is_closed
    assert "sk_secret" not in repr(http.http)


@pytest.mark.parametrize(
    ("status", "error", "retriable"),
    [
        (400, InvalidRequest, False),
        (401, AuthenticationFailed, False),
        (404, PaymentNotFound, False),
        (409, InvalidPaymentState, False),
        (418, ProviderError, False),
        (429, ProviderUnavailable, True),
        (503, ProviderUnavailable, True),
    ],
)
async def test_http_errors_by_status(
    face_of: Any, status: int, error: type[Exception], retriable: bool
) -> None:
    face = face_of(Http(httpx.Response(status)), retry=unipay.RetryPolicy(attempts=1))
    with pytest.raises(error) as raised:
        await face("create_payment", provider="http", amount=1000, currency="EUR")
    assert raised.value.retriable is retriable  # type: ignore[attr-defined]


async def test_an_error_answer_is_raised_as_the_providers_own_error(face_of: Any) -> None:
    def declined(response: httpx.Response) -> UnipayError:
        text = response.json()["error"]
        return PaymentDeclined(http.http.redact(text), decline_code="card_declined")

    refusal = httpx.Response(402, json={"error": "sk_secret was declined"})
    http = Http(refusal, errors=declined)
    with pytest.raises(PaymentDeclined) as raised:
        await face_of(http)("create_payment", provider="http", amount=1000, currency="EUR")
    assert raised.value.message == "[redacted] was declined"


@pytest.mark.parametrize("body", [b"<html>", b"[1, 2]", b""])
async def test_a_success_that_is_not_a_json_object_is_a_final_provider_error(
    face_of: Any, body: bytes
) -> None:
    face = face_of(Http(httpx.Response(200, content=body)))
    with pytest.raises(ProviderError) as raised:
        await face("create_payment", provider="http", amount=1000, currency="EUR")
    assert raised.value.retriable is False
    assert raised.value.message == (
        "http answered POST charges with HTTP 200 and a body that is not a JSON object."
    )


def test_redact_removes_the_clients_credentials_and_the_secrets_it_is_given() -> None:
    client = HttpClient(
        provider="p",
        base_url="https://api.example/",
        headers={
            "Authorization": "Bearer sk_test_1",
            "X-Api-Key": "ak_test_2",
            "Api-Key-Version": "2",  # too short to be a credential
            "Accept": "text/plain",
        },
        auth=("key_id", "pw_test_3"),
        secrets=["whsec_4", None, ""],
    )
    text = client.redact("sk_test_1 ak_test_2 pw_test_3 whsec_4 key_id text/plain Bearer v2")
    assert text == "[redacted] [redacted] [redacted] [redacted] key_id text/plain Bearer v2"


async def test_a_refused_connection_says_the_request_never_left(face_of: Any) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    http = Http(httpx.Response(200))
    transport = httpx.MockTransport(refuse)
    http.http = HttpClient(
        provider="http", base_url="https://api.example/", transport=transport,
        async_transport=transport,
    )  # fmt: skip
    face = face_of(http, retry=unipay.RetryPolicy(attempts=1))
    with pytest.raises(ProviderUnavailable) as raised:
        await face("create_payment", provider="http", amount=1000, currency="EUR")
    assert raised.value.request_sent is False and "could not connect" in raised.value.message


async def test_an_operation_on_a_payment_sees_it_as_the_store_last_saw_it(face_of: Any) -> None:
    """A provider that cannot retrieve payments (Adyen) still knows a payment's amount and
    currency when another process or host created it: the gateway hands over the stored one."""
    keyless = Keyless(lookup=False)
    face = face_of(keyless)
    payment = await face("create_payment", **CHARGE)
    await face("refund_payment", payment.id)
    seen = keyless.contexts[0].payment
    assert seen is not None and (seen.id, seen.amount, seen.currency) == (payment.id, 1000, "EUR")


def test_a_hex_signature_is_not_taken_for_a_card_number() -> None:
    """64 hex characters hold a Luhn-valid run of 13-19 digits about once in a hundred; a
    checkout's signature must not be refused for it, while a number standing alone still is."""
    signature = "9ef4dffb" + "4242424242424242" + "f1318f6739a3ce19f9d85851857ae648f114332d8401e0"
    answer = {"razorpay_signature": signature, "razorpay_payment_id": "pay_29QQoUBi66xm2f"}
    assert parse_request(ConfirmPaymentRequest, {"action_result": answer}).action_result == answer
    with pytest.raises(InvalidRequest, match="card number"):
        parse_request(ConfirmPaymentRequest, {"action_result": {"n": "x 4242424242424242"}})
