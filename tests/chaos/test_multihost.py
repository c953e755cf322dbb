"""Six hosts share one store and race the same keys, with clocks up to an hour apart and lock
timeouts from half a second to five minutes: each key runs once at the provider. The shared store
is PostgreSQL, a standalone Redis, or a Redis Cluster (keys in Redis through unipay-redis).

Whether someone else's claim is live must not depend on the reader: not on its clock (a host an
hour ahead would take over every claim it meets) nor on its lock timeout (a 0.5 s reader would
take over a 0.7 s call). Each host's own calls end well inside its own lock timeout, as
IdempotencyPolicy asks, so no takeover here is ever legitimate. The provider charges every call
anew and logs it, so a key run twice is counted, not absorbed by a provider's idempotency.
Clocks are skewed by handing each gateway ``clock=time.time() + skew``; the system clock is
never touched.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from ..storage.test_concurrency import Fleet  # noqa: TID252
from .conftest import Tally

pytestmark = pytest.mark.slow

ROUNDS = 30


@dataclass(frozen=True)
class Host:
    skew: float  #: seconds its clock is ahead of the real time
    lock_timeout: float
    latency: float  #: seconds each of its provider calls takes
    wait: float  #: IdempotencyPolicy.wait: 0 raises IdempotencyInProgress at once, else polls

    def options(self) -> list[str]:
        return [
            *("--skew", str(self.skew), "--lock-timeout", str(self.lock_timeout)),
            *("--latency", str(self.latency), "--wait", str(self.wait), "--poll-interval", "0.02"),
        ]

    def __str__(self) -> str:
        return f"host(skew {self.skew:+g} s, lock_timeout {self.lock_timeout:g} s)"


HOSTS = [
    Host(skew=-3600, lock_timeout=300, latency=0.05, wait=1.0),
    Host(skew=-1200, lock_timeout=5, latency=0.1, wait=0),
    Host(skew=0, lock_timeout=0.5, latency=0.05, wait=1.0),
    Host(skew=1200, lock_timeout=5, latency=0.08, wait=0),
    # A slow route to the provider on the fastest clock: no clock is ahead of it, so only a
    # reader's own short lock timeout (the next host, same clock, 0.5 s) could take it over.
    Host(skew=3600, lock_timeout=300, latency=0.7, wait=0),
    Host(skew=3600, lock_timeout=0.5, latency=0.05, wait=1.0),
]


class RedisTarget:
    """What ``Fleet`` reads from a store, for Redis: the URL its workers open (the worker pairs
    Redis keys with in-memory records) and their key prefix."""

    def __init__(self, url: str, prefix: str) -> None:
        self.table_prefix = prefix
        self.engine = SimpleNamespace(url=SimpleNamespace(render_as_string=lambda **_: url))

    def get_payment(self, _payment_id: str) -> None:
        return None


@pytest.fixture(
    params=[
        pytest.param("postgresql", marks=pytest.mark.postgres),
        "redis",
        "redis cluster",
    ]
)
def fleet(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Fleet]:
    target: Any
    if request.param == "postgresql":
        target = request.getfixturevalue("postgres_store")
    elif request.param == "redis":
        target = RedisTarget(*request.getfixturevalue("redis_target"))
    else:
        cluster = request.getfixturevalue("redis_cluster")
        target = RedisTarget(cluster.url, f"chaos-{uuid.uuid4().hex[:10]}:")
    fleet = Fleet(target, tmp_path, [host.options() for host in HOSTS])
    fleet.store_name = request.param  # type: ignore[attr-defined]
    yield fleet
    fleet.close()


def test_hosts_with_skewed_clocks_and_mixed_lock_timeouts_run_each_key_once(
    fleet: Fleet, tally: Tally
) -> None:
    host_of = {proc.pid: HOSTS[i] for i, proc in enumerate(fleet.procs)}
    rng = random.Random(6)
    rounds: list[tuple[str, list[dict[str, Any]]]] = []
    for r in range(ROUNDS):
        # Each host in turn arrives first and claims; the others arrive while it is at the
        # provider (or poll through its call), which is when a wrong reading of its claim bites.
        first = r % len(HOSTS)
        delays = [0.0 if i == first else rng.uniform(0.03, 0.1) for i in range(len(HOSTS))]
        key = str(uuid.uuid4())
        rounds.append((key, fleet.play(key, delays)))
    counts = fleet.log.counts()
    run_twice = [(key, answers) for key, answers in rounds if counts[key] > 1]
    tally.multihost_keys += len(rounds)
    tally.multihost_run_twice += len(run_twice)
    name = fleet.store_name  # type: ignore[attr-defined]
    tally.multihost_stores[name] = tally.multihost_stores.get(name, 0) + len(rounds)
    report = "\n".join(
        f"{key}: provider called by "
        + ", then ".join(str(host_of[pid]) for pid in fleet.log.callers(key))
        for key, _ in run_twice
    )
    assert not run_twice, f"{len(run_twice)} of {len(rounds)} keys ran twice:\n{report}"
    for key, answers in rounds:
        assert counts[key] == 1, answers
        ids = {a["id"] for a in answers if "id" in a}
        assert len(ids) == 1, answers
        assert {a["error"] for a in answers if "error" in a} <= {"IdempotencyInProgress"}, answers
