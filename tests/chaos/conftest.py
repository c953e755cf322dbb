"""The chaos suite's figures, added up over the session and printed as one line at the end."""

from __future__ import annotations

from dataclasses import dataclass

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
            f"twice, {self.lost_payments} lost payments; multi-host: {self.multihost_keys} keys, "
            f"{self.multihost_run_twice} run twice; {self.webhook_cases} webhook cases, "
            f"{self.webhook_5xx} 5xx, {self.unsigned_dispatches} unsigned dispatches"
        )


@pytest.fixture(scope="session")
def tally(pytestconfig: pytest.Config) -> Tally:
    return pytestconfig.stash.setdefault(_KEY, Tally())


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    found = config.stash.get(_KEY, None)
    if found is not None:
        terminalreporter.write_line(found.line())
