"""P4: Stripe-signed webhook deliveries per second under uvicorn, loaded by ``wrk``.

Three apps, each in its own uvicorn process, started and pinned the same way (one core for the
server, the other for ``wrk``):

* unipay's ``WebhookApp`` over ``StripeProvider`` (stripe's own ``verify_header``, the unified
  event, the event id claimed and completed in the default memory store, the payment kept, an
  ``async`` handler called);
* a hand-written Starlette endpoint calling ``stripe.Webhook.construct_event`` (the same
  signature check and parse, nothing else), answering a small JSON receipt;
* a bare ASGI app answering 200 without reading the request: uvicorn's own ceiling.

The load comes from outside Python: ``wrk`` (``apt-get install wrk``) with a Lua script that
sends a pool of deliveries signed as Stripe signs them (``t=<ts>,v1=<hex HMAC-SHA256 of
"<ts>.<body>">``) with fresh timestamps and distinct event ids: wrk's Lua has no HMAC, so the pool
is signed here, just before each run, into a file the script reads. Every server process is
fresh, so no delivery is a duplicate; a run that would send more deliveries than the pool holds
fails instead of measuring unipay's duplicate short-cut. Each side is one fresh server: a short
warm-up (deliveries of their own), then the measured run; sides interleaved by ``paired``.

    .venv/bin/python -m benchmarks.webhooks            # about three minutes
    .venv/bin/python -m benchmarks.webhooks --quick    # about a minute
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks._report import Row, paired, paired_row, print_table
from benchmarks._serve import pin, uvicorn

STRIPE_SECRET = "whsec_benchmark_only_stripe_endpoint_secret"  # noqa: S105 - a test value
EVENT = (
    Path(__file__).parents[1]
    / "plugins/unipay_stripe/tests/fixtures/event_payment_intent_succeeded.json"
)
CONNECTIONS = 16
#: Deliveries per second no side reaches on this kind of machine: the pool's size per second.
#: The bare ASGI app answered 13,667 in a one-second warm-up on a quiet machine (2026-11-27),
#: over the 12,000 this was, and the run stopped: so about twice that.
POOL_RATE = 30_000
#: The server on the first core, wrk on the second (when the machine has two).
SERVER_CPU, CLIENT_CPU = 0, 1
INSTALL = "wrk is not installed: `apt-get install -y wrk` (Debian/Ubuntu) or `brew install wrk`"

LUA = r"""
-- Reads pre-signed Stripe deliveries ("<stripe-signature>\t<body>" per line) and sends each once.
local requests, n, sent = {}, 0, 0
function init(args)
  for line in io.lines(args[1]) do
    local signature, body = line:match("^([^\t]*)\t(.*)$")
    n = n + 1
    requests[n] = wrk.format("POST", "/stripe", {
      ["Content-Type"] = "application/json", ["Stripe-Signature"] = signature}, body)
  end
end
function request()
  sent = sent + 1
  return requests[(sent - 1) % n + 1]
end
function done(summary, latency, requests_)
  io.write(string.format(
    "RESULT requests=%d duration_us=%d status_errors=%d socket_errors=%d p50_us=%d p99_us=%d\n",
    summary.requests, summary.duration, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


# --- the three apps (uvicorn --factory targets) -----------------------------------------------


def unipay_app() -> Any:
    from unipay import AsyncGateway, WebhookEvent
    from unipay.webhooks import WebhookApp
    from unipay_stripe import StripeProvider

    provider = StripeProvider(api_key="sk_test_benchmark", webhook_secrets=[STRIPE_SECRET])
    app = WebhookApp(AsyncGateway(providers=[provider], load_installed=False))

    @app.on("*")
    async def handle(event: WebhookEvent) -> None:
        return None

    return app


def starlette_app() -> Any:
    import stripe
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def webhook(request: Request) -> JSONResponse:
        body = await request.body()
        try:
            event = stripe.Webhook.construct_event(
                body, request.headers.get("stripe-signature", ""), STRIPE_SECRET
            )
        except (ValueError, stripe.SignatureVerificationError):
            return JSONResponse({"error": "bad signature"}, status_code=400)
        return JSONResponse({"received": True, "id": event.id})

    return Starlette(routes=[Route("/stripe", webhook, methods=["POST"])])


def bare_app() -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        more = True
        while more:
            more = (await receive()).get("more_body", False)
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]}
        )
        await send({"type": "http.response.body", "body": b"{}"})

    return app


# --- deliveries -------------------------------------------------------------------------------


