"""Fixtures: the server app with its dashboard over a gateway that records activity, open (no
API key) or protected by one, and an httpx client through ASGI.

The gateway's store is in memory unless a test module overrides ``store_kind``: test_pages.py
runs every page over a SQLite file and PostgreSQL too, the stores a dashboard shares with an
application."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from unipay import AsyncGateway
from unipay.server import ServerSettings, create_app
from unipay.storage import MemoryStore, SQLStore, Store
from unipay_mock import Ledger, MockProvider

API_KEY = "dashboard-test-key-5f1c"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
KEY = re.compile(r'name="key" value="([^"]+)"')


@pytest.fixture
def store_kind() -> str:
    return "memory"


@pytest.fixture
def store(store_kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if store_kind == "memory":
        yield MemoryStore()
        return
    if store_kind == "sqlite":
        sql = SQLStore(f"sqlite:///{tmp_path / 'unipay.db'}")
    else:
        postgres_url: str = request.getfixturevalue("postgres_url")
        sql = SQLStore(postgres_url, table_prefix=f"d{uuid.uuid4().hex[:10]}_")
    yield sql
    if store_kind == "postgres":
        sql.metadata.drop_all(sql.engine)
    sql.close()


@pytest.fixture
async def gateway(store: Store) -> AsyncIterator[AsyncGateway]:
    async with AsyncGateway(
        providers=[MockProvider(ledger=Ledger())], store=store, record_activity=True
    ) as gateway:
        yield gateway


def _settings(api_key: str | None) -> ServerSettings:
    return ServerSettings(
        database_url=SecretStr("memory://"),
        unipay_api_key=None if api_key is None else SecretStr(api_key),
    )


@pytest.fixture
def open_app(gateway: AsyncGateway) -> FastAPI:
    return create_app(_settings(None), gateway=gateway)


@pytest.fixture
def protected_app(gateway: AsyncGateway) -> FastAPI:
    return create_app(_settings(API_KEY), gateway=gateway)


async def _client(
    app: FastAPI, base_url: str = "http://testserver"
) -> AsyncIterator[httpx.AsyncClient]:
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url) as client,
    ):
        yield client


@pytest.fixture
async def client(open_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The open dashboard: no API key, read-only."""
    async for client in _client(open_app):
        yield client


@pytest.fixture
async def anonymous(protected_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The protected dashboard, not signed in."""
    async for client in _client(protected_app):
        yield client


async def sign_in(client: httpx.AsyncClient, key: str = API_KEY) -> httpx.Response:
    page = await client.get("/dashboard/login")
    token = csrf_of(page.text)
    return await client.post(
        "/dashboard/login", data={"csrf_token": token, "api_key": key, "next": ""}
    )


@pytest.fixture
async def operator(anonymous: httpx.AsyncClient) -> httpx.AsyncClient:
    """The protected dashboard, signed in with the server's key."""
    answer = await sign_in(anonymous)
    assert answer.status_code == 303, answer.text
    return anonymous


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found is not None, "the page has no CSRF token"
    return found.group(1)


def key_of(html: str) -> str:
    found = KEY.search(html)
    assert found is not None, "the page has no idempotency key"
    return found.group(1)
