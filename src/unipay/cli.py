"""The ``unipay`` command: ``unipay providers``, ``unipay demo`` and ``unipay serve``."""

from __future__ import annotations

import argparse
import functools
import json
import sys
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from unipay.errors import PaymentDeclined, UnipayError
from unipay.gateway import AsyncGateway, Gateway
from unipay.money import format_amount
from unipay.plugins import plugin_infos


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
    for s in statuses:
        source = f"{s.distribution} {s.version}" if s.distribution else s.plugin
        state = "configured" if s.configured else f"not configured: {s.problem}"
        print(f"{s.name:<12} {source:<24} {state}")
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


def _serve(args: argparse.Namespace) -> int:
    """Run the sandbox REST API (the ``server`` extra) with uvicorn."""
    try:
        import uvicorn

        import unipay.server  # noqa: F401 - fail here, with advice, if FastAPI is missing
    except ImportError as missing:
        print(
            f"unipay serve needs the server extra ({missing.name} is not installed): "
            'pip install "unipay[server]"',
            file=sys.stderr,
        )
        return 1
    uvicorn.run(
        "unipay.server:create_app", factory=True, host=args.host, port=args.port, reload=args.reload
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="unipay", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.run(args)
    except UnipayError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
