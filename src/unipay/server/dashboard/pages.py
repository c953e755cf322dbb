"""The read-only pages: payments, a payment, webhooks, idempotency keys.

Everything comes from the store the SDK writes (payments, refunds, the activity log, the
idempotency records), never from the providers: a page costs a few indexed queries and spends
no provider's rate limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from starlette.responses import Response

from unipay._flow import acall
from unipay.activity import Activity, ActivityKind, Outcome
from unipay.errors import InvalidRequest
from unipay.idempotency import OPERATION_SCOPE, RESOLVED_SCOPE
from unipay.models import Payment, PaymentStatus, split_id
from unipay.money import normalize_currency
from unipay.server.dashboard.actions import allowed_actions
from unipay.server.dashboard.render import PAGE_SIZE, Visit, flush_recorder, problem_page
from unipay.storage.base import Store

#: ``?done=`` values the payment page announces (after an action's redirect).
NOTICES = {
    "capture": "Captured.",
    "refund": "Refund requested.",
    "cancel": "Canceled.",
}
#: A search term longer than this is no id, e-mail or metadata value.
MAX_SEARCH = 500
NO_LOG = (
    "This store keeps no activity log (it does not implement list_activity), so there is "
    "nothing to show here. The SQL and memory stores keep one."
)


async def _activity(visit: Visit, **filters: object) -> list[Activity] | None:
    """``store.list_activity``, or None when the store cannot list activity. What the
    gateway's recorder still holds is written first, so a page shows the action just taken."""
    await flush_recorder(visit)
    try:
        found: list[Activity] = await acall(visit.gateway.store.list_activity, **filters)  # type: ignore[arg-type]
    except NotImplementedError:
        return None
    return found


@dataclass
class PaymentFilters:
    provider: str | None = None
    status: str | None = None
    currency: str | None = None
    created_from: str | None = None
    created_to: str | None = None
    search: str | None = None

    def params(self) -> dict[str, str | None]:
        return dict(vars(self))


def _day(text: str | None, name: str, problems: list[str]) -> datetime | None:
    if text is None:
        return None
    try:
        return datetime.combine(date.fromisoformat(text), time(), UTC)
    except ValueError:
        problems.append(f"{name} must be a date such as 2025-03-31.")
        return None


async def payments(visit: Visit) -> Response:
    filters = PaymentFilters(
        provider=visit.query("provider"),
        status=visit.query("status"),
        currency=visit.query("currency"),
        created_from=visit.query("created_from"),
        created_to=visit.query("created_to"),
        search=visit.query("search"),
    )
    problems: list[str] = []
    if filters.status is not None and filters.status not in set(PaymentStatus):
        problems.append("Status must be one of the listed statuses.")
    currency = filters.currency
    if currency is not None:
        try:
            currency = normalize_currency(currency)
        except ValueError as error:
            problems.append(f"{str(error)[0].upper()}{str(error)[1:]}.")
    created_from = _day(filters.created_from, "From", problems)
    created_to = _day(filters.created_to, "To", problems)
    if filters.search is not None and len(filters.search) > MAX_SEARCH:
        problems.append(f"Search for at most {MAX_SEARCH} characters.")
    after = visit.query("starting_after")
    found: list[Payment] = []
    if not problems:
        found = await acall(
            visit.gateway.store.list_payments,
            provider=filters.provider,
            status=filters.status,
            currency=currency,
            # The "to" day is included: the range ends at the start of the next day.
            created_from=created_from,
            created_to=None if created_to is None else created_to + timedelta(days=1),
            search=filters.search,
            limit=PAGE_SIZE + 1,
            starting_after=after,
        )
    shown = found[:PAGE_SIZE]
    next_url = None
    if len(found) > PAGE_SIZE:
        next_url = visit.url("/", **filters.params(), starting_after=shown[-1].id)
    return visit.render(
        "payments.html",
        status=400 if problems else 200,
        payments=shown,
        filters=filters,
        problems=problems,
        providers=visit.gateway.providers.names(),
        statuses=[s.value for s in PaymentStatus],
        next_url=next_url,
        first_url=visit.url("/", **filters.params()) if after else None,
    )


