"""The default store stays bounded by retention in a long-running process."""

from __future__ import annotations

from unipay.storage import MemoryStore


def test_expired_keys_are_dropped_as_new_claims_arrive() -> None:
    now = [0.0]
    store = MemoryStore(clock=lambda: now[0])
    for index in range(5_000):
        token = store.claim("operation", f"k{index}", "fp", lease=1, retention=10).token
        assert token is not None
        store.complete("operation", f"k{index}", token, "{}")
        now[0] += 0.01  # 100 claims a second: about 1,000 keys live within the retention
    assert len(store._records) <= 1_000 + MemoryStore.DROPPED_PER_CLAIM
    assert store.get_result("operation", "k4999") == "{}"
    assert store.get_result("operation", "k0") is None


def test_purge_drops_only_what_expired_without_rescanning() -> None:
    now = [0.0]
    store = MemoryStore(clock=lambda: now[0])
    for index in range(3_000):
        store.claim("operation", f"short{index}", "fp", lease=1, retention=5)
    store.claim("operation", "long", "fp", lease=1, retention=1_000)
    store.claim("operation", "short0", "fp", lease=1, retention=5)  # held: not taken over
    now[0] += 6
    assert store.purge_expired(batch_size=1_000) == 3_000
    assert set(store._records) == {("operation", "long")}
    assert store.purge_expired() == 0
