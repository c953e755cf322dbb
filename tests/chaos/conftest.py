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
    """What the chaos tests saw: a round is one key raced, killed or cut off."""

    rounds: int = 0
    charges: int = 0
    double_charges: int = 0
    lost_payments: int = 0
    webhook_cases: int = 0
    webhook_5xx: int = 0
    unsigned_dispatches: int = 0

    def round(self, charges: int, *, lost: bool = False) -> None:
        """Count one key: how many charges the mock holds for it, and whether one was lost."""
        self.rounds += 1
        self.charges += charges
        self.double_charges += charges > 1
        self.lost_payments += lost

    def line(self) -> str:
        return (
            f"chaos: {self.rounds} rounds, {self.charges} charges, {self.double_charges} double "
            f"charges, {self.lost_payments} lost payments; {self.webhook_cases} webhook cases, "
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
