"""The chaos suite's figures, added up over the session and printed as one line at the end."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

# The storage tests' stores and race workers, reused rather than rewritten.
from ..storage.conftest import postgres_store, sqlite_store  # noqa: F401, TID252
from ..storage.test_concurrency import workers  # noqa: F401, TID252

_KEY = pytest.StashKey["Tally"]()


@dataclass
class Tally:
    """What the chaos tests saw. A round is one key raced, killed or cut off; its provider calls
    are counted before any deduplication by the provider, so they move if unipay's claim breaks."""

    rounds: int = 0
    provider_calls: int = 0
    #: Keys a crash after the provider call left unfinished, which the retry re-sent on purpose.
    resent: int = 0
    #: Keys the provider saw more often than the round allows (once, or twice when re-sent).
    keys_run_twice: int = 0
    lost_payments: int = 0
    multihost_keys: int = 0
    multihost_run_twice: int = 0
    #: Keys raced per shared store ("postgresql", "redis", "redis cluster").
    multihost_stores: dict[str, int] = field(default_factory=dict)
    webhook_cases: int = 0
    webhook_5xx: int = 0
    unsigned_dispatches: int = 0

    def round(self, calls: int, *, resent: bool = False, lost: bool = False) -> None:
        """Count one key: how many provider calls it took, whether the scenario re-sends it once
        (a crash after the provider call), and whether its payment was lost."""
        self.rounds += 1
        self.provider_calls += calls
        self.resent += resent
        self.keys_run_twice += calls > 1 + resent
        self.lost_payments += lost

    def line(self) -> str:
        return (
            f"chaos: {self.rounds} rounds, {self.provider_calls} provider calls ({self.resent} "
            f"keys re-sent after a crash past the provider), {self.keys_run_twice} keys run "
            f"twice, {self.lost_payments} lost payments; multi-host: {self.multihost_keys} keys"
            f"{self._per_store()}, {self.multihost_run_twice} run twice; "
            f"{self.webhook_cases} webhook cases, "
            f"{self.webhook_5xx} 5xx, {self.unsigned_dispatches} unsigned dispatches"
        )

    def _per_store(self) -> str:
        stores = ", ".join(f"{name} {keys}" for name, keys in self.multihost_stores.items())
        return f" ({stores})" if stores else ""


@pytest.fixture(scope="session")
def tally(pytestconfig: pytest.Config) -> Tally:
    return pytestconfig.stash.setdefault(_KEY, Tally())


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    found = config.stash.get(_KEY, None)
    if found is not None:
        terminalreporter.write_line(found.line())


# --- Redis (unipay-redis) for the multi-host race ----------------------------------------------


def _redis_unavailable(reason: str) -> None:
    """Skip, or fail where Redis is required (CI, UNIPAY_REQUIRE_REDIS)."""
    if os.environ.get("UNIPAY_REQUIRE_REDIS"):
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture
def redis_target() -> Iterator[tuple[str, str]]:
    """The shared test Redis (UNIPAY_TEST_REDIS_URL) and a key prefix of this test's own, whose
    keys are deleted afterwards."""
    from unipay_redis.testing import delete_prefixed, shared_redis_url

    url, problem = shared_redis_url()
    if problem:
        _redis_unavailable(problem)
    prefix = f"chaos-{uuid.uuid4().hex[:10]}:"
    yield url, prefix
    delete_prefixed(url, prefix)


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A local Redis Cluster (three primaries, a replica each), shared with the plugin's tests
    when both run in one session."""
    from unipay_redis.testing import require_binaries, shared_cluster

    problem = require_binaries()
    if problem:
        _redis_unavailable(problem)
    directory: Path = tmp_path_factory.mktemp("redis-cluster")
    with shared_cluster(directory) as cluster:
        yield cluster
