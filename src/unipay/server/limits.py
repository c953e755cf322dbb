"""Request-body limits: a size cap (413) and a deadline for the whole body (408).

Uvicorn has neither: it reads whatever a client sends, as slowly as it sends it
(``timeout_keep_alive`` only covers the idle time between requests). This ASGI middleware reads
each body up front, within both limits, before any route sees it; a JSON payment request is a
few kilobytes, so holding one in memory is cheap. Bodies announced by ``Content-Length`` beyond
the cap are refused before a byte of them is read.
"""

from __future__ import annotations

import json

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from unipay.server.errors import plain_error_body


class _TooLarge(Exception):
    pass


class BodyLimits:
    """Wraps an ASGI app; ``max_bytes`` and ``timeout`` (seconds) apply to every HTTP body."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, timeout: float) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            await self._refuse(send, 413, "body_too_large", self._too_large())
            return
        try:
            with anyio.fail_after(self.timeout):
                body, disconnected = await self._read(receive)
        except TimeoutError:
            message = (
                f"The request body did not arrive within {self.timeout:g} seconds; "
                "send it in one go (UNIPAY_BODY_TIMEOUT sets this limit)."
            )
            await self._refuse(send, 408, "body_timeout", message, close=True)
            return
        except _TooLarge:
            await self._refuse(send, 413, "body_too_large", self._too_large(), close=True)
            return
        if disconnected:
            return  # nobody is listening for an answer
        await self.app(scope, _replay(body, receive), send)

    async def _read(self, receive: Receive) -> tuple[bytes, bool]:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return b"", True
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                raise _TooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks), False

    def _too_large(self) -> str:
        return (
            f"The request body is larger than {self.max_bytes} bytes; send a smaller one "
            "(UNIPAY_MAX_BODY_BYTES sets this limit)."
        )

    @staticmethod
    async def _refuse(
        send: Send, status: int, code: str, message: str, *, close: bool = False
    ) -> None:
        body = json.dumps(plain_error_body("HTTPError", code, message)).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        if close or status == 413:
            headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives the buffered body once, then waits on the real one (for the
    disconnect that ends a streaming response)."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed
