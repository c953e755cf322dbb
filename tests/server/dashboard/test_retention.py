"""The server's activity settings: recording on by default (off with UNIPAY_RECORD_ACTIVITY),
and the lifespan's purge of entries older than UNIPAY_ACTIVITY_RETENTION_DAYS."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from unipay import AsyncGateway
from unipay.activity import Activity, ActivityKind, Outcome
from unipay.server import ServerSettings, create_app
from unipay.server.dashboard import purge_activity_periodically
from unipay.storage import MemoryStore


def _entry(number: int, days_ago: float) -> Activity:
    return Activity(
        id=f"act_{number:032x}",
        at=datetime.now(UTC) - timedelta(days=days_ago),
        kind=ActivityKind.OPERATION,
        provider="mock",
        operation="create_payment",
        outcome=Outcome.SUCCEEDED,
    )


async def _until(condition: object, what: str) -> None:
    for _ in range(500):
        if condition():  # type: ignore[operator]
            return
        await asyncio.sleep(0.01)
    pytest.fail(f"never happened: {what}")


async def test_the_lifespan_purges_entries_past_the_retention() -> None:
    async with AsyncGateway(store="memory://", load_installed=False) as gateway:
        gateway.store.record_activity([_entry(1, days_ago=10), _entry(2, days_ago=1)])
        settings = ServerSettings(database_url="memory://", unipay_activity_retention_days=5)
        app = create_app(settings, gateway=gateway)
        async with app.router.lifespan_context(app):
            await _until(lambda: len(gateway.store.list_activity()) == 1, "the old entry purged")
        assert [a.id for a in gateway.store.list_activity()] == [_entry(2, 0).id]


async def test_no_purge_when_recording_is_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UNIPAY_RECORD_ACTIVITY", "false")
    settings = ServerSettings(database_url="memory://")
    assert settings.unipay_record_activity is False
    app = create_app(settings)
    assert app.state.gateway.activity_recorder is None
    async with app.router.lifespan_context(app):
        pass
    monkeypatch.delenv("UNIPAY_RECORD_ACTIVITY")
    app = create_app(ServerSettings(database_url="memory://"))
    assert app.state.gateway.activity_recorder is not None
    await app.state.gateway.aclose()


async def test_a_store_without_a_log_ends_the_purge_quietly() -> None:
    class Logless(MemoryStore):
        def purge_activity(self, *, older_than: datetime, batch_size: int = 1000) -> int:
            raise NotImplementedError

    await asyncio.wait_for(purge_activity_periodically(Logless(), retention_days=1), 10)
