"""The REST endpoints: each one maps HTTP onto one ``AsyncGateway`` call and back, nothing more.

Payment logic, validation and idempotency all live in the gateway; this module only chooses the
status code, copies the ``Idempotency-Key`` header in and sets ``Idempotent-Replayed`` on the way
out.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from fastapi import APIRouter, Body, Depends, Path, Query, Request
from fastapi.openapi.models import Example
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, model_validator

from unipay import __version__
from unipay._flow import acall
from unipay.cli import ProviderStatus, provider_statuses
from unipay.errors import InvalidRequest, PaymentNotFound
from unipay.gateway import AsyncGateway
from unipay.models import (
    CancelPaymentRequest,
    CapturePaymentRequest,
    ConfirmPaymentRequest,
    CreatePaymentRequest,
    Payment,
    PaymentStatus,
    ProviderName,
    Refund,
    RefundPaymentRequest,
    payment_id,
    split_id,
)
from unipay.server.auth import require_api_key
from unipay.server.errors import documented, payment_body
from unipay.server.http_idempotency import REPLAYED_HEADER, idempotency_key

#: The API: behind the API key when the server has one (see :mod:`unipay.server.auth`).
router = APIRouter(dependencies=[Depends(require_api_key)])
#: Always open: liveness probes carry no credentials.
public = APIRouter()

IdempotencyKey = Annotated[str | None, Depends(idempotency_key)]
PaymentId = Annotated[
    str,
    Path(
        description="The unified payment id, provider:provider_payment_id (e.g. mock:pi_123).",
        examples=["mock:pi_3f2c9a"],
    ),
]

_POST_ERRORS = (400, 401, 404, 409, 422, 502, 503)

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
    "unified": {
        "summary": "The payment's unified id, as every other endpoint takes it",
        "value": {"payment_id": "mock:pi_3f2c9a", "amount": 1299},
    },
    "sandbox": {
        "summary": "The sandbox README's form: provider and the provider_payment_id",
        "value": {"provider": "mock", "provider_payment_id": "pi_3f2c9a", "amount": 1299},
    },
}


class RefundBody(RefundPaymentRequest):
    """The payment to refund: its unified ``payment_id`` (as every other endpoint takes it), or
    the sandbox's ``provider`` + ``provider_payment_id``, which keeps old clients working."""

    payment_id: str | None = Field(
        None,
        min_length=3,
        max_length=300,
        description="The unified payment id a create returned as id (e.g. mock:pi_3f2c9a).",
    )
    provider: ProviderName | None = Field(None, description="With provider_payment_id.")
    provider_payment_id: str | None = Field(
        None,
        min_length=1,
        max_length=255,
        description="The provider's own id (pi_3f2c9a), with provider.",
    )

    @model_validator(mode="after")
    def _one_way_to_name_the_payment(self) -> Self:
        pair = (self.provider, self.provider_payment_id)
        if self.payment_id is not None:
            if pair != (None, None):
                raise ValueError(
                    "send either payment_id or provider with provider_payment_id, not both"
                )
            split_id(self.payment_id)
        elif None in pair:
            raise ValueError(
                "send payment_id (e.g. mock:pi_3f2c9a), or provider with provider_payment_id"
            )
        return self

    def target(self) -> str:
        """The unified id of the payment to refund."""
        if self.payment_id is not None:
            return self.payment_id
        assert self.provider is not None
        assert self.provider_payment_id is not None
        return payment_id(self.provider, self.provider_payment_id)


class PaymentList(BaseModel):
    """A Stripe-style list: one page, newest first; ``has_more`` says another page follows
    (ask for it with ``starting_after`` = the last id of this one)."""

    object: Literal["list"] = "list"
    url: str
    has_more: bool
    data: list[Payment]


class RefundList(BaseModel):
    """The refunds of one payment, oldest first."""

    object: Literal["list"] = "list"
    url: str
    has_more: bool = False
    data: list[Refund]


class Health(BaseModel):
    status: str = "ok"
    version: str = __version__


def gateway_of(request: Request) -> AsyncGateway:
    gateway: AsyncGateway = request.app.state.gateway
    return gateway


GatewayDep = Annotated[AsyncGateway, Depends(gateway_of)]


def _dump(record: Payment | Refund) -> dict[str, Any]:
    return record.model_dump(mode="json")


