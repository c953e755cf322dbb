"""The plugin as a user meets it: URLs through the entry point, a gateway on both faces, errors
that name the fix, and no password in any repr, error or log line."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from unipay_redis import RedisStore, open_url
from unipay_redis.testing import RedisServer
from unipay_redis.url import hide_secrets, parse_url

from unipay import AsyncGateway, Gateway
from unipay.errors import InvalidRequest, StoreUnavailable
from unipay.plugins import make_plugin_manager
from unipay.storage import MemoryStore, SplitStore, SQLStore, open_store
from unipay.testing import Face
from unipay_mock import Ledger, MockProvider

CHARGE = {"provider": "mock", "amount": 4200, "currency": "USD", "payment_method": "pm_card_visa"}


def test_the_installed_plugin_claims_redis_urls(redis_url: str, prefix: str) -> None:
    store = open_store(f"{redis_url}?prefix={prefix}&records=memory://", make_plugin_manager())
    assert isinstance(store, SplitStore)
    assert isinstance(store.keys, RedisStore)
    assert isinstance(store.records, MemoryStore)
    assert store.keys.options.prefix == prefix
    store.close()


def test_other_urls_are_left_to_the_sql_store(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'x.db'}", make_plugin_manager())
    assert isinstance(store, SQLStore)
    store.close()


def test_records_url_keeps_its_plus_and_its_own_query(tmp_path: Path) -> None:
    parsed = parse_url(
        "redis://h:1/2?socket_timeout=3&records=postgresql+psycopg://u:pw@db/x%3Fsslmode%3Drequire"
    )
    assert parsed.records == "postgresql+psycopg://u:pw@db/x?sslmode=require"
    assert parsed.client_url == "redis://h:1/2?socket_timeout=3"
    store = open_url(f"redis://127.0.0.1:6379/0?records=sqlite:///{tmp_path / 'r.db'}")
    assert isinstance(store.records, SQLStore)
    store.close()


def test_cluster_urls() -> None:
    parsed = parse_url("redis+cluster://:pw@10.0.0.1:7000,10.0.0.2:7001,[::1]:7002")
    assert parsed.cluster
    assert parsed.client_url == "redis://:pw@10.0.0.1:7000"
    assert parsed.more_nodes == (("10.0.0.2", 7001), ("::1", 7002))
    assert parse_url("rediss+cluster://h:7000").client_url == "rediss://h:7000"
    with pytest.raises(InvalidRequest, match="database 0 only"):
        parse_url("redis+cluster://h:7000/3")
    with pytest.raises(InvalidRequest, match="redis\\+cluster:// URLs"):
        parse_url("redis://h1:1,h2:2/0")


@pytest.mark.parametrize(
    ("url", "fix"),
    [
        ("redis://127.0.0.1:6379/0", "records=postgresql"),
        ("redis://127.0.0.1:6379/0?records=redis://other", "SQL database or memory://"),
        ("redis://127.0.0.1:6379/0?records=memory://&prefix={x}", "without braces"),
        ("memcached://h", "scheme must be one of"),
    ],
)
def test_unusable_urls_name_the_fix(url: str, fix: str) -> None:
    with pytest.raises(InvalidRequest, match=fix):
        open_url(url)


def test_redis_store_alone_refuses_records_urls() -> None:
    with pytest.raises(InvalidRequest, match="SplitStore"):
        RedisStore("redis://h/0?records=memory://")


@pytest.mark.parametrize("face", [Gateway, AsyncGateway])
async def test_a_gateway_on_a_redis_url_replays_and_keeps_records(
    face: type[Gateway] | type[AsyncGateway], redis_url: str, prefix: str, tmp_path: Path
) -> None:
    records = f"sqlite:///{tmp_path / 'records.db'}"
    call = Face(
        face(
            store=f"{redis_url}?prefix={prefix}&records={records}",
            providers=[MockProvider(ledger=Ledger())],
            load_installed=True,
        )
    )
    first = await call("create_payment", **CHARGE, idempotency_key="order-1")
    again = await call("create_payment", **CHARGE, idempotency_key="order-1")
    assert again == first.model_copy(update={"replayed": True})
    assert await call("stored_payment", first.id) == first
    refund = await call("refund_payment", first.id, amount=1000, idempotency_key="refund-1")
    stored = await call("stored_payment", first.id)
    assert stored.amount_refunded == 1000
    assert refund.payment_id == first.id
    await call("close" if face is Gateway else "aclose")
    # The key went to Redis, the payment to SQL.
    keys = RedisStore(redis_url, prefix=prefix)
    assert keys.get_result("operation", "order-1") is not None
    sql = SQLStore(records)
    assert sql.get_payment(first.id) is not None
    assert sql.get_result("operation", "order-1") is None
    keys.close()
    sql.close()


def test_no_password_in_reprs_errors_or_logs(
    private_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "s3cr3t-Pa55"
    private_redis.client().config_set("requirepass", secret)
    url = f"redis://:{secret}@127.0.0.1:{private_redis.port}/0?records=memory://"
    wrong = f"redis://:wrong-{secret}@127.0.0.1:{private_redis.port}/0?records=memory://"
    caplog.set_level(logging.DEBUG)
    store = open_url(url)
    gateway = Gateway(store=store, providers=[MockProvider(ledger=Ledger())], load_installed=False)
    gateway.create_payment(**CHARGE, idempotency_key="k-1")
    bad = Gateway(store=wrong, providers=[MockProvider(ledger=Ledger())], load_installed=True)
    with pytest.raises(StoreUnavailable) as failed:
        bad.create_payment(**CHARGE, idempotency_key="k-2")
    private_redis.kill()
    with pytest.raises(StoreUnavailable) as down:
        gateway.create_payment(**CHARGE, idempotency_key="k-3")
    shown = [repr(store), repr(gateway), repr(bad), str(failed.value), str(down.value)]
    shown += [str(failed.value.__cause__), str(down.value.__cause__), caplog.text]
    assert all(secret not in text for text in shown), shown
    assert "***" in repr(store)
    assert "redis://:***@127.0.0.1" in str(down.value)


def test_hide_secrets() -> None:
    assert hide_secrets("redis://user:pw@h:1/0") == "redis://user:***@h:1/0"
    assert hide_secrets("redis://h/0?password=pw&x=1") == "redis://h/0?password=***&x=1"
    text = "redis://:a@h/0?records=postgresql+psycopg://u:b@db/x"
    assert hide_secrets(text) == "redis://:***@h/0?records=postgresql+psycopg://u:***@db/x"
