"""Opening a SQL store is safe for a web server's workers starting together on a new database,
and a pooled connection that the server closed does not fail the next call."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from unipay.storage import SQLStore

WORKERS = 8
# Each worker waits for a common start instant, then opens the store and uses it once.
OPEN_AND_USE = """
import sys, time
from unipay.storage import SQLStore
url, prefix, start = sys.argv[1], sys.argv[2], float(sys.argv[3])
store = SQLStore(url, table_prefix=prefix)
while time.time() < start:
    time.sleep(0.001)
store.claim("operation", "k-" + str(time.time_ns()), "fp", lease=5, retention=5)
store.close()
"""


def _open_together(url: str, prefix: str) -> list[str]:
    start = time.time() + 1.5  # enough for every interpreter to start on two cores
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", OPEN_AND_USE, url, prefix, str(start)],
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(WORKERS)
    ]
    return [proc.communicate(timeout=60)[1] for proc in procs if proc.wait(timeout=60) != 0]


@pytest.mark.slow
def test_eight_processes_open_a_new_sqlite_file_at_once(tmp_path: Path) -> None:
    for round_ in range(3):
        url = f"sqlite:///{tmp_path / f'new-{round_}.db'}"
        assert _open_together(url, "unipay_") == []


@pytest.mark.slow
@pytest.mark.postgres
def test_eight_processes_create_the_postgres_tables_at_once(postgres_url: str) -> None:
    for _ in range(3):
        prefix = f"r{uuid.uuid4().hex[:8]}_"
        assert _open_together(postgres_url, prefix) == []
        store = SQLStore(postgres_url, table_prefix=prefix)
        store.metadata.drop_all(store.engine)
        store.close()


@pytest.mark.postgres
def test_a_connection_the_server_closed_does_not_fail_the_next_call(
    postgres_store: SQLStore,
) -> None:
    store = postgres_store
    assert store.get_payment("mock:pi_none") is None
    with store.engine.connect() as pooled:  # the one connection in the store's pool
        pid = pooled.execute(text("SELECT pg_backend_pid()")).scalar()
    admin = create_engine(store.engine.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        killed = connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        assert killed.scalar()
    admin.dispose()
    claim = store.claim("operation", "after-" + uuid.uuid4().hex, "fp", lease=5, retention=5)
    assert claim.token is not None