def _answer(result: Payment | Refund, status: int) -> JSONResponse:
    """The result as JSON; a replay says so in a header and is otherwise the first answer."""
    body = payment_body(result) if isinstance(result, Payment) else _dump(result)
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
    summary="Confirm a payment created with confirm=false, or complete its next action",
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
        action_result=body.action_result,
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
    responses=documented(400, 401, 404, 502, 503),
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
    try:
        refund = await gateway.refund_payment(
            body.target(),
            amount=body.amount,
            reason=body.reason,
            metadata=body.metadata,
            idempotency_key=key,
        )
    except PaymentNotFound as error:
        unified = body.provider_payment_id
        if unified is None or ":" not in unified:
            raise
        # The unified id sent as the provider's own: say which field takes it.
        raise PaymentNotFound(
            f"{error.message} provider_payment_id is the provider's own id (the part after "
            f'the colon); to refund {unified}, send {{"payment_id": "{unified}"}} instead.',
            param="provider_payment_id",
            provider=error.provider,
        ) from None
    return _answer(refund, 201)


@router.get(
    "/payments",
    response_model=PaymentList,
    responses=documented(400, 401, 503),
    summary="List payments this server has seen, newest first (Stripe-style pages)",
)
async def list_payments(
    request: Request,
    gateway: GatewayDep,
    provider: Annotated[ProviderName | None, Query(description="Only this provider's.")] = None,
    status: Annotated[PaymentStatus | None, Query(description="Only in this status.")] = None,
    limit: Annotated[int, Query(ge=1, le=100, description="Page size, 1 to 100.")] = 10,
    starting_after: Annotated[
        str | None,
        Query(description="The last id of the previous page: this page starts after it."),
    ] = None,
) -> JSONResponse:
    """Served from the store (what this server created or heard of by webhook), never by
    asking the providers, so a page costs one indexed query however many payments there are."""
    if starting_after is not None:
        split_id(starting_after, param="starting_after")
        if await acall(gateway.store.get_payment, starting_after) is None:
            raise InvalidRequest(
                f"starting_after: no payment {starting_after} here; pass the last id of the "
                "page before, or leave it out for the first page",
                param="starting_after",
            )
    found: list[Payment] = await acall(
        gateway.store.list_payments,
        provider=provider,
        status=status.value if status is not None else None,
        limit=limit + 1,
        starting_after=starting_after,
    )
    body = {
        "object": "list",
        "url": request.url.path,
        "has_more": len(found) > limit,
        "data": [payment_body(p) for p in found[:limit]],
    }
    return JSONResponse(body)


@router.get(
    "/payments/{payment_id}/refunds",
    response_model=RefundList,
    responses=documented(400, 401, 404, 503),
    summary="List a payment's refunds, oldest first, from the store",
)
async def list_refunds(
    payment_id: PaymentId, request: Request, gateway: GatewayDep
) -> JSONResponse:
    provider, _ = split_id(payment_id)
    refunds: list[Refund] = await acall(gateway.store.list_refunds, payment_id)
    if not refunds and await acall(gateway.store.get_payment, payment_id) is None:
        raise PaymentNotFound(
            f"No payment {payment_id} on this server; pass the id a create returned.",
            param="payment_id",
            provider=provider,
        )
    body = {
        "object": "list",
        "url": request.url.path,
        "has_more": False,
        "data": [_dump(r) for r in refunds],
    }
    return JSONResponse(body)


@router.get(
    "/refunds/{refund_id}",
    response_model=Refund,
    responses=documented(400, 401, 404, 503),
    summary="Retrieve a refund, as the store last saw it",
)
async def retrieve_refund(
    refund_id: Annotated[
        str,
        Path(description="The unified refund id a refund returned (e.g. mock:re_123)."),
    ],
    gateway: GatewayDep,
) -> JSONResponse:
    provider, _ = split_id(refund_id, param="refund_id")
    refund: Refund | None = await acall(gateway.store.get_refund, refund_id)
    if refund is None:
        raise PaymentNotFound(
            f"No refund {refund_id} on this server; pass the id a refund returned.",
            param="refund_id",
            provider=provider,
        )
    return JSONResponse(_dump(refund))


@router.get(
    "/providers",
    response_model=list[ProviderStatus],
    summary="Installed providers and whether each is configured (never their secrets)",
)
async def list_providers(gateway: GatewayDep) -> list[ProviderStatus]:
    return provider_statuses(gateway)


@public.get("/health", response_model=Health, summary="Liveness: the server is up")
async def health() -> Health:
    return Health()
