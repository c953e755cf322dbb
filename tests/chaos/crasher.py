"""A process that forks one child per line, which SIGKILLs itself at a chosen point of a charge.

python crasher.py <store_url> <table_prefix> <ledger_path> <calls_path>
    reads "<point> <key>" lines; a forked child (imports already done, no connection inherited:
    the store is built after the fork) calls create_payment with the key and kills itself at
    <point>; prints the child's exit status (-9 when killed) once it is gone. Every provider call
    is appended to calls_path before the provider does anything, so it survives the kill.
Points: before_claim, after_claim (the key is held, the provider not called), after_provider (the
mock charged, nothing stored), after_complete (all stored, the caller never heard back).

Run as a script only: the tests import nothing from it.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Any

from unipay import Gateway, IdempotencyPolicy
from unipay.storage import SQLStore
from unipay.storage.base import Claim

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for the counting provider
from counting_provider import CHARGE, CountingMock

#: The child's lock timeout: its charge takes milliseconds, and a retry waits out a dead child's
#: claim, so a short one keeps 50 rounds quick.
LOCK_TIMEOUT = 0.2


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


class DyingStore(SQLStore):
    point = ""

    def claim(self, *args: Any, **kwargs: Any) -> Claim:
        if self.point == "before_claim":
            _die()
        claim = super().claim(*args, **kwargs)
        if self.point == "after_claim":
            _die()
        return claim

    def complete(self, *args: Any, **kwargs: Any) -> None:
        if self.point == "after_provider":
            _die()
        super().complete(*args, **kwargs)
        if self.point == "after_complete":
            _die()


def charge(url: str, prefix: str, ledger: str, calls: str, point: str, key: str) -> None:
    store = DyingStore(url, table_prefix=prefix)
    store.point = point
    # Deduplicating, as Stripe does: a crash after the provider call is recovered by re-sending.
    mock = CountingMock(ledger=ledger, log=calls, dedupe=True, latency=0.002)
    gateway = Gateway(
        store=store,
        providers=[mock],
        load_installed=False,
        idempotency=IdempotencyPolicy(lock_timeout=LOCK_TIMEOUT),
    )
    gateway.create_payment(**CHARGE, idempotency_key=key)


def main() -> None:
    url, prefix, ledger, calls = sys.argv[1:5]
    print("ready", flush=True)
    for line in sys.stdin:
        point, key = line.split()
        child = os.fork()
        if child == 0:
            try:
                charge(url, prefix, ledger, calls, point, key)
            finally:
                os._exit(0)  # never back into this loop: only a kill is expected to end it
        _, status = os.waitpid(child, 0)
        print(os.waitstatus_to_exitcode(status), flush=True)


if __name__ == "__main__":
    main()
