"""Capture, refund, cancel and reconcile from the dashboard, each through the gateway.

An action is two requests: a GET that shows what will happen (a confirmation page holding a
fresh idempotency key), and the POST that does it with that key. Sending the form twice (a
double click, a reload, the back button) is the same gateway call with the same key, so the
second answer is the first one replayed and nothing runs twice. The gateway also checks the
provider's capabilities and the payment's state: the dashboard offers only what they allow,
and shows any refusal as the typed error's message.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from starlette.responses import RedirectResponse, Response

from unipay._flow import acall
from unipay.errors import InvalidRequest, UnipayError
from unipay.gateway import AsyncGateway
from unipay.models import Payment, PaymentStatus, split_id
from unipay.money import from_minor_units, to_minor_units
from unipay.server.dashboard.render import Visit, problem_page
from unipay.server.errors import status_of

READ_ONLY = (
    "This dashboard is read-only because the server has no API key. Set UNIPAY_API_KEY and "
    "restart the server to capture, refund, cancel and reconcile from here (you then sign in "
    "with that key)."
)
#: A payment in one of these may still be canceled (an authorization is released).
CANCELABLE = frozenset(
    {
        PaymentStatus.REQUIRES_PAYMENT_METHOD,
        PaymentStatus.REQUIRES_CONFIRMATION,
        PaymentStatus.REQUIRES_ACTION,
        PaymentStatus.REQUIRES_CAPTURE,
    }
)
VERBS = {"capture": "Capture", "refund": "Refund", "cancel": "Cancel"}


@dataclass(frozen=True)
class Offer:
    """An action the payment's provider and status allow now."""

    action: str
    #: What it moves by default, in minor units (all that is capturable or refundable).
    amount: int | None = None
    #: The provider takes a smaller amount (partial capture or refund).
    partial: bool = False


def allowed_actions(gateway: AsyncGateway, payment: Payment) -> list[Offer]:
    """What the dashboard offers on a payment's page: nothing for a provider this server
    cannot use, and nothing a modification still settling would contradict."""
    try:
        caps = gateway.providers.get(payment.provider).capabilities
    except UnipayError:
        return []
    settling = {p.operation for p in payment.pending}
    offers = []
    if (
        caps.manual_capture
        and payment.status is PaymentStatus.REQUIRES_CAPTURE
        and not settling & {"capture", "cancel"}
    ):
        capturable = payment.amount_capturable or payment.amount
        offers.append(Offer("capture", capturable, caps.partial_capture))
    if (
        payment.status is PaymentStatus.SUCCEEDED
        and payment.amount_refundable > 0
        and (caps.multiple_refunds or payment.amount_refunded == 0)
    ):
        offers.append(Offer("refund", payment.amount_refundable, caps.partial_refunds))
    if caps.cancel and payment.status in CANCELABLE and not settling & {"capture", "cancel"}:
        offers.append(Offer("cancel"))
    return offers


def _fresh_key() -> str:
    return f"dashboard-{uuid.uuid4()}"


async def _payment(visit: Visit, unified: str | None) -> Payment | Response:
    try:
        if unified is None:
            raise InvalidRequest("The form names no payment.")
        split_id(unified, param="id")
    except InvalidRequest as error:
        return problem_page(visit, 400, "Not a payment id", error.message)
    found: Payment | None = await acall(visit.gateway.store.get_payment, unified)
    if found is None:
        return problem_page(
            visit, 404, "No such payment", f"This server's store has no payment {unified}."
        )
    return found


def _confirmation(
    visit: Visit,
    action: str,
    payment: Payment,
    *,
    error: str | None = None,
    status: int = 200,
    amount: str | None = None,
) -> Response:
    offer = next((o for o in allowed_actions(visit.gateway, payment) if o.action == action), None)
    default = None
    if offer is not None and offer.amount is not None:
        default = str(from_minor_units(offer.amount, payment.currency))
    return visit.render(
        "confirm.html",
        status=status,
        action=action,
        verb=VERBS[action],
        payment=payment,
        offer=offer,
        amount=amount or default,
        key=_fresh_key(),
        error=error,
    )


async def confirm(visit: Visit, action: str) -> Response:
    """GET: what the action will do, and the form (with a fresh key) that does it."""
    if not visit.can_act:
        return problem_page(visit, 403, "Read-only", READ_ONLY)
    found = await _payment(visit, visit.query("id"))
    if not isinstance(found, Payment):
        return found
    if not any(o.action == action for o in allowed_actions(visit.gateway, found)):
        return _confirmation(visit, action, found, status=409)
    return _confirmation(visit, action, found)


async def perform(visit: Visit, action: str) -> Response:
    """POST: the action, through the gateway, with the confirmation form's key. Not checked
    against the offers first: a form sent twice must reach the gateway to be replayed."""
    if not visit.can_act:
        return problem_page(visit, 403, "Read-only", READ_ONLY)
    found = await _payment(visit, visit.form.get("id"))
    if not isinstance(found, Payment):
        return found
    key = visit.form.get("key") or None
    text = visit.form.get("amount", "").strip() or None
    gateway = visit.gateway
    try:
        if key is None:
            raise InvalidRequest("The form carries no idempotency key; open the action again.")
        amount = None if text is None else to_minor_units(text, found.currency)
        if action == "capture":
            result = await gateway.capture_payment(found.id, amount=amount, idempotency_key=key)
            replayed = result.replayed
        elif action == "refund":
            refund = await gateway.refund_payment(found.id, amount=amount, idempotency_key=key)
            replayed = refund.replayed
        else:
            result = await gateway.cancel_payment(found.id, idempotency_key=key)
            replayed = result.replayed
    except UnipayError as error:
        return _confirmation(
            visit, action, found, error=error.message, status=status_of(error), amount=text
        )
    done = visit.url("/payment", id=found.id, done=action, replayed="1" if replayed else None)
    return RedirectResponse(done, status_code=303)


async def reconcile(visit: Visit) -> Response:
    """POST: settle an unknown outcome from its provider (safe to repeat: it only reads)."""
    if not visit.can_act:
        return problem_page(visit, 403, "Read-only", READ_ONLY)
    key = visit.form.get("key") or ""
    try:
        result = await visit.gateway.reconcile(key)
    except UnipayError as error:
        return problem_page(visit, status_of(error), "Not reconciled", error.message)
    return visit.render("reconciled.html", key=key, result=result)
