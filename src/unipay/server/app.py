"""``create_app``: the sandbox's REST API as a FastAPI application over one ``AsyncGateway``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from pydantic import SecretStr
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from unipay import __version__
from unipay.errors import ProviderNotConfigured, UnipayError
from unipay.gateway import AsyncGateway
from unipay.plugins import ProviderRegistry, make_plugin_manager
from unipay.provider import Provider
from unipay.server.dashboard import create_dashboard, purge_activity_periodically
from unipay.server.errors import install_error_handlers
from unipay.server.limits import BodyLimits
from unipay.server.routes import public, router
from unipay.server.settings import ServerSettings
from unipay.webhooks import WebhookApp

logger = logging.getLogger("unipay.server")

DESCRIPTION = """\
One payments API over every installed unipay provider: create, confirm, capture, cancel and
refund payments, safely retried with the `Idempotency-Key` header, and list them. Provider
webhooks are received at `POST /webhooks/{provider}`. Amounts are integers in the currency's minor
unit. When the server has an API key (`UNIPAY_API_KEY`), send it as `Authorization: Bearer <key>`.
"""

#: Where the Swagger UI and ReDoc files (from the fastapi-offline package) are served: /docs
#: works with no internet.
DOCS_ASSETS_URL = "/docs-assets"
#: The docs pages may load nothing from elsewhere: ReDoc's footer would fetch its logo from
#: cdn.redoc.ly, which a machine offline (or a cautious network) cannot reach.
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'"
)


class DocsStayLocal:
    """ASGI middleware: ``DOCS_CSP`` on the responses of ``/docs`` and ``/redoc``, and nothing
    done for any other request."""

    pages = frozenset({"/docs", "/redoc"})

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in self.pages:
            await self.app(scope, receive, send)
            return

        async def with_policy(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["Content-Security-Policy"] = DOCS_CSP
            await send(message)

        await self.app(scope, receive, with_policy)


class LiveKeyWithoutAuthentication(UnipayError):
    """A provider would move real money and the server would let anyone ask it to."""

    code = "live_key_without_api_key"


def create_app(
    settings: ServerSettings | None = None, gateway: AsyncGateway | None = None
) -> FastAPI:
    """The application. With no ``gateway``, one is built from ``settings`` (by default read from
    the environment and ``.env``), its providers configured by their plugins, and closed when the
    application shuts down; a gateway passed in belongs to the caller, who closes it.

    Raises ``LiveKeyWithoutAuthentication`` when a provider is live and no API key is set.
    """
    settings = settings or ServerSettings()
    owned = gateway is None
    configured = _Configured()
    if gateway is None:
        configured = _providers_from(settings)
        providers = configured.providers
    else:
        providers = gateway.providers.built()
    live = [p.name for p in providers if getattr(p, "live", False)]
    if live and settings.unipay_api_key is None:
        if owned:
            for provider in providers:
                provider.close()
        raise LiveKeyWithoutAuthentication(
            f"Provider(s) {', '.join(live)} run with a live key, and this server has no API key: "
            "anyone who reaches it could move real money. Set UNIPAY_API_KEY (clients then send "
            "`Authorization: Bearer <key>`), or use a test-mode key."
        )
    if gateway is None:
        url: SecretStr = settings.database_url
        gateway = AsyncGateway(
            store=url.get_secret_value(),
            providers=providers,
            record_activity=settings.unipay_record_activity,
        )
        # Built by their plugins, not passed in by a caller: say so in /providers.
        gateway.providers.registered_by.update(configured.registered_by)
        _log_refusals(gateway, configured.refused)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        purge = None
        if settings.unipay_record_activity:
            purge = asyncio.create_task(
                purge_activity_periodically(
                    app.state.gateway.store,
                    retention_days=settings.unipay_activity_retention_days,
                )
            )
        try:
            yield
        finally:
            if purge is not None:
                purge.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await purge
            if owned:
                await app.state.gateway.aclose()

    app = FastAPIOffline(
        title="unipay",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        static_url=DOCS_ASSETS_URL,
        # Swagger UI's default validator badge is an image from validator.swagger.io.
        swagger_ui_parameters={"validatorUrl": None},
    )
    app.state.gateway = gateway
    app.state.api_key = settings.unipay_api_key
    install_error_handlers(app)
    app.include_router(router)
    app.include_router(public)
    # Kept on app.state so that callers can register handlers: app.state.webhooks.on(...).
    app.state.webhooks = WebhookApp(gateway)
    app.mount("/webhooks", app.state.webhooks)
    app.mount("/dashboard", create_dashboard(gateway, api_key=settings.unipay_api_key))
    app.add_middleware(DocsStayLocal)
    app.add_middleware(
        BodyLimits,
        max_bytes=settings.unipay_max_body_bytes,
        timeout=settings.unipay_body_timeout,
    )
    return app


@dataclass
class _Configured:
    providers: list[Provider] = field(default_factory=list)
    #: provider name -> the plugin that registered it.
    registered_by: dict[str, str] = field(default_factory=dict)
    #: provider name -> why its plugin refused the settings (ProviderNotConfigured's message).
    refused: dict[str, str] = field(default_factory=dict)


def _providers_from(settings: ServerSettings) -> _Configured:
    """Every installed provider that its plugin can configure from the settings
    (``unipay_configure_provider``), and the plugin that registered each; the server itself
    reads none of them, and never writes ``os.environ``. A provider whose settings are missing
    or refused stays registered, unconfigured."""
    pm = make_plugin_manager()
    values = settings.provider_values()
    state_path = settings.state_path()
    configured = _Configured()
    registry = ProviderRegistry(pm)
    for name in registry.names():
        try:
            built = pm.hook.unipay_configure_provider(
                name=name, settings=values, state_path=state_path
            )
        except ProviderNotConfigured as missing:
            configured.refused[name] = missing.message
            continue
        if built is not None:
            built.name = built.name or name
            configured.providers.append(built)
            configured.registered_by[built.name] = registry.registered_by[name]
    return configured


def _log_refusals(gateway: AsyncGateway, refused: dict[str, str]) -> None:
    """Log why a plugin refused its settings when ``/providers`` would not say it: that status
    comes from the plugin's own factory, which sees the process environment but not ``.env``
    (a live key in ``.env`` without its opt-in would otherwise read as "set the key")."""
    for name, reason in refused.items():
        try:
            gateway.providers.get(name)
            shown = None
        except UnipayError as error:
            shown = error.message
        if shown != reason:
            logger.warning("provider %s is not configured from these settings: %s", name, reason)
