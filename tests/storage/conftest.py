"""Stores for the idempotency tests: memory, a SQLite file, and PostgreSQL (tables of their own)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from unipay import AsyncGateway, CallContext, Gateway, RetryPolicy
from unipay.storage import MemoryStore, SQLStore, Store
from unipay.testing.faces import Face
from unipay_mock import MockProvider

StoreFactory = Callable[[], Store]


def sqlite_url(directory: Path) -> str:
    return f"sqlite:///{directory / 'unipay.db'}"


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[SQLStore]:
    store = SQLStore(sqlite_url(tmp_path))
    yield store
    store.close()


@pytest.fixture
def postgres_store(postgres_url: str) -> Iterator[SQLStore]:
    """A store whose tables carry a per-test prefix, dropped afterwards."""
    store = SQLStore(postgres_url, table_prefix=f"t{uuid.uuid4().hex[:10]}_")
    yield store
    store.metadata.drop_all(store.engine)
    store.close()


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_store(request: pytest.FixtureRequest) -> Store:
    """Each test using it runs once per kind of store."""
    if request.param == "memory":
        return MemoryStore()
    store: Store = request.getfixturevalue(f"{request.param}_store")
    return store


class Crash(BaseException):
    """Stands in for the process dying: no ``except Exception`` in the gateway catches it."""


class SpyMock(MockProvider):
    """The real mock provider, recording every call that reaches it (operation, key, attempt)."""

    Crash = Crash

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.calls: list[tuple[str, str, int]] = []
        self.crash_after_work = False

    def _work(self, operation: str, *args: Any) -> Any:
        context: CallContext = args[-1]
        self.calls.append((operation, context.idempotency_key, context.attempt))
        outcome = super()._work(operation, *args)
        if self.crash_after_work:
            raise Crash
        return outcome


class Clock:
    """A settable Unix clock, so expiry and lock timeouts are tested without sleeping."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def mock() -> SpyMock:
    return SpyMock()


@pytest.fixture
def clock() -> Clock:
    return Clock()


GatewayFactory = Callable[..., Face]


@pytest.fixture(params=["sync", "async"])
def make_face(
    request: pytest.FixtureRequest, any_store: Store, mock: SpyMock, clock: Clock
) -> GatewayFactory:
    """Builds a gateway of the parametrised face over ``any_store`` and the spy mock."""
    face_class = Gateway if request.param == "sync" else AsyncGateway

    def make(**options: Any) -> Face:
        options.setdefault("retry", RetryPolicy(base_delay=0.0, max_delay=0.0))
        options.setdefault("clock", clock)
        gateway = face_class(store=any_store, providers=[mock], load_installed=False, **options)
        return Face(gateway)

    return make
