"""The REST endpoints: each one maps HTTP onto one ``AsyncGateway`` call and back, nothing more.

Payment logic, validation and idempotency all live in the gateway; this module only chooses the
status code, copies the ``Idempotency-Key`` header in and sets ``Idempotent-Replayed`` on the way
out.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path, Request
from fastapi.openapi.models import Example
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from unipay import __version__
from unipay.cli import ProviderStatus, provider_statuses
from unipay.gateway import AsyncGateway
from unipay.models import (
    CancelPaymentRequest,
    CapturePaymentRequest,
    ConfirmPaymentRequest,
    CreatePaymentRequest,
    Payment,
    ProviderName,
    Refund,
    RefundPaymentRequest,
    payment_id,
)
from unipay.server.errors import documented, payment_body
from unipay.server.http_idempotency import REPLAYED_HEADER, idempotency_key

router = APIRouter()

IdempotencyKey = Annotated[str | None, Depends(idempotency_key)]
PaymentId = Annotated[
    str,
    Path(
        description="The unified payment id, provider:provider_payment_id (e.g. mock:pi_123).",
        examples=["mock:pi_3f2c9a"],
    ),
]

_POST_ERRORS = (400, 404, 409, 422, 502, 503)

# Shown on /docs. The mock is named here only because the sandbox's examples used it.
CREATE_EXAMPLES: dict[str, Example] = {
    "sandbox": {
        "summary": "The sandbox README's example (the mock charges its default test card)",
        "value": {
            "provider": "mock",
            "amount": 1299,
            "currency": "USD",
            "customer_email": "demo@example.com",
        },
    },
    "authorize": {
        "summary": "Authorize now, capture later",
        "value": {
            "provider": "mock",
            "amount": 1299,
            "currency": "USD",
            "payment_method": "pm_card_visa",
            "capture_method": "manual",
            "metadata": {"order": "42"},
        },
    },
    "declined": {
        "summary": "A decline: 402 with decline_code insufficient_funds",
        "value": {
            "provider": "mock",
            "amount": 1299,
            "currency": "USD",
            "payment_method": "pm_card_chargeDeclinedInsufficientFunds",
        },
    },
}
REFUND_EXAMPLES: dict[str, Example] = {
    "sandbox": {
        "summary": "The sandbox README's example: the provider_payment_id a create returned",
        "value": {"provider": "mock", "provider_payment_id": "pi_3f2c9a", "amount": 1299},
    }
}


class RefundBody(RefundPaymentRequest):
    """The sandbox's refund body: the payment named by provider and provider_payment_id."""

    provider: ProviderName
    provider_payment_id: str = Field(min_length=1, max_length=255)


class Health(BaseModel):
    status: str = "ok"
    version: str = __version__


def gateway_of(request: Request) -> AsyncGateway:
    gateway: AsyncGateway = request.app.state.gateway
    return gateway


GatewayDep = Annotated[AsyncGateway, Depends(gateway_of)]


def _answer(result: Payment | Refund, status: int) -> JSONResponse:
    """The result as JSON; a replay says so in a header and is otherwise the first answer."""
    body = (
        payment_body(result)
        if isinstance(result, Payment)
        else result.model_dump(mode="json", exclude={"replayed"})
    )
    headers = {REPLAYED_HEADER: "true"} if result.replayed else {}
    return JSONResponse(body, status_code=status, headers=headers)


@router.post(
    "/payments",
    status_code=201,
    response_model=Payment,
    responses=documented(402, *_POST_ERRORS),
    summary="Create a payment (and, with confirm=true, charge or authorize it)",
)
async def create_payment(
    body: Annotated[CreatePaymentRequest, Body(openapi_examples=CREATE_EXAMPLES)],
    gateway: GatewayDep,
    key: IdempotencyKey,
) -> JSONResponse:
    payment = await gateway.create_payment(**body.model_dump(), idempotency_key=key)
    return _answer(payment, 201)


@router.post(
    "/payments/{payment_id}/confirm",
    response_model=Payment,
    responses=documented(402, *_POST_ERRORS),
    summary="Confirm a payment created with confirm=false",
)
async def confirm_payment(
    payment_id: PaymentId,
    gateway: GatewayDep,
    key: IdempotencyKey,
    body: ConfirmPaymentRequest | None = None,
) -> JSONResponse:
    body = body or ConfirmPaymentRequest()
    payment = await gateway.confirm_payment(
        payment_id,
        payment_method=body.payment_method,
        return_url=body.return_url,
        idempotency_key=key,
    )
    return _answer(payment, 200)


@router.post(
    "/payments/{payment_id}/capture",
    response_model=Payment,
    responses=documented(*_POST_ERRORS),
    summary="Capture an authorized payment, in full or in part",
)
async def capture_payment(
    payment_id: PaymentId,
    gateway: GatewayDep,
    key: IdempotencyKey,
    body: CapturePaymentRequest | None = None,
) -> JSONResponse:
    amount = body.amount if body else None
    payment = await gateway.capture_payment(payment_id, amount=amount, idempotency_key=key)
    return _answer(payment, 200)


@router.post(
    "/payments/{payment_id}/cancel",
    response_model=Payment,
    responses=documented(*_POST_ERRORS),
    summary="Cancel a payment that has not succeeded",
)
async def cancel_payment(
    payment_id: PaymentId,
    gateway: GatewayDep,
    key: IdempotencyKey,
    body: CancelPaymentRequest | None = None,
) -> JSONResponse:
    reason = body.reason if body else None
    payment = await gateway.cancel_payment(payment_id, reason=reason, idempotency_key=key)
    return _answer(payment, 200)


@router.get(
    "/payments/{payment_id}",
    response_model=Payment,
    responses=documented(400, 404, 502, 503),
    summary="Retrieve a payment's current state from its provider",
)
async def retrieve_payment(payment_id: PaymentId, gateway: GatewayDep) -> JSONResponse:
    return _answer(await gateway.retrieve_payment(payment_id), 200)


@router.post(
    "/refunds",
    status_code=201,
    response_model=Refund,
    responses=documented(*_POST_ERRORS),
    summary="Refund a succeeded payment, in full (no amount) or in part",
)
async def refund_payment(
    body: Annotated[RefundBody, Body(openapi_examples=REFUND_EXAMPLES)],
    gateway: GatewayDep,
    key: IdempotencyKey,
) -> JSONResponse:
    refund = await gateway.refund_payment(
        payment_id(body.provider, body.provider_payment_id),
        amount=body.amount,
        reason=body.reason,
        metadata=body.metadata,
        idempotency_key=key,
    )
    return _answer(refund, 201)


@router.get(
    "/providers",
    response_model=list[ProviderStatus],
    summary="Installed providers and whether each is configured (never their secrets)",
)
async def list_providers(gateway: GatewayDep) -> list[ProviderStatus]:
    return provider_statuses(gateway)


@router.get("/health", response_model=Health, summary="Liveness: the server is up")
async def health() -> Health:
    return Health()
