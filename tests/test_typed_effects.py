"""Effects are typed: mypy sees every store, provider and hook call a flow makes. A misspelt
method or a wrong argument is a type error before it is ever run (the bug this replaced: a flow
named ``dispatch`` where only ``adispatch`` existed, found only by the sync face at runtime)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from mypy import api as mypy_api

FLOW = """
from unipay._flow import Flow, call
from unipay.storage.base import Claim, Store


def claim_twice(store: Store) -> Flow[Claim]:
    claim = yield from call(store.claim, "operation", "k", "fp", lease=5.0, retention=60.0)
    {line}
    return claim
"""


def _mypy(tmp_path: Path, line: str) -> str:
    module = tmp_path / "flow_under_test.py"
    module.write_text(textwrap.dedent(FLOW.format(line=line)))
    # One cache for the four runs: the first analyses unipay's imports, the rest reuse it.
    cache = tmp_path / "mypy-cache"
    args = ["--strict", "--follow-imports=silent", "--cache-dir", str(cache), str(module)]
    out, err, _ = mypy_api.run(args)
    return out + err


@pytest.mark.slow
def test_effects_are_checked_by_mypy(tmp_path: Path) -> None:
    assert "Success" in _mypy(tmp_path, "yield from call(store.release, 'operation', 'k', 't')")
    misspelt = _mypy(tmp_path, "yield from call(store.relase, 'operation', 'k', 't')")
    assert 'has no attribute "relase"' in misspelt
    wrong = _mypy(tmp_path, "yield from call(store.release, 'operation', 'k')")
    assert "Missing positional argument" in wrong
    typed = _mypy(tmp_path, "token: int = claim.token")
    assert "Incompatible types in assignment" in typed
