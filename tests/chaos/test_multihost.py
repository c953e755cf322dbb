"""Six hosts share one PostgreSQL store and race the same keys, with clocks up to an hour apart
and lock timeouts from half a second to five minutes: each key runs once at the provider.

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
from typing import Any

import pytest

from unipay.storage import SQLStore

from ..storage.test_concurrency import Fleet  # noqa: TID252
from .conftest import Tally

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

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


@pytest.fixture
def fleet(postgres_store: SQLStore, tmp_path: Path) -> Iterator[Fleet]:
    fleet = Fleet(postgres_store, tmp_path, [host.options() for host in HOSTS])
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
