"""``create_app``: the sandbox's REST API as a FastAPI application over one ``AsyncGateway``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from unipay import __version__
from unipay.gateway import AsyncGateway
from unipay.server.errors import install_error_handlers
from unipay.server.routes import router
from unipay.server.settings import ServerSettings
from unipay.webhooks import WebhookApp

DESCRIPTION = """\
One payments API over every installed unipay provider: create, confirm, capture, cancel and
refund payments, safely retried with the `Idempotency-Key` header. Provider webhooks are received
at `POST /webhooks/{provider}`. Amounts are integers in the currency's minor unit.
"""


def create_app(
    settings: ServerSettings | None = None, gateway: AsyncGateway | None = None
) -> FastAPI:
    """The application. With no ``gateway``, one is built from ``settings`` (by default read from
    the environment and ``.env``) and closed when the application shuts down; a gateway passed
    in belongs to the caller, who closes it."""
    owned = gateway is None
    if gateway is None:
        settings = settings or ServerSettings()
        settings.export_provider_environment()
        gateway = AsyncGateway(store=settings.database_url)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        if owned:
            await app.state.gateway.aclose()

    app = FastAPI(
        title="unipay",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.gateway = gateway
    install_error_handlers(app)
    app.include_router(router)
    # Kept on app.state so that callers can register handlers: app.state.webhooks.on(...).
    app.state.webhooks = WebhookApp(gateway)
    app.mount("/webhooks", app.state.webhooks)
    return app
