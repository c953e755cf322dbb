"""The mock's own books: its payments, refunds and the idempotency keys it was sent.

Each mock keeps private books in memory unless it is given a file: they live in SQLite so that
several processes pointed at one file (``UNIPAY_MOCK_LEDGER``, or the file ``unipay serve`` keeps
beside its store) see one provider that outlives a restart, as they would see Stripe: crash and
concurrency tests count charges there. The stdlib
``sqlite3`` module is enough for a test double; each operation is one ``BEGIN IMMEDIATE``
transaction, which serialises writers across processes.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from unipay.models import Payment, Refund

_SCHEMA = """
CREATE TABLE IF NOT EXISTS mock_payments (
    id TEXT PRIMARY KEY, created_with_key TEXT, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS mock_refunds (
    id TEXT PRIMARY KEY, payment_id TEXT NOT NULL, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS mock_idempotency (
    key TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, response TEXT NOT NULL,
    created_at REAL NOT NULL);
"""

_shared: dict[str, Ledger] = {}
_shared_lock = threading.Lock()


def _use_wal(db: sqlite3.Connection) -> None:
    """Switching a new file to WAL needs a moment alone with it, and SQLite answers "database is
    locked" at once, without waiting out the busy timeout, when processes open the file together
    (seen with six chaos-test workers): try again briefly."""
    for attempt in range(1, 51):
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError:
            if attempt == 50:
                raise
            time.sleep(0.02 * attempt)


class Ledger:
    def __init__(self, path: str = ":memory:") -> None:
        self.path = path
        self._lock = threading.RLock()
        self._db = sqlite3.connect(path, timeout=60, isolation_level=None, check_same_thread=False)
        if path != ":memory:":
            _use_wal(self._db)
        self._db.executescript(_SCHEMA)

    @classmethod
    def shared(cls, path: str = ":memory:") -> Ledger:
        """One ledger per file and process: every mock naming the file sees the same provider.
        (``:memory:`` here would be one process-wide in-memory ledger: pass a `Ledger` instead.)"""
        with _shared_lock:
            if path not in _shared:
                _shared[path] = cls(path)
            return _shared[path]

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def get_payment(self, provider_payment_id: str) -> Payment | None:
        row = self._db.execute(
            "SELECT data FROM mock_payments WHERE id = ?", (provider_payment_id,)
        ).fetchone()
        return Payment.model_validate_json(row[0]) if row else None

    def put_payment(self, payment: Payment, created_with_key: str | None = None) -> None:
        self._db.execute(
            "INSERT INTO mock_payments (id, created_with_key, data) VALUES (?, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET data = excluded.data",
            (payment.provider_payment_id, created_with_key, payment.model_dump_json()),
        )

    def put_refund(self, refund: Refund) -> None:
        self._db.execute(
            "INSERT INTO mock_refunds (id, payment_id, data) VALUES (?, ?, ?)",
            (refund.provider_refund_id, refund.payment_id, refund.model_dump_json()),
        )

    def lookup_key(self, key: str, *, newer_than: float) -> tuple[str, str] | None:
        """The stored fingerprint and response of a key, unless it was stored before
        ``newer_than`` (then it has expired, as Stripe's keys do after 24 hours)."""
        row = self._db.execute(
            "SELECT fingerprint, response FROM mock_idempotency WHERE key = ? AND created_at >= ?",
            (key, newer_than),
        ).fetchone()
        return (row[0], row[1]) if row else None

    def store_key(self, key: str, fingerprint: str, response: str, *, now: float) -> None:
        self._db.execute(
            "INSERT INTO mock_idempotency (key, fingerprint, response, created_at) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET "
            "fingerprint = excluded.fingerprint, response = excluded.response, "
            "created_at = excluded.created_at",
            (key, fingerprint, response, now),
        )

    def count_payments(self, created_with_key: str | None = None) -> int:
        """Payments created (charges, if confirmed), in all or for one idempotency key."""
        with self._lock:
            if created_with_key is None:
                row = self._db.execute("SELECT count(*) FROM mock_payments").fetchone()
            else:
                row = self._db.execute(
                    "SELECT count(*) FROM mock_payments WHERE created_with_key = ?",
                    (created_with_key,),
                ).fetchone()
        return int(row[0])

    def count_refunds(self, provider_payment_id: str) -> int:
        with self._lock:
            row = self._db.execute(
                "SELECT count(*) FROM mock_refunds WHERE payment_id LIKE ?",
                (f"%:{provider_payment_id}",),
            ).fetchone()
        return int(row[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
