"""A provider that counts every call reaching it and, by default, deduplicates nothing.

The mock provider honours idempotency keys as Stripe does, so when unipay lets one key run twice
the mock still charges once: a test that counts the mock's charges cannot see unipay's claim
break. :class:`CountingMock` records each invocation before any deduplication and, unless told to
``dedupe``, charges again for a repeated key, as a provider without idempotency keys would.

The count lives in memory (threads of one process) or in a file that every process appends one
line per call to (``O_APPEND``: concurrent writers' lines stay whole, and a line written before a
SIGKILL survives it), so a test can count calls made by its worker processes.

Scripts run from ``tests/`` subfolders import it as ``counting_provider`` after putting
``tests/`` on ``sys.path``; test modules import it relatively.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from typing import Any

from unipay.errors import PaymentDeclined
from unipay.provider import CallContext
from unipay_mock import MockProvider
from unipay_mock.provider import Outcome

CHARGE: dict[str, Any] = {
    "provider": "mock",
    "amount": 4200,
    "currency": "USD",
    "payment_method": "pm_card_visa",
}


class CallLog:
    """Provider invocations (operation, key, calling pid): in memory, or appended to ``path``."""

    def __init__(self, path: str | None = None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._calls: list[tuple[str, str, int]] = []

    def record(self, operation: str, key: str) -> None:
        if self.path is None:
            with self._lock:
                self._calls.append((operation, key, os.getpid()))
            return
        # One write(2) per line on an O_APPEND descriptor: never interleaved with other writers.
        # Opened per call, so a forked child never shares a parent's descriptor by accident.
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, f"{operation} {key} {os.getpid()}\n".encode())
        finally:
            os.close(fd)

    def entries(self) -> list[tuple[str, str, int]]:
        """Every call so far, in order, as (operation, key, pid of the calling process)."""
        if self.path is None:
            with self._lock:
                return list(self._calls)
        try:
            with open(self.path, encoding="utf-8") as file:
                lines = file.read().splitlines()
        except FileNotFoundError:
            return []
        return [(operation, key, int(pid)) for operation, key, pid in map(str.split, lines)]

    def counts(self, operation: str = "create_payment") -> Counter[str]:
        """Calls of ``operation`` per idempotency key."""
        return Counter(key for op, key, _ in self.entries() if op == operation)

    def calls(self, key: str, operation: str = "create_payment") -> int:
        return self.counts(operation)[key]

    def callers(self, key: str, operation: str = "create_payment") -> list[int]:
        """The processes that called ``operation`` with ``key``, in order: who ran it twice."""
        return [pid for op, k, pid in self.entries() if op == operation and k == key]


class CountingMock(MockProvider):
    """The mock provider, logging every call to ``log`` before anything else happens to it.

    ``dedupe=False`` (the default) skips the mock's Stripe-style key ledger: a repeated key is
    charged again, so a key unipay runs twice shows as two payments as well as two calls.
    ``dedupe=True`` keeps the mock's deduplication, for crash tests whose recovery re-sends a key
    on purpose and relies on the provider to answer it with the first charge.

    ``latency`` is slept after the call is logged, so the log is in order of arrival (the mock
    sleeps before its work). It blocks: use this provider with the synchronous gateway.
    """

    def __init__(
        self,
        *,
        log: CallLog | str | None = None,
        dedupe: bool = False,
        latency: float = 0.0,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        self.log = log if isinstance(log, CallLog) else CallLog(log)
        self.dedupe = dedupe
        self.call_latency = latency

    def _work(self, operation: str, *args: Any) -> Outcome:
        ctx: CallContext = args[-1]
        self.log.record(operation, ctx.idempotency_key)
        if self.call_latency:
            time.sleep(self.call_latency)
        if self.dedupe or operation == "retrieve_payment":
            return super()._work(operation, *args)
        self._maybe_fail(after_work=False)
        with self.ledger.transaction():
            outcome = self._STATE_MACHINE[operation](self, *args[:-1], ctx.idempotency_key)
        self._maybe_fail(after_work=True)
        if isinstance(outcome, PaymentDeclined):
            raise outcome
        return outcome