async def payment(visit: Visit) -> Response:
    unified = visit.query("id")
    try:
        if unified is None:
            raise InvalidRequest("Pass the payment's unified id as ?id=, e.g. mock:pi_123.")
        split_id(unified, param="id")
    except InvalidRequest as error:
        return problem_page(visit, 400, "Not a payment id", error.message)
    store = visit.gateway.store
    found: Payment | None = await acall(store.get_payment, unified)
    if found is None:
        return problem_page(
            visit, 404, "No such payment", f"This server's store has no payment {unified}."
        )
    refunds = await acall(store.list_refunds, unified)
    timeline = await _activity(visit, payment_id=unified, limit=200)
    done = visit.query("done")
    notice = NOTICES.get(done or "")
    if notice and visit.query("replayed"):
        notice += " (That form had been sent before: the first answer is shown, nothing ran twice.)"
    return visit.render(
        "payment.html",
        payment=found,
        refunds=refunds,
        timeline=None if timeline is None else list(reversed(timeline)),
        no_log=NO_LOG,
        actions=allowed_actions(visit.gateway, found),
        notice=notice,
    )


async def webhooks(visit: Visit) -> Response:
    provider, outcome_text = visit.query("provider"), visit.query("outcome")
    outcomes = [
        Outcome.PROCESSED,
        Outcome.DUPLICATE,
        Outcome.IN_PROGRESS,
        Outcome.REJECTED,
        Outcome.HANDLER_FAILED,
    ]
    outcome = Outcome(outcome_text) if outcome_text in {o.value for o in outcomes} else None
    if outcome_text is not None and outcome is None:
        return problem_page(visit, 400, "Unknown outcome", "Pick an outcome from the list.")
    before = visit.query("before")
    found = await _activity(
        visit,
        kind=ActivityKind.WEBHOOK,
        provider=provider,
        outcome=outcome,
        limit=PAGE_SIZE + 1,
        before=before,
    )
    shown = None if found is None else found[:PAGE_SIZE]
    next_url = None
    if found is not None and shown and len(found) > PAGE_SIZE:
        next_url = visit.url(
            "/webhooks", provider=provider, outcome=outcome_text, before=shown[-1].id
        )
    return visit.render(
        "webhooks.html",
        deliveries=shown,
        no_log=NO_LOG,
        providers=visit.gateway.providers.names(),
        outcomes=[o.value for o in outcomes],
        provider=provider,
        outcome=outcome_text,
        next_url=next_url,
        first_url=visit.url("/webhooks", provider=provider, outcome=outcome_text)
        if before
        else None,
    )


def _settled(store: Store, keys: list[str]) -> set[str]:
    """The keys among ``keys`` that ``unipay reconcile`` has already resolved."""
    return {key for key in keys if store.get_result(RESOLVED_SCOPE, key) is not None}


async def idempotency(visit: Visit) -> Response:
    store = visit.gateway.store
    try:
        keys = await acall(store.list_keys, OPERATION_SCOPE, finished=False, limit=100)
    except NotImplementedError:
        keys = None
    unknown = await _activity(
        visit, kind=ActivityKind.OPERATION, outcome=Outcome.UNKNOWN, limit=100
    )
    latest: dict[str, Activity] = {}
    for entry in unknown or []:
        if entry.key is not None:
            latest.setdefault(entry.key, entry)
    # One trip to the store's thread for all the keys, not one per key.
    settled = await acall(_settled, store, list(latest))
    waiting = [entry for key, entry in latest.items() if key not in settled]
    return visit.render(
        "idempotency.html",
        keys=keys,
        unknown=None if unknown is None else waiting,
        no_log=NO_LOG,
    )
