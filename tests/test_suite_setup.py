"""The test command itself: PostgreSQL tests run when a server answers, and say so when not."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: A pytest plugin pointing the conftest's default server at a closed port.
NO_SERVER_PLUGIN = """
def pytest_plugin_registered(plugin, manager):
    if hasattr(plugin, "DEFAULT_POSTGRES_URL"):
        plugin.DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:9/test"
"""


def test_skipped_postgres_tests_are_counted_in_the_last_lines(tmp_path: Path) -> None:
    (tmp_path / "no_postgres_here.py").write_text(NO_SERVER_PLUGIN)
    env = {k: v for k, v in os.environ.items() if not k.startswith("UNIPAY_")}
    env["PYTHONPATH"] = str(tmp_path)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no_postgres_here",
            "-p",
            "no:cacheprovider",
            "-q",
            "tests/storage/test_open_race.py",
            "-k",
            "postgres",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    last = done.stdout.splitlines()[-2:]
    assert "2 PostgreSQL tests skipped" in last[0], done.stdout
    assert "set UNIPAY_TEST_POSTGRES_URL" in last[1], done.stdout


def test_ci_requires_every_claimed_interpreter() -> None:
    """CI fails, rather than skips, an interpreter tox cannot find (documented in .ci/run)."""
    script = (ROOT / ".ci" / "run").read_text()
    assert "--skip-missing-interpreters false" in script or (
        "TOX_SKIP_MISSING_INTERPRETERS=false" in script
    )
    for version in ("3.11", "3.12", "3.13"):
        assert version in script
