"""Every store in this repository passes the public conformance suite."""

from __future__ import annotations

import pytest

from unipay.storage import MemoryStore, SQLStore, Store
from unipay.testing.store import StoreConformance


class TestMemoryStore(StoreConformance):
    @pytest.fixture
    def store(self) -> Store:
        return MemoryStore()


class TestSQLiteStore(StoreConformance):
    @pytest.fixture
    def store(self, sqlite_store: SQLStore) -> Store:
        return sqlite_store


@pytest.mark.postgres
class TestPostgresStore(StoreConformance):
    @pytest.fixture
    def store(self, postgres_store: SQLStore) -> Store:
        return postgres_store
