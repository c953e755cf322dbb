"""The dashboard's defences: a signed session cookie, CSRF tokens bound to it, an Origin check,
and the response headers (a strict Content-Security-Policy) every dashboard page carries.

The session cookie is ``nonce.issued.signed_in.mac``: a MAC (HMAC-SHA256) under a secret derived
from the server's API key, so forging one needs the key, and the key itself is never in it. A
CSRF token is a MAC of the session's nonce: a page of another site can neither read it nor
compute it, and signing in issues a new nonce, so a token from before sign-in is worthless.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from pydantic import SecretStr
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

COOKIE = "unipay_dashboard"
#: How long a sign-in lasts; an operator signs in again after a working day.
SESSION_SECONDS = 12 * 3600
#: No script at all, styles from the package's own stylesheet only, and no framing.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # Not no-referrer: under it browsers send ``Origin: null`` with the dashboard's own forms,
    # and the Origin check refuses them. Links to elsewhere still carry no referrer.
    "Referrer-Policy": "same-origin",
    # Pages show payments: no shared cache keeps them, and the back button asks again.
    "Cache-Control": "no-store",
}


def _now() -> float:
    """The clock sessions are issued and expire by (a seam for tests)."""
    return time.time()


@dataclass(frozen=True)
class Session:
    nonce: str
    issued: int
    signed_in: bool


class Guard:
    """Sessions and CSRF tokens under a secret derived from the API key; with no key the
    dashboard is open and read-only, and ``protected`` is False."""

    def __init__(self, api_key: SecretStr | None) -> None:
        self._key = api_key
        self._secret = (
            None
            if api_key is None
            else hmac.new(
                api_key.get_secret_value().encode(), b"unipay-dashboard-session/v1", hashlib.sha256
            ).digest()
        )

    def __repr__(self) -> str:
        return f"<Guard protected={self.protected}>"

    @property
    def protected(self) -> bool:
        return self._secret is not None

    def key_matches(self, given: str) -> bool:
        """Constant-time, like the API's bearer check."""
        if self._key is None:
            return False
        return secrets.compare_digest(given.encode(), self._key.get_secret_value().encode())

    def issue(self, *, signed_in: bool) -> tuple[Session, str]:
        """A new session (a fresh nonce) and its cookie value."""
        session = Session(secrets.token_urlsafe(18), int(_now()), signed_in)
        body = f"{session.nonce}.{session.issued}.{int(signed_in)}"
        return session, f"{body}.{self._mac('session:' + body)}"

    def read(self, cookie: str | None) -> Session | None:
        """The session a cookie holds, or None when it is missing, forged or expired."""
        if cookie is None or self._secret is None:
            return None
        parts = cookie.split(".")
        if len(parts) != 4 or not parts[1].isdigit() or parts[2] not in ("0", "1"):
            return None
        body = ".".join(parts[:3])
        if not secrets.compare_digest(parts[3], self._mac("session:" + body)):
            return None
        issued = int(parts[1])
        if _now() - issued > SESSION_SECONDS:
            return None
        return Session(parts[0], issued, parts[2] == "1")

    def csrf_token(self, session: Session) -> str:
        return self._mac("csrf:" + session.nonce)

    def csrf_ok(self, session: Session, token: str | None) -> bool:
        return token is not None and secrets.compare_digest(token, self.csrf_token(session))

    def _mac(self, message: str) -> str:
        assert self._secret is not None
        return hmac.new(self._secret, message.encode(), hashlib.sha256).hexdigest()


class SignInThrottle:
    """Wrong keys per client address: after ``attempts`` failures within ``window`` seconds that
    address is refused (429) until the oldest of them is ``window`` old. Without it the sign-in
    form is an oracle an attacker can ask as fast as the server answers.

    Kept in this process's memory, bounded: each server process counts its own (so N workers
    allow N times the attempts), and behind a proxy the address is the proxy's unless uvicorn
    runs with ``--proxy-headers``. A right key clears the address's count."""

    def __init__(self, attempts: int = 5, window: float = 60.0, *, addresses: int = 10_000) -> None:
        self.attempts, self.window, self._addresses = attempts, window, addresses
        self._failures: dict[str, list[float]] = {}

    def retry_after(self, address: str) -> int:
        """Seconds until ``address`` may try again; 0 when it may now."""
        recent = self._recent(address)
        if len(recent) < self.attempts:
            return 0
        return max(1, int(recent[0] + self.window - _now()) + 1)

    def failed(self, address: str) -> None:
        recent = self._recent(address)
        recent.append(_now())
        self._failures[address] = recent[-self.attempts :]
        if len(self._failures) > self._addresses:  # oldest first: a dict keeps insertion order
            del self._failures[next(iter(self._failures))]

    def succeeded(self, address: str) -> None:
        self._failures.pop(address, None)

    def _recent(self, address: str) -> list[float]:
        since = _now() - self.window
        return [at for at in self._failures.get(address, ()) if at > since]


def set_session_cookie(response: Response, request: Request, value: str) -> None:
    """HttpOnly (no script reads it), SameSite=Strict (no other site's request carries it),
    Secure when the page came over https, and scoped to the dashboard."""
    response.set_cookie(
        COOKIE,
        value,
        max_age=SESSION_SECONDS,
        path=dashboard_root(request) or "/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def clear_session_cookie(response: Response, request: Request) -> None:
    response.delete_cookie(COOKIE, path=dashboard_root(request) or "/", httponly=True)


def dashboard_root(request: Request) -> str:
    """Where the dashboard is mounted (``/dashboard``), for links and the cookie's path."""
    root: str = request.scope.get("root_path", "")
    return root.rstrip("/")


def same_origin(request: Request) -> bool:
    """False for a request another site's page made: its Origin (sent with every POST by
    current browsers) is not this server, or the browser marks it cross-site."""
    if request.headers.get("sec-fetch-site") == "cross-site":
        return False
    origin = request.headers.get("origin")
    if origin is None:
        return True  # not a browser, or an old one: the CSRF token still has to match
    own = urlsplit(str(request.url))
    given = urlsplit(origin)
    return (given.scheme, given.netloc) == (own.scheme, own.netloc)


class SecurityHeaders:
    """ASGI middleware: ``HEADERS`` on every response of the dashboard."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, with_headers)