_serial = 0


def write_pool(path: Path, count: int) -> None:
    """``count`` deliveries of ``payment_intent.succeeded``, each its own event id, signed now."""
    global _serial
    event = json.loads(EVENT.read_text())
    stamp = int(time.time())
    event["created"] = stamp
    lines = []
    for _ in range(count):
        _serial += 1
        each = copy.copy(event)
        each["id"] = f"evt_bench_{os.getpid()}_{_serial:09d}"
        body = json.dumps(each, separators=(",", ":")).encode()
        digest = hmac.new(STRIPE_SECRET.encode(), b"%d.%s" % (stamp, body), hashlib.sha256)
        lines.append(f"t={stamp},v1={digest.hexdigest()}\t{body.decode()}\n")
    path.write_text("".join(lines))


# --- serving and loading ----------------------------------------------------------------------


def serve(factory: str) -> AbstractContextManager[int]:
    """``uvicorn --factory benchmarks.webhooks:<factory>`` on a free loopback port, pinned."""
    return uvicorn(f"benchmarks.webhooks:{factory}", cpu=SERVER_CPU)


@dataclass(frozen=True)
class Run:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float

    @property
    def rate(self) -> float:
        return self.requests / self.seconds


def load(port: int, script: Path, pool: Path, seconds: int) -> Run:
    """One ``wrk`` run over ``pool``: every delivery answered 2xx, none sent twice."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit(INSTALL)
    command = [wrk, "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s", "-s", str(script)]
    command += [f"http://127.0.0.1:{port}/stripe", "--", str(pool)]
    client = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    pin(client.pid, CLIENT_CPU)
    out, _ = client.communicate()
    found = re.search(r"RESULT (.*)", out)
    if client.returncode != 0 or found is None:
        raise RuntimeError(f"wrk failed:\n{out}")
    figures = {k: int(v) for k, v in (kv.split("=") for kv in found.group(1).split())}
    if figures["status_errors"] or figures["socket_errors"]:
        raise RuntimeError(f"not every delivery was accepted: {found.group(1)}")
    pooled = sum(1 for _ in pool.open())
    if figures["requests"] > pooled:
        raise RuntimeError(f"{figures['requests']} deliveries sent, the pool held {pooled}")
    return Run(
        figures["requests"],
        figures["duration_us"] / 1e6,
        figures["p50_us"] / 1e3,
        figures["p99_us"] / 1e3,
    )


def side(factory: str, seconds: int, warm_up: int, runs: list[Run]) -> float:
    """A fresh, pinned server for ``factory``: a warm-up, then one measured run (its rate)."""
    with tempfile.TemporaryDirectory() as tmp:
        script, warm, pool = Path(tmp, "deliveries.lua"), Path(tmp, "warm"), Path(tmp, "pool")
        script.write_text(LUA)
        write_pool(warm, int(POOL_RATE * warm_up) + 1)
        write_pool(pool, int(POOL_RATE * seconds))
        with serve(factory) as port:
            load(port, script, warm, warm_up)
            run = load(port, script, pool, seconds)
    runs.append(run)
    return run.rate


def run(quick: bool = False) -> list[Row]:
    if shutil.which("wrk") is None:
        raise SystemExit(INSTALL)
    seconds, warm_up, pairs = (1, 1, 5) if quick else (5, 1, 5)
    runs: dict[str, list[Run]] = {"unipay": [], "starlette": [], "bare": []}

    def measure(factory: str, name: str) -> Any:
        return lambda: side(factory, seconds, warm_up, runs[name])

    unipay = measure("unipay_app", "unipay")
    against_starlette = paired(unipay, measure("starlette_app", "starlette"), pairs)
    against_bare = paired(unipay, measure("bare_app", "bare"), pairs)

    def p99(name: str) -> str:
        values = sorted(r.p99_ms for r in runs[name])
        return f"{values[len(values) // 2]:.0f} ms"

    latency = f"; p99 {p99('unipay')} vs {p99('starlette')} vs {p99('bare')} (bare)"
    return [
        paired_row(
            "webhooks (P4)",
            "unipay WebhookApp / Starlette + stripe construct_event",
            against_starlette,
            ">= 1.5",
            unit="deliveries/s",
            note=latency,
        ),
        paired_row(
            "webhooks (P4)",
            "unipay WebhookApp / bare ASGI 200",
            against_bare,
            ">= 0.6",
            unit="deliveries/s",
        ),
    ]


if __name__ == "__main__":
    print_table(run(quick="--quick" in sys.argv))
