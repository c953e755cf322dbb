"""One request to the dashboard (``Visit``) and the Jinja2 templates it is rendered with.

Templates ship in the package (``templates/``) and autoescape everything: a payment's metadata
or a customer's e-mail is text on the page, never markup.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import anyio.to_thread
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from unipay import __version__
from unipay.gateway import AsyncGateway
from unipay.money import format_amount
from unipay.server.dashboard.security import Guard, Session, dashboard_root

#: Rows a list page shows at once.
PAGE_SIZE = 25


def _money(amount: int | None, currency: str | None) -> str:
    if amount is None:
        return ""
    if currency is None:
        return str(amount)
    try:
        return format_amount(amount, currency)
    except (ValueError, KeyError):  # a currency this version does not know
        return f"{amount} {currency}"


def _when(at: datetime | None) -> str:
    return "" if at is None else at.strftime("%Y-%m-%d %H:%M:%S UTC")


def _ms(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:.0f} ms" if value >= 10 else f"{value:.1f} ms"


def _seconds(value: float) -> str:
    value = abs(value)
    if value < 120:
        return f"{value:.0f} s"
    if value < 7200:
        return f"{value / 60:.0f} min"
    return f"{value / 3600:.1f} h"


templates = Environment(
    loader=PackageLoader("unipay.server.dashboard", "templates"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
templates.filters.update(money=_money, when=_when, ms=_ms, seconds=_seconds)
templates.globals["version"] = __version__


@dataclass
class Visit:
    """A request, who made it, and what the dashboard serves it from."""

    request: Request
    gateway: AsyncGateway
    guard: Guard
    #: None when the dashboard is open (no API key).
    session: Session | None
    #: A POST's form fields (first value of each).
    form: dict[str, str] = field(default_factory=dict)

    @property
    def can_act(self) -> bool:
        """Actions need the API key: without one the dashboard only shows."""
        return self.guard.protected and self.session is not None and self.session.signed_in

    @property
    def base(self) -> str:
        return dashboard_root(self.request)

    def query(self, name: str) -> str | None:
        """A query parameter, stripped; None when absent or empty (an unset filter)."""
        value = self.request.query_params.get(name, "").strip()
        return value or None

    def url(self, path: str, **params: str | None) -> str:
        """A dashboard link; parameters that are None or empty are left out."""
        given = {k: v for k, v in params.items() if v}
        return f"{self.base}{path}" + (f"?{urlencode(given)}" if given else "")

    def render(self, template: str, *, status: int = 200, **context: Any) -> HTMLResponse:
        csrf = None
        if self.session is not None:
            csrf = self.guard.csrf_token(self.session)
        page = templates.get_template(template).render(
            visit=self,
            base=self.base,
            csrf=csrf,
            can_act=self.can_act,
            protected=self.guard.protected,
            path=self.request.url.path.removeprefix(self.base) or "/",
            **context,
        )
        return HTMLResponse(page, status_code=status)


def problem_page(visit: Visit, status: int, title: str, message: str) -> HTMLResponse:
    return visit.render("problem.html", status=status, title=title, message=message)


#: How long a page waits for the activity recorder to write what it holds.
FLUSH_SECONDS = 2.0


async def flush_recorder(visit: Visit) -> None:
    """Write what the gateway's activity recorder still holds (it batches in a thread), so a
    page shows the action just taken."""
    recorder = visit.gateway.activity_recorder
    # Most page views follow no action: then the thread hop is all a flush would cost.
    if recorder is not None and not recorder.idle:
        await anyio.to_thread.run_sync(recorder.flush, FLUSH_SECONDS)
