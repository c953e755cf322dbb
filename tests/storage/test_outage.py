"""A store that cannot be reached fails the call before any provider call (fail closed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from unipay import AsyncGateway, Gateway
from unipay.errors import InvalidRequest, StoreUnavailable
from unipay.storage import SQLStore
from unipay.testing.faces import Face

CHARGE = {"provider": "mock", "amount": 500, "currency": "EUR", "payment_method": "pm_card_visa"}
DOWN = "postgresql+psycopg://shop:hunter2-secret@127.0.0.1:1/shop"


@pytest.fixture(params=[Gateway, AsyncGateway])
def gateway_class(request: pytest.FixtureRequest) -> type[Gateway] | type[AsyncGateway]:
    cls: type[Gateway] | type[AsyncGateway] = request.param
    return cls


@pytest.mark.parametrize("where", ["server down", "unwritable sqlite file"])
async def test_unreachable_store_fails_before_the_provider(
    gateway_class: type[Gateway] | type[AsyncGateway], mock: object, tmp_path: Path, where: str
) -> None:
    url = DOWN if where == "server down" else f"sqlite:///{tmp_path / 'missing' / 'x.db'}"
    face = Face(gateway_class(store=url, providers=[mock], load_installed=False))  # type: ignore[list-item]
    with pytest.raises(StoreUnavailable) as caught:
        await face("create_payment", **CHARGE, idempotency_key="outage")
    assert caught.value.retriable
    assert "Check that the database is running" in caught.value.message
    assert "hunter2" not in str(caught.value) and "hunter2" not in repr(face.gateway)
    assert mock.calls == []  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("url", "fix"),
    [
        ("not a url", "SQLAlchemy URL"),
        ("redis://localhost/0", "no database driver"),
        ("sqlite://", "SQLite file"),
        ("mysql+nosuchdriver://u:hunter2@h/db", "no database driver"),
    ],
)
def test_a_store_url_that_cannot_work_is_refused_up_front(url: str, fix: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        Gateway(store=url, load_installed=False)
    assert fix in caught.value.message
    assert caught.value.param == "store"
    assert "hunter2" not in caught.value.message


def test_repr_hides_the_password() -> None:
    store = SQLStore(DOWN)
    assert "hunter2" not in repr(store) and "***" in repr(store)
