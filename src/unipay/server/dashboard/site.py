"""The dashboard as an ASGI application: its routes, sign-in, and the checks every request
passes before a page or an action sees it.

It is a Starlette application of its own, mounted by ``create_app`` at ``/dashboard``: its pages
stay out of the REST API's OpenAPI schema, and its errors are pages, not JSON.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import parse_qs, urlencode

from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from unipay.gateway import AsyncGateway
from unipay.server.dashboard import actions, metrics, pages
from unipay.server.dashboard.render import Visit, problem_page
from unipay.server.dashboard.security import (
    COOKIE,
    Guard,
    SecurityHeaders,
    Session,
    SignInThrottle,
    clear_session_cookie,
    dashboard_root,
    same_origin,
    set_session_cookie,
)

Handler = Callable[[Visit], Awaitable[Response]]
STATIC = Path(__file__).parent / "static"
#: A dashboard form has a handful of short fields.
MAX_FORM_BYTES = 16 * 1024
CROSS_SITE = (
    "This form was sent from another site. Open the dashboard itself and send it from there."
)
EXPIRED = "This form has expired (or was not made by this dashboard): open the page again."


async def _form(request: Request) -> dict[str, str] | None:
    """An ``application/x-www-form-urlencoded`` body's fields, or None when it is not one."""
    if request.headers.get("content-type", "").split(";")[0].strip() != (
        "application/x-www-form-urlencoded"
    ):
        return None
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        return None
    try:
        fields = parse_qs(body.decode(), keep_blank_values=True, max_num_fields=20)
    except (UnicodeDecodeError, ValueError):
        return None
    return {name: values[0] for name, values in fields.items()}


def _session(request: Request) -> Session | None:
    guard: Guard = request.app.state.guard
    return guard.read(request.cookies.get(COOKIE))


def _visit(request: Request, session: Session | None, form: dict[str, str] | None = None) -> Visit:
    return Visit(request, request.app.state.gateway, request.app.state.guard, session, form or {})


def guarded(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """The checks before ``handler``: with an API key, a signed-in session (else the sign-in
    page); for a POST, the same origin, a form, and the session's CSRF token in it."""

    @functools.wraps(handler)
    async def endpoint(request: Request) -> Response:
        guard: Guard = request.app.state.guard
        session = _session(request) if guard.protected else None
        if guard.protected and (session is None or not session.signed_in):
            if request.method == "GET":
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                login = f"{dashboard_root(request)}/login?{_next(target)}"
                return RedirectResponse(login, status_code=303)
            return problem_page(
                _visit(request, None), 401, "Sign in", "Sign in again, then send the form anew."
            )
        form = None
        if request.method == "POST":
            visit = _visit(request, session)
            if not guard.protected:
                return problem_page(visit, 403, "Read-only", actions.READ_ONLY)
            if not same_origin(request):
                return problem_page(visit, 403, "Refused", CROSS_SITE)
            form = await _form(request)
            assert session is not None
            if form is None or not guard.csrf_ok(session, form.get("csrf_token")):
                return problem_page(visit, 403, "Refused", EXPIRED)
        return await handler(_visit(request, session, form))

    return endpoint


def _next(target: str) -> str:
    return urlencode({"next": target})


def _safe_next(request: Request, target: str | None) -> str:
    """Back to the dashboard page that asked for sign-in, never to another site."""
    root = dashboard_root(request)
    if target and target.startswith(f"{root}/") and not target.startswith("//"):
        return target
    return f"{root}/"


async def login(request: Request) -> Response:
    guard: Guard = request.app.state.guard
    root = dashboard_root(request)
    if not guard.protected:
        return RedirectResponse(f"{root}/", status_code=303)
    session = _session(request)
    cookie = None
    if request.method == "GET":
        if session is None:
            session, cookie = guard.issue(signed_in=False)
        response = _visit(request, session).render(
            "login.html", next=request.query_params.get("next", ""), error=None
        )
        if cookie is not None:
            set_session_cookie(response, request, cookie)
        return response
    visit = _visit(request, session)
    if not same_origin(request):
        return problem_page(visit, 403, "Refused", CROSS_SITE)
    form = await _form(request)
    if session is None or form is None or not guard.csrf_ok(session, form.get("csrf_token")):
        return problem_page(visit, 403, "Refused", EXPIRED)
    throttle: SignInThrottle = request.app.state.throttle
    address = request.client.host if request.client else "unknown"
    wait = throttle.retry_after(address)
    if wait:
        refused = problem_page(
            visit,
            429,
            "Too many attempts",
            f"{throttle.attempts} wrong keys in a row from this address: try again in {wait} s.",
        )
        refused.headers["Retry-After"] = str(wait)
        return refused
    if not guard.key_matches(form.get("api_key", "")):
        throttle.failed(address)
        return visit.render(
            "login.html",
            status=401,
            next=form.get("next", ""),
            error="That is not this server's API key (UNIPAY_API_KEY).",
        )
    throttle.succeeded(address)
    # A new nonce on sign-in: a session or token planted before it is worth nothing after.
    _, cookie = guard.issue(signed_in=True)
    signed_in = RedirectResponse(_safe_next(request, form.get("next")), status_code=303)
    set_session_cookie(signed_in, request, cookie)
    return signed_in


async def _logout(visit: Visit) -> Response:
    response = RedirectResponse(f"{visit.base}/login", status_code=303)
    clear_session_cookie(response, visit.request)
    return response


async def _reconcile(visit: Visit) -> Response:
    return await actions.reconcile(visit)


def _action(action: str) -> list[Route]:
    async def confirm(visit: Visit) -> Response:
        return await actions.confirm(visit, action)

    async def perform(visit: Visit) -> Response:
        return await actions.perform(visit, action)

    return [
        Route(f"/payment/{action}", guarded(confirm), methods=["GET"], name=f"{action}-confirm"),
        Route(f"/payment/{action}", guarded(perform), methods=["POST"], name=action),
    ]


def create_dashboard(gateway: AsyncGateway, *, api_key: SecretStr | None) -> Starlette:
    """The dashboard over ``gateway`` (its store and providers). With ``api_key`` it asks for
    that key on a sign-in page and offers actions; without one it is open and read-only."""
    app = Starlette(
        routes=[
            Route("/", guarded(pages.payments), methods=["GET"]),
            Route("/payment", guarded(pages.payment), methods=["GET"]),
            *_action("capture"),
            *_action("refund"),
            *_action("cancel"),
            Route("/webhooks", guarded(pages.webhooks), methods=["GET"]),
            Route("/idempotency", guarded(pages.idempotency), methods=["GET"]),
            Route("/idempotency/reconcile", guarded(_reconcile), methods=["POST"]),
            Route("/metrics", guarded(metrics.metrics_page), methods=["GET"]),
            Route("/login", login, methods=["GET", "POST"]),
            Route("/logout", guarded(_logout), methods=["POST"]),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ],
        middleware=[Middleware(SecurityHeaders)],
    )
    app.state.gateway = gateway
    app.state.guard = Guard(api_key)
    app.state.throttle = SignInThrottle()
    return app
