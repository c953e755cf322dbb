"""The public store conformance suite on Redis and on Redis Cluster, sync and async.

The suite drives a whole store, so Redis keys are paired with a record store as in production
(``SplitStore``): every idempotency test exercises Redis; the record tests exercise the record
store, memory or a SQLite file. The suite drives the sync methods only, so the key operations
are run again below through the async face, which must never fall back to a worker thread.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from unipay_redis import RedisStore
from unipay_redis.testing import LocalCluster

from unipay.storage import ClaimState, MemoryStore, SplitStore, SQLStore, Store
from unipay.testing.store import KEEP, LOCK, PAST_SHORT, SCOPE, SHORT, StoreConformance


class _RedisExpiry(StoreConformance):
    """Redis forgets expired keys by itself (PEXPIREAT at the end of the retention), so
    ``purge_expired`` finds nothing: the suite's purge test counts what a purge deleted, which
    here is what Redis had already deleted. The rest of that test holds as written."""

    def test_purge_deletes_only_expired_records_in_batches(self, store: Store) -> None:
        old = [f"old-{uuid.uuid4().hex}" for _ in range(5)]
        for key in old:
            token = store.claim(SCOPE, key, "fp-a", lease=SHORT / 2, retention=SHORT).token
            assert token is not None
            store.complete(SCOPE, key, token, "{}")
        live = f"live-{uuid.uuid4().hex}"
        store.claim(SCOPE, live, "fp-a", lease=LOCK, retention=KEEP)
        time.sleep(PAST_SHORT)
        assert all(store.get_result(SCOPE, key) is None for key in old)
        assert store.purge_expired(batch_size=2) == 0
        assert store.claim(SCOPE, live, "fp-a", lease=LOCK, retention=KEEP).state is (
            ClaimState.IN_PROGRESS
        )
        assert isinstance(store, SplitStore)
        keys = store.keys
        assert isinstance(keys, RedisStore)
        client: Any = keys.client()
        assert client.exists(*(keys.key(SCOPE, key) for key in old)) == 0  # gone, not hidden
        assert 0 < client.pttl(keys.key(SCOPE, live)) <= KEEP * 1000


class TestRedis(_RedisExpiry):
    @pytest.fixture
    def store(self, redis_url: str, prefix: str) -> Iterator[Store]:
        store = SplitStore(keys=RedisStore(redis_url, prefix=prefix), records=MemoryStore())
        yield store
        store.close()


@pytest.mark.slow
class TestRedisCluster(_RedisExpiry):
    @pytest.fixture
    def store(self, redis_cluster: LocalCluster) -> Iterator[Store]:
        prefix = f"conformance:{uuid.uuid4().hex[:8]}:"
        store = SplitStore(keys=RedisStore(redis_cluster.url, prefix=prefix), records=MemoryStore())
        yield store
        store.close()


class TestRedisWithSQLRecords(_RedisExpiry):
    """The production pairing: keys in Redis, payments and refunds in SQL."""

    @pytest.fixture
    def store(self, redis_url: str, prefix: str, tmp_path: Path) -> Iterator[Store]:
        records = SQLStore(f"sqlite:///{tmp_path / 'records.db'}")
        store = SplitStore(keys=RedisStore(redis_url, prefix=prefix), records=records)
        yield store
        store.close()


# --- the async face ----------------------------------------------------------------------------


@pytest.fixture(params=["standalone", pytest.param("cluster", marks=pytest.mark.slow)])
async def astore(request: pytest.FixtureRequest) -> AsyncIterator[SplitStore]:
    """Redis keys (standalone or cluster) on the async face; records in memory."""
    if request.param == "standalone":
        url = request.getfixturevalue("redis_url")
        prefix = request.getfixturevalue("prefix")
    else:
        url = request.getfixturevalue("redis_cluster").url
        prefix = f"aconformance:{uuid.uuid4().hex[:8]}:"
    store = SplitStore(keys=RedisStore(url, prefix=prefix), records=MemoryStore())
    yield store
    await store.aclose()


@pytest.fixture(autouse=True)
def no_worker_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    """The async face awaits redis.asyncio: a call that went to a thread fails the test."""

    async def refuse(*_: object, **__: object) -> None:
        raise AssertionError("the async face ran a store method in a worker thread")

    monkeypatch.setattr(asyncio, "to_thread", refuse)


async def _aclaim(
    store: SplitStore, key: str, fp: str = "fp-a", *, lease: float = LOCK, keep: float = KEEP
) -> Any:
    return await store.aclaim(SCOPE, key, fp, lease=lease, retention=keep)


def _key() -> str:
    return "key-" + uuid.uuid4().hex


async def test_async_claim_hold_mismatch_complete_replay(astore: SplitStore) -> None:
    key = _key()
    claim = await _aclaim(astore, key)
    assert claim.state is ClaimState.CLAIMED
    assert (await _aclaim(astore, key)).state is ClaimState.IN_PROGRESS
    assert (await _aclaim(astore, key, "fp-b")).state is ClaimState.MISMATCH
    await astore.acomplete(SCOPE, key, claim.token, '{"x":1}')
    replay = await _aclaim(astore, key)
    assert (replay.state, replay.result) == (ClaimState.COMPLETED, '{"x":1}')
    assert await astore.aget_result(SCOPE, key) == '{"x":1}'
    assert (await _aclaim(astore, key, "fp-b")).state is ClaimState.MISMATCH


async def test_async_fencing_and_release(astore: SplitStore) -> None:
    key = _key()
    old = (await _aclaim(astore, key, lease=SHORT)).token
    await asyncio.sleep(PAST_SHORT)
    new = (await _aclaim(astore, key)).token
    assert new is not None
    assert new != old
    await astore.acomplete(SCOPE, key, old, '{"old":1}')
    await astore.arelease(SCOPE, key, old)
    assert (await _aclaim(astore, key)).state is ClaimState.IN_PROGRESS
    await astore.arelease(SCOPE, key, new)
    assert await astore.aget_result(SCOPE, key) is None
    assert (await _aclaim(astore, key, "fp-b")).state is ClaimState.CLAIMED


async def test_async_leases_belong_to_the_claimer(astore: SplitStore) -> None:
    long, short = _key(), _key()
    await _aclaim(astore, long, lease=LOCK)
    await _aclaim(astore, short, lease=SHORT)
    await asyncio.sleep(PAST_SHORT)
    assert (await _aclaim(astore, long, lease=0.001)).state is ClaimState.IN_PROGRESS
    assert (await _aclaim(astore, short, lease=LOCK)).state is ClaimState.CLAIMED
    assert (await _aclaim(astore, short, "fp-b")).state is ClaimState.MISMATCH


async def test_async_expired_key_runs_as_new(astore: SplitStore) -> None:
    key = _key()
    claim = await _aclaim(astore, key, lease=SHORT / 2, keep=SHORT)
    await astore.acomplete(SCOPE, key, claim.token, "{}")
    await asyncio.sleep(PAST_SHORT)
    assert await astore.aget_result(SCOPE, key) is None
    assert (await _aclaim(astore, key, "fp-b")).state is ClaimState.CLAIMED
    assert await astore.apurge_expired() == 0


async def test_async_one_of_many_tasks_claims_a_key(astore: SplitStore) -> None:
    key = _key()
    claims = await asyncio.gather(*(_aclaim(astore, key) for _ in range(64)))
    states = [claim.state for claim in claims]
    assert states.count(ClaimState.CLAIMED) == 1
    assert states.count(ClaimState.IN_PROGRESS) == 63


async def test_async_one_of_many_tasks_takes_over_an_abandoned_claim(astore: SplitStore) -> None:
    key = _key()
    await _aclaim(astore, key, lease=SHORT)
    await asyncio.sleep(PAST_SHORT)
    claims = await asyncio.gather(*(_aclaim(astore, key) for _ in range(64)))
    assert [claim.state for claim in claims].count(ClaimState.CLAIMED) == 1
