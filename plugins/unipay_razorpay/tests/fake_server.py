"""The fake Razorpay API served over HTTP on 127.0.0.1, so that several processes share its state.

python fake_server.py KEY_ID KEY_SECRET
    prints the port, then serves until its stdin closes. ``/v1/...`` is `FakeRazorpay` (with its
    refund deduplication off: only unipay stands between a lost answer and a second refund);
    ``POST /_test/pay`` pays an order in the fake Checkout and answers its signed result;
    ``GET /_test/state`` answers what acted: orders and refunds per receipt, captures.

Run as a script only (the chaos test starts it); the tests import nothing from it.
"""

from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fake_razorpay import FakeRazorpay


def serve(fake: FakeRazorpay) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._answer()

        def do_POST(self) -> None:
            self._answer()

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet: the test reads stdout

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            if len(body) < length:
                # The client died mid-request (the chaos suite's mid_send): like any HTTP
                # server, act on no half-received request. An empty body would otherwise read as
                # "refund everything, no receipt".
                self.close_connection = True
                return
            if self.path.startswith("/_test/"):
                status, answer = self._test_route(body)
                self._send(status, json.dumps(answer).encode())
                return
            request = httpx.Request(
                self.command,
                f"http://{self.headers.get('Host', '127.0.0.1')}{self.path}",
                headers=dict(self.headers.items()),
                content=body,
            )
            response = fake.handle(request)
            self._send(response.status_code, response.content)

        def _test_route(self, body: bytes) -> tuple[int, Any]:
            if self.command == "POST" and self.path == "/_test/pay":
                wanted = json.loads(body)
                return 200, fake.pay(wanted["order_id"], wanted.get("method", "card"))
            if self.command == "GET" and self.path == "/_test/state":
                with fake._lock:
                    orders: dict[str, list[str]] = {}
                    for order in fake.orders.values():
                        orders.setdefault(str(order.receipt), []).append(order.id)
                    refunds: dict[str, list[str]] = {}
                    for refund in fake.refunds.values():
                        refunds.setdefault(str(refund.receipt), []).append(refund.id)
                    return 200, {
                        "orders": orders,
                        "refunds": refunds,
                        "captures": fake.acted.get("capture", 0),
                    }
            return 404, {"error": "no such test route"}

        def _send(self, status: int, content: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

    return ThreadingHTTPServer(("127.0.0.1", 0), Handler)


def main() -> None:
    key_id, key_secret = sys.argv[1:3]
    fake = FakeRazorpay(key_id, key_secret, dedupe_refunds=False, seed=7)
    server = serve(fake)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(server.server_address[1], flush=True)
    sys.stdin.read()  # until the test closes it
    server.shutdown()


if __name__ == "__main__":
    main()
