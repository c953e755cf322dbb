"""A separate process for the concurrency and crash tests (run as a script, not imported).

python worker.py race <store_url> <table_prefix> <ledger_path> <calls_path> [options]
    reads "<key> <start_at>" lines; at wall-clock start_at calls create_payment with that
    key and prints one JSON line: {"id", "replayed"} or {"error"}. The provider charges every
    call anew and appends it to calls_path, so a key unipay lets run twice shows there.
    Options play one host of a fleet: --skew (seconds added to the gateway's clock), --lock-timeout,
    --wait, --poll-interval (its IdempotencyPolicy) and --latency (its provider calls).
    A redis:// or redis+cluster:// store_url races keys in Redis (unipay-redis, <table_prefix> as
    the key prefix), with each worker's payments in memory: the race is the keys'.
python worker.py crash <store_url> <table_prefix> <ledger_path> <calls_path> <key> [options]
    charges with the key, prints the payment id, then SIGKILLs itself inside the store's
    ``complete``: after the provider charged, before the outcome was stored.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from unipay import Gateway, IdempotencyPolicy, Payment
from unipay.errors import UnipayError
from unipay.storage import MemoryStore, SplitStore, SQLStore, Store

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for the counting provider
from counting_provider import CHARGE, CountingMock


class DieBeforeStoring(SQLStore):
    """Dies where a crash costs the most: the provider charged, nothing stored yet."""

    def complete(self, *args: Any, **kwargs: Any) -> None:
        payment = kwargs.get("payment")
        if payment is None:
            payment = next((a for a in args if isinstance(a, Payment)), None)
        print(payment.id if payment else "", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)


def open_store(url: str, prefix: str, *, crash: bool) -> Store:
    if url.startswith(("redis://", "redis+cluster://")):
        from unipay_redis import RedisStore

        return SplitStore(keys=RedisStore(url, prefix=prefix), records=MemoryStore())
    return (DieBeforeStoring if crash else SQLStore)(url, table_prefix=prefix)


def race(gateway: Gateway) -> None:
    for line in sys.stdin:
        key, start_at = line.split()
        # Sleeping, not spinning: on a small machine spinning workers delay each other's start.
        time.sleep(max(0.0, float(start_at) - time.time()))
        answer: dict[str, Any]
        try:
            payment = gateway.create_payment(**CHARGE, idempotency_key=key)
            answer = {"id": payment.id, "replayed": payment.replayed}
        except UnipayError as error:
            answer = {"error": type(error).__name__, "message": error.message}
        print(json.dumps(answer), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["race", "crash"])
    parser.add_argument("url")
    parser.add_argument("prefix")
    parser.add_argument("ledger")
    parser.add_argument("calls")
    parser.add_argument("key", nargs="?")
    parser.add_argument("--skew", type=float, default=0.0)
    parser.add_argument("--lock-timeout", type=float, default=300.0)
    parser.add_argument("--wait", type=float, default=0.0)
    parser.add_argument("--poll-interval", type=float, default=0.05)
    parser.add_argument("--latency", type=float, default=0.005)
    args = parser.parse_args()
    skew: float = args.skew
    # The crash test's retry relies on the provider answering a re-sent key with the first charge.
    mock = CountingMock(
        ledger=args.ledger, log=args.calls, latency=args.latency, dedupe=args.mode == "crash"
    )
    gateway = Gateway(
        store=open_store(args.url, args.prefix, crash=args.mode == "crash"),
        providers=[mock],
        load_installed=False,
        idempotency=IdempotencyPolicy(
            lock_timeout=args.lock_timeout, wait=args.wait, poll_interval=args.poll_interval
        ),
        clock=lambda: time.time() + skew,
    )
    if args.mode == "crash":
        gateway.create_payment(**CHARGE, idempotency_key=args.key)
    else:
        print("ready", flush=True)
        race(gateway)


if __name__ == "__main__":
    main()
