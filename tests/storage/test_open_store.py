"""How a gateway gets its store: URLs, plugins claiming schemes, and async without blocking."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from unipay import AsyncGateway, Gateway, hookimpl
from unipay.storage import MemoryStore, SQLStore, Store


def test_a_sqlalchemy_url_opens_a_sql_store(tmp_path: Path) -> None:
    gateway = Gateway(store=f"sqlite:///{tmp_path / 'app.db'}", load_installed=False)
    assert isinstance(gateway.store, SQLStore)
    assert isinstance(Gateway(store="memory://", load_installed=False).store, MemoryStore)


def test_a_plugin_claims_its_url_scheme_first() -> None:
    custom = MemoryStore()

    class AcmeStores:
        @hookimpl
        def unipay_store_from_url(self, url: str) -> Store | None:
            return custom if url.startswith("acme://") else None

    gateway = Gateway(store="acme://cluster/1", plugins=[AcmeStores()], load_installed=False)
    assert gateway.store is custom


class ThreadRecordingStore(SQLStore):
    """A real SQLite store that notes which thread ran each claim."""

    threads: list[int]

    def claim(self, *args: Any, **kwargs: Any) -> Any:
        self.threads.append(threading.get_ident())
        return super().claim(*args, **kwargs)


async def test_async_gateway_runs_sql_store_calls_off_the_event_loop(
    tmp_path: Path, mock: Any
) -> None:
    store = ThreadRecordingStore(f"sqlite:///{tmp_path / 'app.db'}")
    store.threads = []
    gateway = AsyncGateway(store=store, providers=[mock], load_installed=False)
    payment = await gateway.create_payment(
        provider="mock", amount=100, currency="USD", payment_method="pm_card_visa"
    )
    assert payment.status == "succeeded"
    assert store.threads
    assert threading.get_ident() not in store.threads
