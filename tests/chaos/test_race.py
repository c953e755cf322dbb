"""50 rounds of 8 processes racing one key, on a SQLite file and on PostgreSQL: one charge each.

The long-lived race workers of the storage tests play every round (they wait on a wall-clock
start time instead of being spawned per round), so a round costs one provider call, not 8 starts.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from .conftest import Tally

ROUNDS = 50


@pytest.mark.slow
@pytest.mark.parametrize(
    "workers",
    ["sqlite_store", pytest.param("postgres_store", marks=pytest.mark.postgres)],
    indirect=True,
)
def test_8_processes_race_one_key_50_rounds(workers: Any, tally: Tally) -> None:
    play, ledger = workers
    rounds = []
    for _ in range(ROUNDS):
        key = str(uuid.uuid4())
        answers = play(key)
        charges = ledger.count_payments(created_with_key=key)
        ids = {a["id"] for a in answers if "id" in a}
        tally.round(charges, lost=not ids)
        rounds.append((charges, ids, answers))
    for charges, ids, answers in rounds:
        assert charges == 1, answers
        assert len(ids) == 1, answers
        assert {a["error"] for a in answers if "error" in a} <= {"IdempotencyInProgress"}
        assert sum(1 for a in answers if a.get("replayed") is False) == 1
