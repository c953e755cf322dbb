"""Idempotency keys: what no header or store can carry is refused up front, and never as retriable.

Before, such keys were claimed in the store and sent on, and failed there: Stripe's transport with
a retriable ProviderUnavailable, PostgreSQL on NUL with a retriable StoreUnavailable, the memory
store with a bare UnicodeEncodeError. A retry can never fix a key, so it must be an InvalidRequest.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import h11
import httpx
import pytest
import respx

from unipay import RetryPolicy
from unipay.errors import InvalidRequest
from unipay.storage import MemoryStore, SQLStore, Store
from unipay.testing.faces import Face
from unipay_mock import Ledger, MockProvider
from unipay_stripe import StripeProvider

#: One sample of every kind of key the rule refuses.
BAD_KEYS = {
    "non-ASCII letter": "clé-de-commande",
    "non-ASCII space": "order\u00a042",
    "emoji": "order-\U0001f4b3",
    "lone surrogate": "order-\udc80",  # not even UTF-8: the memory store's UnicodeEncodeError
    "control character": "order\x0142",
    "escape": "order\x1b[31m",
    "DEL": "order\x7f",
    "tab": "order\t42",
    "LF": "order\n42",
    "CRLF": "order\r\n42",
    "header injection": "order-42\r\nX-Injected: 1",
    "NUL": "order\x0042",  # PostgreSQL refuses NUL in text
    "too long": "k" * 256,
    "empty": "",
    "leading space": " order-42",  # HTTP trims it: the provider would see another key
    "trailing space": "order-42 ",
}

#: Keys the rule accepts: each is a valid header value and kept as is by every store.
GOOD_KEYS = {
    "UUID4": "8e03978e-40d5-43e8-bc93-6894a57f9324",
    "one character": "k",
    "255 characters": "k" * 255,
    "every printable ASCII character": "".join(chr(c) for c in range(0x21, 0x7F)),
    "inner spaces": "order 42 / attempt 1",
}

CHARGE: dict[str, Any] = {
    "provider": "mock",
    "amount": 1299,
    "currency": "USD",
    "payment_method": "pm_card_visa",
}


class CountingStore(MemoryStore):
    """A memory store that counts claims: a refused key must never reach the store."""

    def __init__(self) -> None:
        super().__init__()
        self.claims = 0

    def claim(self, scope: str, key: str, fingerprint: str, **kw: Any) -> Any:
        self.claims += 1
        return super().claim(scope, key, fingerprint, **kw)


def mock_of(face: Face) -> MockProvider:
    provider = face.gateway.providers.get("mock")
    assert isinstance(provider, MockProvider)
    return provider


def assert_refused(caught: pytest.ExceptionInfo[InvalidRequest], key: object) -> None:
    error = caught.value
    assert error.param == "idempotency_key"
    assert error.retriable is False
    assert error.to_dict()["retriable"] is False
    assert "1 to 255 printable ASCII characters" in error.message  # says what is allowed
    if isinstance(key, str) and len(key) > 1:
        assert key not in error.message  # the key itself is never repeated


@pytest.fixture
def counted(make_face: Callable[..., Face]) -> tuple[Face, CountingStore]:
    store = CountingStore()
    face = make_face(store=store, providers=[MockProvider(ledger=Ledger())], load_installed=False)
    return face, store


@pytest.mark.parametrize("key", BAD_KEYS.values(), ids=BAD_KEYS.keys())
async def test_a_bad_key_is_refused_before_the_store_and_the_provider(
    counted: tuple[Face, CountingStore], key: str
) -> None:
    face, store = counted
    with pytest.raises(InvalidRequest) as caught:
        await face("create_payment", **CHARGE, idempotency_key=key)
    assert_refused(caught, key)
    assert store.claims == 0
    assert mock_of(face).ledger.count_payments() == 0


@pytest.mark.parametrize("key", [42, b"order-42", ["order-42"]], ids=["int", "bytes", "list"])
async def test_a_key_that_is_not_a_string_is_refused(
    counted: tuple[Face, CountingStore], key: object
) -> None:
    face, store = counted
    with pytest.raises(InvalidRequest) as caught:
        await face("create_payment", **CHARGE, idempotency_key=key)
    assert_refused(caught, key)
    assert "not a string" in caught.value.message
    assert store.claims == 0


@pytest.mark.parametrize("operation", ["confirm", "capture", "cancel", "refund"])
async def test_every_mutating_call_refuses_a_bad_key(
    counted: tuple[Face, CountingStore], operation: str
) -> None:
    face, store = counted
    manual = operation in ("capture", "cancel")
    created = await face(
        "create_payment",
        **{**CHARGE, "confirm": operation != "confirm"},
        capture_method="manual" if manual else "automatic",
    )
    claims = store.claims
    with pytest.raises(InvalidRequest) as caught:
        await face(f"{operation}_payment", created.id, idempotency_key="order\r\n42")
    assert_refused(caught, "order\r\n42")
    assert store.claims == claims


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """Every kind of store, since each must keep every key the rule accepts."""
    made: Store
    if request.param == "memory":
        made = MemoryStore()
    elif request.param == "sqlite":
        made = SQLStore(f"sqlite:///{tmp_path / 'unipay.db'}")
    else:
        url: str = request.getfixturevalue("postgres_url")
        made = SQLStore(url, table_prefix=f"t{uuid.uuid4().hex[:10]}_")
    yield made
    if isinstance(made, SQLStore) and request.param == "postgres":
        made.metadata.drop_all(made.engine)
    made.close()


@pytest.mark.parametrize("key", GOOD_KEYS.values(), ids=GOOD_KEYS.keys())
async def test_a_good_key_charges_once_and_replays_on_every_store(
    make_face: Callable[..., Face], store: Store, key: str
) -> None:
    face = make_face(store=store, providers=[MockProvider(ledger=Ledger())], load_installed=False)
    first = await face("create_payment", **CHARGE, idempotency_key=key)
    again = await face("create_payment", **CHARGE, idempotency_key=key)
    assert again.id == first.id and again.replayed and not first.replayed
    assert mock_of(face).ledger.count_payments(created_with_key=key) == 1


@pytest.mark.parametrize(
    "key",
    [BAD_KEYS[k] for k in ("NUL", "lone surrogate", "non-ASCII letter", "CRLF")],
    ids=["NUL", "lone surrogate", "non-ASCII", "CRLF"],
)
async def test_a_bad_key_is_an_invalid_request_on_every_store(
    make_face: Callable[..., Face], store: Store, key: str
) -> None:
    """Not StoreUnavailable (retriable) from PostgreSQL on NUL, nor a bare UnicodeEncodeError."""
    face = make_face(store=store, providers=[MockProvider(ledger=Ledger())], load_installed=False)
    with pytest.raises(InvalidRequest) as caught:
        await face("create_payment", **CHARGE, idempotency_key=key)
    assert_refused(caught, key)
    assert mock_of(face).ledger.count_payments() == 0


@pytest.mark.parametrize("key", GOOD_KEYS.values(), ids=GOOD_KEYS.keys())
def test_a_good_key_is_a_valid_http_header_value(key: str) -> None:
    """h11 (httpx's HTTP/1.1) validates header values as it sends them: every good key passes."""
    h11.Request(method="POST", target="/", headers=[("Host", "api"), ("Idempotency-Key", key)])


@pytest.fixture
def stripe_http() -> Iterator[respx.Route]:
    """Every request to Stripe recorded and answered 500: a bad key must send none."""
    with respx.mock(assert_all_called=False) as router:
        yield router.route(host="api.stripe.com").mock(
            return_value=httpx.Response(500, json={"error": {"message": "unexpected"}})
        )


@pytest.mark.parametrize(
    "key",
    [BAD_KEYS[k] for k in ("non-ASCII letter", "LF", "CRLF", "NUL")],
    ids=["non-ASCII", "LF", "CRLF", "NUL"],
)
async def test_stripe_is_never_sent_a_bad_key(
    make_face: Callable[..., Face], stripe_http: respx.Route, key: str
) -> None:
    stripe = StripeProvider(api_key="sk_test_51QbZ0aLkdIwHu7ixUNIPAYtestKEY1")
    face = make_face(providers=[stripe], load_installed=False, retry=RetryPolicy(attempts=1))
    try:
        with pytest.raises(InvalidRequest) as caught:
            await face("create_payment", **{**CHARGE, "provider": "stripe"}, idempotency_key=key)
    finally:
        stripe.close()
    assert_refused(caught, key)
    assert stripe_http.call_count == 0
