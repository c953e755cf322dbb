"""The ``unipay`` command-line tool: see DESCRIPTION (its ``--help``) for the commands."""

from __future__ import annotations

import argparse
import functools
import json
import secrets
import shlex
import sys
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from unipay import __version__
from unipay.errors import PaymentDeclined, ProviderNotConfigured, UnipayError
from unipay.gateway import AsyncGateway, Gateway
from unipay.models import CaptureMethod, NextAction, Payment, PaymentStatus, WebhookEventType
from unipay.money import format_amount
from unipay.plugins import make_plugin_manager, plugin_infos
from unipay.storage import Store, open_store

if TYPE_CHECKING:
    from fastapi import FastAPI

#: ``unipay --help``: plain text, as a terminal shows it (no reST markup), naming every command.
DESCRIPTION = """\
One typed payments API over many providers, safe to retry.

commands:
  unipay providers          list installed providers and whether they are configured
  unipay demo               create, capture and refund a payment on the mock provider
  unipay serve              run the sandbox REST API with /docs (needs unipay[server])
  unipay webhooks sign P    print a signed test webhook delivery as a curl command
  unipay store init|purge   create a SQL store's tables / delete expired idempotency keys
  unipay reconcile KEY...   settle calls whose outcome is unknown (OutcomeUnknown) from the provider

Run "unipay COMMAND --help" for a command's options."""


@dataclass(frozen=True)
class ProviderStatus:
    name: str
    plugin: str
    distribution: str | None
    version: str | None
    configured: bool
    problem: str | None


def provider_statuses(gateway: Gateway | AsyncGateway) -> list[ProviderStatus]:
    """Every registered provider, where it comes from, and whether it can be used as configured."""
    dists = {info.name: info for info in plugin_infos(gateway.plugin_manager)}
    statuses = []
    for name in gateway.providers.names():
        plugin = gateway.providers.registered_by.get(name, "?")
        info = dists.get(plugin)
        try:
            gateway.providers.get(name)
            problem = None
        except ProviderNotConfigured as exc:
            problem = exc.advice  # the row already names the provider
        except UnipayError as exc:
            problem = exc.message
        statuses.append(
            ProviderStatus(
                name=name,
                plugin=plugin,
                distribution=info.distribution if info else None,
                version=info.version if info else None,
                configured=problem is None,
                problem=problem,
            )
        )
    return statuses


