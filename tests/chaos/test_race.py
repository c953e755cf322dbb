"""50 rounds of 8 processes racing one key, on a SQLite file and on PostgreSQL: one provider call
each, counted by a provider that charges every call anew (so a broken claim cannot hide).

The long-lived race workers of the storage tests play every round (they wait on a wall-clock
start time instead of being spawned per round), so a round costs one provider call, not 8 starts.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from ..storage.test_concurrency import Fleet  # noqa: TID252
from .conftest import Tally

ROUNDS = 50


@pytest.mark.slow
@pytest.mark.parametrize(
    "workers",
    ["sqlite_store", pytest.param("postgres_store", marks=pytest.mark.postgres)],
    indirect=True,
)
def test_8_processes_race_one_key_50_rounds(workers: Fleet, tally: Tally) -> None:
    rounds: list[tuple[int, set[Any], list[dict[str, Any]]]] = []
    for _ in range(ROUNDS):
        key = str(uuid.uuid4())
        answers = workers.play(key)
        calls = workers.log.calls(key)
        ids = {a["id"] for a in answers if "id" in a}
        tally.round(calls, lost=not ids)
        rounds.append((calls, ids, answers))
    for calls, ids, answers in rounds:
        assert calls == 1, answers
        assert len(ids) == 1, answers
        assert {a["error"] for a in answers if "error" in a} <= {"IdempotencyInProgress"}
        assert sum(1 for a in answers if a.get("replayed") is False) == 1
