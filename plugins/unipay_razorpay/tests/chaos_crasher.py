"""A process that forks one child per line; the child SIGKILLs itself at a chosen point of one
Razorpay call (create, capture or refund), on the sync or the async face.

python chaos_crasher.py STORE_URL API_BASE KEY_ID KEY_SECRET
    reads "<face> <operation> <point> <key> <payment id or ->" lines; a forked child (imports
    done, no connection inherited: store and clients are built after the fork) makes the call
    with the key and kills itself at <point>; the parent prints the child's exit status (-9 when
    killed). Points:
      before_claim   the key is not taken yet;
      after_claim    the key is held, nothing sent;
      before_send    unipay marked the call begun, the request never left;
      mid_send       a kill 0-4 ms into the request: Razorpay may or may not have acted;
      after_send     Razorpay acted and answered, nothing stored;
      after_complete all stored, the caller never heard back.

Run as a script only: the tests import nothing from it.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
import threading
import time
from typing import Any

import httpx

from unipay import AsyncGateway, Gateway, IdempotencyPolicy, RetryPolicy
from unipay.idempotency import OPERATION_SCOPE
from unipay.storage import SQLStore
from unipay.storage.base import Claim
from unipay_razorpay import RazorpayProvider

#: The child's lock timeout: its call takes milliseconds, and the retry waits out a dead child's
#: claim, so a short one keeps the rounds quick.
LOCK_TIMEOUT = 0.2
#: The requests that act at Razorpay (create an order, capture, refund); the kill points around
#: a request apply to these, never to the lookups.
ACTING = ("/v1/orders", "/capture", "/refund")


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _acting(request: httpx.Request) -> bool:
    return request.method == "POST" and request.url.path.endswith(ACTING)


class DyingStore(SQLStore):
    point = ""

    def claim(self, scope: str, key: str, *args: Any, **kwargs: Any) -> Claim:
        operation = scope == OPERATION_SCOPE
        if operation and self.point == "before_claim":
            _die()
        claim = super().claim(scope, key, *args, **kwargs)
        if operation and self.point == "after_claim":
            _die()
        return claim

    def complete(self, scope: str, *args: Any, **kwargs: Any) -> None:
        super().complete(scope, *args, **kwargs)
        if scope == OPERATION_SCOPE and self.point == "after_complete":
            _die()


def _before(point: str, request: httpx.Request) -> None:
    if not _acting(request):
        return
    if point == "before_send":
        _die()
    if point == "mid_send":
        delay = random.uniform(0, 0.004)

        def die_soon() -> None:
            time.sleep(delay)
            _die()

        threading.Thread(target=die_soon, daemon=True).start()


class DyingTransport(httpx.HTTPTransport):
    point = ""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        _before(self.point, request)
        response = super().handle_request(request)
        response.read()
        if self.point == "after_send" and _acting(request):
            _die()
        return response


class DyingAsyncTransport(httpx.AsyncHTTPTransport):
    point = ""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        _before(self.point, request)
        response = await super().handle_async_request(request)
        await response.aread()
        if self.point == "after_send" and _acting(request):
            _die()
        return response


def call(args: list[str], line: str) -> None:
    url, api_base, key_id, key_secret = args
    face, operation, point, key, payment_id = line.split()
    store = DyingStore(url)
    store.point = point
    transport, async_transport = DyingTransport(), DyingAsyncTransport()
    transport.point = async_transport.point = point
    provider = RazorpayProvider(
        key_id=key_id,
        key_secret=key_secret,
        api_base=api_base,
        transport=transport,
        async_transport=async_transport,
    )
    options: dict[str, Any] = {
        "store": store,
        "providers": [provider],
        "load_installed": False,
        "idempotency": IdempotencyPolicy(lock_timeout=LOCK_TIMEOUT),
        "retry": RetryPolicy(attempts=1),
    }
    kwargs: dict[str, Any] = {"idempotency_key": key}
    if operation == "create_payment":
        kwargs |= {"provider": "razorpay", "amount": 50000, "currency": "INR"}
        positional: tuple[str, ...] = ()
    else:
        positional = (payment_id,)
        if operation == "refund_payment":
            kwargs["amount"] = 1000
    if face == "sync":
        getattr(Gateway(**options), operation)(*positional, **kwargs)
    else:
        asyncio.run(getattr(AsyncGateway(**options), operation)(*positional, **kwargs))


def main() -> None:
    args = sys.argv[1:5]
    print("ready", flush=True)
    for line in sys.stdin:
        child = os.fork()
        if child == 0:
            try:
                call(args, line)
            finally:
                os._exit(0)  # never back into this loop: only a kill is expected to end it
        _, status = os.waitpid(child, 0)
        print(os.waitstatus_to_exitcode(status), flush=True)


if __name__ == "__main__":
    main()
