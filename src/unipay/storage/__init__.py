"""Idempotency and record stores. ``MemoryStore`` is the default; ``SQLStore`` persists.

``SQLStore`` is imported on first use (module ``__getattr__``): SQLAlchemy takes longer to
import than the rest of unipay, and a program on the memory store never needs it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

from unipay.storage.base import Claim, ClaimState, KeyRecord, Store
from unipay.storage.memory import MemoryStore
from unipay.storage.split import SplitStore

if TYPE_CHECKING:
    from unipay.storage.sql import SQLStore


def __getattr__(name: str) -> Any:
    if name == "SQLStore":
        from unipay.storage.sql import SQLStore

        return SQLStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Claim",
    "ClaimState",
    "KeyRecord",
    "MemoryStore",
    "SQLStore",
    "SplitStore",
    "Store",
    "open_store",
]


def open_store(store: Store | str | None, pm: pluggy.PluginManager | None = None) -> Store:
    """A store from an object, a URL, or None (in memory).

    Plugins claim URL schemes first (``unipay_store_from_url``); any other URL is a SQLAlchemy
    URL for [`SQLStore`][unipay.storage.sql.SQLStore] (``sqlite:///unipay.db``, ``postgresql+psycopg://...``).
    """
    if store is None:
        return MemoryStore()
    if not isinstance(store, str):
        return store
    if store == "memory://":
        return MemoryStore()
    if pm is not None:
        found: Store | None = pm.hook.unipay_store_from_url(url=store)
        if found is not None:
            return found
    from unipay.storage.sql import SQLStore

    return SQLStore(store)