def _providers(args: argparse.Namespace) -> int:
    with Gateway() as gateway:
        statuses = provider_statuses(gateway)
    if args.json:
        print(json.dumps([asdict(s) for s in statuses], indent=2))
        return 0
    if not statuses:
        print("No providers installed. Try: pip install unipay-mock")
        return 0
    rows = [
        (
            s.name,
            f"{s.distribution} {s.version}" if s.distribution else s.plugin,
            "configured" if s.configured else f"not configured: {s.problem}",
        )
        for s in statuses
    ]
    name_width = max(len(row[0]) for row in rows)
    source_width = max(len(row[1]) for row in rows)
    for name, source, state in rows:
        print(f"{name:<{name_width}}  {source:<{source_width}}  {state}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    """Create -> manual capture -> partial refund on the mock, printed step by step."""
    with Gateway() as gateway:
        if "mock" not in gateway.providers.names():
            print("The demo needs the mock provider: pip install unipay-mock", file=sys.stderr)
            return 1
        create_order = functools.partial(
            gateway.create_payment,
            provider="mock",
            amount=1299,
            currency="USD",
            payment_method="pm_card_visa",
            customer_email="demo@example.com",
            capture_method="manual",
            metadata={"order": "42"},
            idempotency_key=str(uuid.uuid4()),
        )
        payment = create_order()

        def money(amount: int) -> str:
            return format_amount(amount, payment.currency)

        print(f"1. created   {payment.id}  {payment.status}: {money(payment.amount)} authorized")
        again = create_order()
        print(
            f"2. retried   same idempotency key -> {again.id} (replayed={again.replayed}, "
            "no second charge)"
        )
        captured = gateway.capture_payment(payment.id, amount=1000)
        released = payment.amount - captured.amount_received
        print(
            f"3. captured  {captured.status}: {money(captured.amount_received)} captured, "
            f"{money(released)} released"
        )
        refund = gateway.refund_payment(payment.id, amount=500)
        left = captured.amount_received - refund.amount
        print(
            f"4. refunded  {refund.id}  {refund.status}: {money(refund.amount)} back, "
            f"{money(left)} still refundable"
        )
        try:
            gateway.create_payment(
                provider="mock",
                amount=1299,
                currency="USD",
                payment_method="pm_card_chargeDeclinedInsufficientFunds",
            )
        except PaymentDeclined as declined:
            print(f"5. declined  {declined.decline_code}: {declined.message}")
    return 0


def _describe_store(store: Store) -> str:
    shown = repr(store)
    if shown.startswith("<"):  # a default object repr says nothing useful
        shown = type(store).__name__
    if type(store).__name__ == "MemoryStore":
        shown += " (in memory: idempotency keys and payments are forgotten when it stops)"
    return shown


def serve_banner(app: FastAPI, base_url: str) -> str:
    """What ``unipay serve`` serves: its store, each provider's state, and where to find it."""
    gateway: AsyncGateway = app.state.gateway
    statuses = provider_statuses(gateway)
    width = max((len(s.name) for s in statuses), default=0)
    providers = [
        f"  {s.name:<{width}}  "
        + ("configured" if s.configured else f"not configured: {s.problem}")
        for s in statuses
    ] or ["  none installed (pip install unipay-mock)"]
    configured = [s.name for s in statuses if s.configured]
    lines = [
        f"unipay {__version__} sandbox REST API",
        f"store:     {_describe_store(gateway.store)}",
        "providers:",
        *providers,
        f"API:       {base_url}/payments, {base_url}/refunds, {base_url}/providers, "
        f"{base_url}/health",
        f"docs:      {base_url}/docs (Swagger UI), {base_url}/redoc, {base_url}/openapi.json",
        f"dashboard: {base_url}/dashboard "
        + (
            "(sign in with UNIPAY_API_KEY)"
            if app.state.api_key
            else "(read-only: no UNIPAY_API_KEY)"
        ),
        "webhooks:  "
        + (", ".join(f"{base_url}/webhooks/{name}" for name in configured) or "none configured"),
    ]
    return "\n".join(lines)


def _serve(args: argparse.Namespace) -> int:
    """Run the sandbox REST API (the ``server`` extra) with uvicorn, after a banner."""
    try:
        import uvicorn

        from unipay.server import create_app
    except ImportError as missing:
        print(
            f"unipay serve needs the server extra ({missing.name} is not installed): "
            'pip install "unipay[server]"',
            file=sys.stderr,
        )
        return 1
    from pydantic import ValidationError

    try:
        app = create_app()
    except ValidationError as invalid:
        # Every wrong setting at once, by its variable name, rather than one per run.
        print(f"error: {invalid.error_count()} setting(s) to fix:", file=sys.stderr)
        for error in invalid.errors():
            name = ".".join(str(part) for part in error["loc"]).upper()
            print(f"  {name}: {error['msg']}", file=sys.stderr)
        return 1
    host = f"[{args.host}]" if ":" in args.host else args.host
    print(serve_banner(app, f"http://{host}:{args.port}"), flush=True)
    if args.reload:  # the reloader imports the application in a fresh process by name
        import asyncio

        asyncio.run(app.state.gateway.aclose())
        uvicorn.run(
            "unipay.server:create_app", factory=True, host=args.host, port=args.port, reload=True
        )
    else:
        uvicorn.run(app, host=args.host, port=args.port)
    return 0


#: The payment status a test delivery of each payment event describes.
_EVENT_STATUSES = {
    WebhookEventType.PAYMENT_SUCCEEDED: PaymentStatus.SUCCEEDED,
    WebhookEventType.PAYMENT_FAILED: PaymentStatus.REQUIRES_PAYMENT_METHOD,
    WebhookEventType.PAYMENT_CANCELED: PaymentStatus.CANCELED,
    WebhookEventType.PAYMENT_REQUIRES_ACTION: PaymentStatus.REQUIRES_ACTION,
    WebhookEventType.PAYMENT_REQUIRES_CAPTURE: PaymentStatus.REQUIRES_CAPTURE,
    WebhookEventType.PAYMENT_PROCESSING: PaymentStatus.PROCESSING,
}


def sample_payment(
    provider: str, event_type: WebhookEventType, *, amount: int, currency: str, payment_id: str
) -> Payment:
    """A payment in the state that ``event_type`` announces, for a test delivery."""
    status = _EVENT_STATUSES[event_type]
    return Payment(
        provider=provider,
        provider_payment_id=payment_id,
        status=status,
        amount=amount,
        currency=currency.upper(),
        amount_capturable=amount if status is PaymentStatus.REQUIRES_CAPTURE else 0,
        amount_received=amount if status is PaymentStatus.SUCCEEDED else 0,
        capture_method=(
            CaptureMethod.MANUAL
            if status is PaymentStatus.REQUIRES_CAPTURE
            else CaptureMethod.AUTOMATIC
        ),
        payment_method="pm_card_visa",
        metadata={"unipay_test_delivery": "true"},
        next_action=(
            NextAction(redirect_url="https://example.com/3ds")
            if status is PaymentStatus.REQUIRES_ACTION
            else None
        ),
        decline_code="generic_decline" if status is PaymentStatus.REQUIRES_PAYMENT_METHOD else None,
    )


def curl_command(url: str, body: bytes, headers: dict[str, str]) -> str:
    """A shell-ready ``curl`` that posts exactly ``body`` with ``headers``."""
    parts = ["curl", "-sS", "-X", "POST", url]
    for name, value in headers.items():
        parts += ["-H", f"{name}: {value}"]
    parts += ["--data-raw", body.decode()]
    return " ".join(shlex.quote(part) for part in parts)


def _webhooks_sign(args: argparse.Namespace) -> int:
    """Print a delivery signed by the provider plugin, as a curl command (valid five minutes)."""
    event_type = WebhookEventType(args.type)
    with Gateway() as gateway:
        provider = gateway.providers.get(args.provider)
        payment = sample_payment(
            provider.name,
            event_type,
            amount=args.amount,
            currency=args.currency,
            payment_id=args.payment_id or "test_" + secrets.token_hex(8),
        )
        body, headers = provider.sign_test_delivery(event_type, payment)
    url = args.url or f"http://127.0.0.1:8000/webhooks/{provider.name}"
    print(curl_command(url, body, headers))
    return 0


def _open_store(url: str) -> Store:
    # Through the plugins, so that a plugin's own URL scheme (unipay_store_from_url) works too.
    return open_store(url, make_plugin_manager())


def _store_init(args: argparse.Namespace) -> int:
    """Create the store's tables now, rather than on first use."""
    from unipay.storage.sql import SQLStore

    store = _open_store(args.url)
    try:
        if not isinstance(store, SQLStore):
            print(f"{store!r} needs no tables.")
            return 0
        store.metadata.create_all(store.engine)
        print(f"Tables ready in {store!r}: {', '.join(sorted(store.metadata.tables))}")
    finally:
        store.close()
    return 0


def _store_purge(args: argparse.Namespace) -> int:
    """Delete idempotency records past their retention, ``--batch-size`` rows per transaction."""
    store = _open_store(args.url)
    try:
        purged = store.purge_expired(batch_size=args.batch_size)
    finally:
        store.close()
    print(f"Purged {purged} expired idempotency record{'' if purged == 1 else 's'}.")
    return 0


def _reconcile(args: argparse.Namespace) -> int:
    """Settle each key's unknown outcome from its provider; exit 1 if any stays unsettled."""
    unsettled = 0
    with Gateway(store=args.url) as gateway:
        for key in args.keys:
            try:
                result = gateway.reconcile(key)
            except UnipayError as error:
                unsettled += 1
                print(f"{key}: not settled: {error.message}")
                continue
            print(f"{key}: {type(result).__name__.lower()} {result.id} ({result.status.value})")
    return 1 if unsettled else 0


def _add_webhook_and_store_commands(commands: argparse._SubParsersAction[Any]) -> None:
    webhooks = commands.add_parser("webhooks", help="test webhook endpoints")
    webhook_commands = webhooks.add_subparsers(dest="webhooks_command", required=True)
    sign = webhook_commands.add_parser(
        "sign",
        help="print a signed test delivery as a curl command for a local endpoint",
        description="Print a delivery signed with the provider's configured webhook secret, as "
        "a curl command. The signature's timestamp is now: run it within five minutes.",
    )
    sign.add_argument("provider", help="a provider name, e.g. mock")
    sign.add_argument(
        "--type",
        default=WebhookEventType.PAYMENT_SUCCEEDED.value,
        choices=[event_type.value for event_type in _EVENT_STATUSES],
        help="the unified event type (default payment.succeeded)",
    )
    sign.add_argument(
        "--url", help="where to post it (default http://127.0.0.1:8000/webhooks/PROVIDER)"
    )
    sign.add_argument("--amount", type=int, default=1299, help="in minor units (default 1299)")
    sign.add_argument("--currency", default="USD", help="ISO 4217 code (default USD)")
    sign.add_argument("--payment-id", help="the provider's payment id (default: a test id)")
    sign.set_defaults(run=_webhooks_sign)

    store = commands.add_parser("store", help="manage the idempotency store")
    store_commands = store.add_subparsers(dest="store_command", required=True)
    init = store_commands.add_parser("init", help="create the store's tables")
    init.add_argument("--url", required=True, help="e.g. sqlite:///unipay.db")
    init.set_defaults(run=_store_init)
    purge = store_commands.add_parser("purge", help="delete expired idempotency records")
    purge.add_argument("--url", required=True, help="e.g. sqlite:///unipay.db")
    purge.add_argument(
        "--batch-size", type=int, default=1000, help="rows per transaction (default 1000)"
    )
    purge.set_defaults(run=_store_purge)

    reconcile = commands.add_parser(
        "reconcile", help="settle calls whose outcome is unknown, from their provider"
    )
    reconcile.add_argument("keys", nargs="+", metavar="KEY", help="idempotency keys to settle")
    reconcile.add_argument("--url", required=True, help="the store's URL, e.g. sqlite:///unipay.db")
    reconcile.set_defaults(run=_reconcile)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="unipay",
        usage="unipay [-h] [--version] COMMAND ...",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"unipay {__version__}")
    # The description lists the commands with their arguments; argparse's own list is hidden.
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", help=argparse.SUPPRESS)
    providers = commands.add_parser("providers", help="list installed providers and their state")
    providers.add_argument("--json", action="store_true", help="machine-readable output")
    providers.set_defaults(run=_providers)
    demo = commands.add_parser("demo", help="create, capture and refund a payment on the mock")
    demo.set_defaults(run=_demo)
    serve = commands.add_parser("serve", help="run the REST API with /docs (needs unipay[server])")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port to bind (default 8000)")
    serve.add_argument("--reload", action="store_true", help="restart when the code changes")
    serve.set_defaults(run=_serve)
    _add_webhook_and_store_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:  # `unipay` alone: the help, as git and pip do, not a usage error
        parser.print_help()
        return 0
    try:
        code: int = args.run(args)
    except UnipayError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
