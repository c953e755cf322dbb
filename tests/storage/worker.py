"""A separate process for the concurrency and crash tests (run as a script, not imported).

python worker.py race <store_url> <table_prefix> <ledger_path>
    reads "<key> <start_at>" lines; at wall-clock start_at calls create_payment with that
    key and prints one JSON line: {"id", "replayed"} or {"error"}.
python worker.py crash <store_url> <table_prefix> <ledger_path> <key>
    charges with the key, prints the payment id, then SIGKILLs itself inside the store's
    ``complete``: after the provider charged, before the outcome was stored.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from typing import Any

from unipay import Gateway, IdempotencyPolicy, Payment, Refund
from unipay.errors import UnipayError
from unipay.storage import SQLStore
from unipay_mock import MockProvider

CHARGE = {"provider": "mock", "amount": 4200, "currency": "USD", "payment_method": "pm_card_visa"}


class DieBeforeStoring(SQLStore):
    def complete(
        self,
        scope: str,
        key: str,
        token: str,
        result: str,
        *,
        now: float,
        payment: Payment | None = None,
        refund: Refund | None = None,
    ) -> None:
        print(payment.id if payment else "", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)


def race(gateway: Gateway) -> None:
    for line in sys.stdin:
        key, start_at = line.split()
        while time.time() < float(start_at):
            pass
        answer: dict[str, Any]
        try:
            payment = gateway.create_payment(**CHARGE, idempotency_key=key)
            answer = {"id": payment.id, "replayed": payment.replayed}
        except UnipayError as error:
            answer = {"error": type(error).__name__, "message": error.message}
        print(json.dumps(answer), flush=True)


def main() -> None:
    mode, url, prefix, ledger = sys.argv[1:5]
    mock = MockProvider(ledger=ledger, latency=0.005)
    store_class = DieBeforeStoring if mode == "crash" else SQLStore
    store = store_class(url, table_prefix=prefix)
    gateway = Gateway(
        store=store,
        providers=[mock],
        load_installed=False,
        idempotency=IdempotencyPolicy(lock_timeout=300),
    )
    if mode == "crash":
        gateway.create_payment(**CHARGE, idempotency_key=sys.argv[5])
    else:
        print("ready", flush=True)
        race(gateway)


if __name__ == "__main__":
    main()
