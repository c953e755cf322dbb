"""The store conformance suite: what every unipay store must do, as pytest tests.

Subclass it in your store's tests and override the one fixture that builds a fresh, empty store::

    from unipay.testing import StoreConformance

    class TestRedisStore(StoreConformance):
        @pytest.fixture
        def store(self) -> Iterator[Store]:
            store = RedisStore(...)
            yield store
            store.close()

Time is the store's own, so expiry and takeover are tested with short real leases and
retentions (a fraction of a second) and short sleeps.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import pytest

from unipay.activity import Activity, ActivityKind, Outcome, latency_bucket
from unipay.models import Payment, PaymentStatus, Refund, RefundStatus
from unipay.storage.base import Claim, ClaimState, Store

LOCK = 60.0
KEEP = 86_400.0
#: A lease or retention that runs out during a test, and a sleep that outlasts it.
SHORT = 0.2
PAST_SHORT = 0.3
SCOPE = "operation"
THREADS = 16

T = TypeVar("T")


def _claim(
    store: Store, key: str, fingerprint: str = "fp-a", *, lease: float = LOCK, keep: float = KEEP
) -> Claim:
    return store.claim(SCOPE, key, fingerprint, lease=lease, retention=keep)


def _refund(payment: Payment, amount: int, status: RefundStatus = RefundStatus.SUCCEEDED) -> Refund:
    return Refund(
        provider="conformance",
        provider_refund_id="re_" + uuid.uuid4().hex,
        payment_id=payment.id,
        amount=amount,
        currency=payment.currency,
        status=status,
    )


def _payment(status: PaymentStatus = PaymentStatus.SUCCEEDED) -> Payment:
    return Payment(
        provider="conformance",
        provider_payment_id="pi_" + uuid.uuid4().hex,
        status=status,
        amount=1299,
        currency="USD",
        amount_received=1299 if status is PaymentStatus.SUCCEEDED else 0,
        metadata={"order": "42"},
    )


def _at_once(count: int, func: Callable[[], T]) -> list[T]:
    """Run ``func`` in ``count`` threads released together by a barrier."""
    barrier = threading.Barrier(count)

    def call() -> T:
        barrier.wait()
        return func()

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(lambda _: call(), range(count)))


class StoreConformance:
    """Override `store`; every test gets a fresh store and fresh keys."""

    @pytest.fixture
    def store(self) -> Store:
        """Override: a fresh, empty store (yield it and close it afterwards if it holds
        connections)."""
        pytest.fail("override the `store` fixture to build your store")

    @pytest.fixture
    def key(self) -> str:
        return "key-" + uuid.uuid4().hex

    # --- claim --------------------------------------------------------------------------------

    def test_new_key_is_claimed_with_a_token(self, store: Store, key: str) -> None:
        claim = _claim(store, key)
        assert claim.state is ClaimState.CLAIMED
        assert claim.token

    def test_held_key_is_in_progress(self, store: Store, key: str) -> None:
        _claim(store, key)
        assert _claim(store, key).state is ClaimState.IN_PROGRESS

    def test_other_fingerprint_is_a_mismatch_while_held_and_after_completion(
        self, store: Store, key: str
    ) -> None:
        token = _claim(store, key).token
        assert _claim(store, key, "fp-b").state is ClaimState.MISMATCH
        assert token is not None
        store.complete(SCOPE, key, token, '{"payment":1}')
        assert _claim(store, key, "fp-b").state is ClaimState.MISMATCH
        assert _claim(store, key).result == '{"payment":1}'

    def test_scopes_do_not_collide(self, store: Store, key: str) -> None:
        _claim(store, key)
        other = store.claim("webhook", key, "fp-b", lease=LOCK, retention=KEEP)
        assert other.state is ClaimState.CLAIMED

    # --- complete and release -----------------------------------------------------------------

    def test_completed_key_returns_its_result(self, store: Store, key: str) -> None:
        token = _claim(store, key).token
        assert token is not None
        store.complete(SCOPE, key, token, '{"x":1}')
        claim = _claim(store, key)
        assert (claim.state, claim.result) == (ClaimState.COMPLETED, '{"x":1}')
        assert store.get_result(SCOPE, key) == '{"x":1}'

    def test_completed_key_is_never_taken_over(self, store: Store, key: str) -> None:
        token = _claim(store, key, lease=SHORT).token
        assert token is not None
        store.complete(SCOPE, key, token, "{}")
        time.sleep(PAST_SHORT)
        assert _claim(store, key, lease=SHORT).state is ClaimState.COMPLETED

    def test_complete_with_a_lost_token_keeps_the_new_owner(self, store: Store, key: str) -> None:
        """Fencing: a caller whose lease ran out and was taken over never completes the key."""
        old = _claim(store, key, lease=SHORT).token
        time.sleep(PAST_SHORT)
        new = _claim(store, key).token
        assert old is not None
        assert new is not None
        assert old != new
        store.complete(SCOPE, key, old, '{"old":1}')
        assert _claim(store, key).state is ClaimState.IN_PROGRESS
        store.release(SCOPE, key, old)
        assert _claim(store, key).state is ClaimState.IN_PROGRESS
        store.complete(SCOPE, key, new, '{"new":1}')
        assert _claim(store, key).result == '{"new":1}'

    def test_release_frees_the_key(self, store: Store, key: str) -> None:
        token = _claim(store, key).token
        assert token is not None
        store.release(SCOPE, key, token)
        assert store.get_result(SCOPE, key) is None
        assert _claim(store, key, "fp-b").state is ClaimState.CLAIMED

    def test_release_with_a_wrong_token_or_after_completion_does_nothing(
        self, store: Store, key: str
    ) -> None:
        token = _claim(store, key).token
        assert token is not None
        store.release(SCOPE, key, "not-the-token")
        assert _claim(store, key).state is ClaimState.IN_PROGRESS
        store.complete(SCOPE, key, token, "{}")
        store.release(SCOPE, key, token)
        assert _claim(store, key).state is ClaimState.COMPLETED

    # --- leases, expiry and takeover ----------------------------------------------------------

    def test_abandoned_lock_is_taken_over_once(self, store: Store, key: str) -> None:
        first = _claim(store, key, lease=SHORT)
        time.sleep(PAST_SHORT)
        takeover = _claim(store, key)
        assert takeover.state is ClaimState.CLAIMED
        assert takeover.token != first.token
        assert _claim(store, key).state is ClaimState.IN_PROGRESS

    def test_a_short_lease_never_shortens_anothers(self, store: Store, key: str) -> None:
        """The lease is the claimer's: a caller configured with a short lock timeout must not
        take over a live claim written with a long one."""
        _claim(store, key, lease=LOCK)
        time.sleep(PAST_SHORT)
        assert _claim(store, key, lease=0.001).state is ClaimState.IN_PROGRESS

    def test_a_lapsed_short_lease_is_taken_over_by_a_long_one(self, store: Store, key: str) -> None:
        _claim(store, key, lease=SHORT)
        time.sleep(PAST_SHORT)
        assert _claim(store, key, lease=LOCK).state is ClaimState.CLAIMED

    def test_abandoned_lock_with_other_parameters_is_a_mismatch(
        self, store: Store, key: str
    ) -> None:
        _claim(store, key, lease=SHORT)
        time.sleep(PAST_SHORT)
        assert _claim(store, key, "fp-b").state is ClaimState.MISMATCH

    def test_expired_key_runs_as_new(self, store: Store, key: str) -> None:
        token = _claim(store, key, lease=SHORT / 2, keep=SHORT).token
        assert token is not None
        store.complete(SCOPE, key, token, "{}")
        assert store.get_result(SCOPE, key) == "{}"
        time.sleep(PAST_SHORT)
        assert store.get_result(SCOPE, key) is None
        assert _claim(store, key, "fp-b").state is ClaimState.CLAIMED

    def test_purge_deletes_only_expired_records_in_batches(self, store: Store) -> None:
        old = [f"old-{uuid.uuid4().hex}" for _ in range(5)]
        for key in old:
            token = _claim(store, key, lease=SHORT / 2, keep=SHORT).token
            assert token is not None
            store.complete(SCOPE, key, token, "{}")
        live = f"live-{uuid.uuid4().hex}"
        _claim(store, live)
        time.sleep(PAST_SHORT)
        assert store.purge_expired(batch_size=2) == 5
        assert all(store.get_result(SCOPE, key) is None for key in old)
        assert _claim(store, live).state is ClaimState.IN_PROGRESS
        assert store.purge_expired(batch_size=2) == 0

    # --- concurrency --------------------------------------------------------------------------

    def test_one_of_many_threads_claims_a_new_key(self, store: Store, key: str) -> None:
        states = [c.state for c in _at_once(THREADS, lambda: _claim(store, key))]
        assert states.count(ClaimState.CLAIMED) == 1
        assert states.count(ClaimState.IN_PROGRESS) == THREADS - 1

    def test_one_of_many_threads_takes_over_an_abandoned_lock(self, store: Store, key: str) -> None:
        _claim(store, key, lease=SHORT)
        time.sleep(PAST_SHORT)
        claims = _at_once(THREADS, lambda: _claim(store, key))
        states = [c.state for c in claims]
        assert states.count(ClaimState.CLAIMED) == 1
        assert states.count(ClaimState.IN_PROGRESS) == THREADS - 1

    def test_threads_racing_release_and_claim_never_share_a_key(self, store: Store) -> None:
        key = "race-" + uuid.uuid4().hex
        owners: list[str] = []
        guard = threading.Lock()

        def work() -> None:
            for _ in range(10):
                claim = _claim(store, key)
                if claim.state is ClaimState.CLAIMED:
                    assert claim.token is not None
                    with guard:
                        owners.append(claim.token)
                        assert len(owners) == 1, "two callers held the key at once"
                    with guard:
                        owners.remove(claim.token)
                        store.release(SCOPE, key, claim.token)

        _at_once(8, work)

    # --- payments and refunds -----------------------------------------------------------------

    def test_payment_round_trip_keeps_the_latest_state(self, store: Store) -> None:
        payment = _payment(PaymentStatus.REQUIRES_CAPTURE)
        assert store.get_payment(payment.id) is None
        store.save_payment(payment)
        assert store.get_payment(payment.id) == payment
        captured = payment.model_copy(update={"status": PaymentStatus.SUCCEEDED})
        store.save_payment(captured)
        assert store.get_payment(payment.id) == captured

    def test_refund_round_trip(self, store: Store) -> None:
        payment = _payment()
        refund = Refund(
            provider="conformance",
            provider_refund_id="re_" + uuid.uuid4().hex,
            payment_id=payment.id,
            amount=500,
            currency="USD",
            status=RefundStatus.SUCCEEDED,
        )
        assert store.get_refund(refund.id) is None
        store.save_refund(refund)
        assert store.get_refund(refund.id) == refund

    def test_complete_saves_payment_and_refund_with_the_outcome(
        self, store: Store, key: str
    ) -> None:
        payment = _payment()
        refund = Refund(
            provider="conformance",
            provider_refund_id="re_" + uuid.uuid4().hex,
            payment_id=payment.id,
            amount=100,
            currency="USD",
            status=RefundStatus.SUCCEEDED,
        )
        token = _claim(store, key).token
        assert token is not None
        store.complete(SCOPE, key, token, "{}", payment=payment, refund=refund)
        assert store.get_payment(payment.id) == payment.model_copy(update={"amount_refunded": 100})
        assert store.get_refund(refund.id) == refund

    # --- never backwards, never a lost update ------------------------------------------------

    def test_an_older_snapshot_never_moves_a_payment_backwards(self, store: Store) -> None:
        authorized = _payment(PaymentStatus.REQUIRES_CAPTURE)
        captured = authorized.model_copy(
            update={"status": PaymentStatus.SUCCEEDED, "amount_received": 1299}
        )
        store.save_payment(captured)
        store.save_payment(authorized)
        assert store.get_payment(authorized.id) == captured

    def test_a_settled_refund_is_never_reopened(self, store: Store) -> None:
        payment = _payment()
        store.save_payment(payment)
        refund = _refund(payment, 100, RefundStatus.PENDING)
        settled = refund.model_copy(update={"status": RefundStatus.SUCCEEDED})
        store.save_refund(settled)
        store.save_refund(refund)
        assert store.get_refund(refund.id) == settled

    def test_refunds_raise_the_payments_refunded_amount_once_each(self, store: Store) -> None:
        payment = _payment()
        store.save_payment(payment)
        first, second = _refund(payment, 100), _refund(payment, 200, RefundStatus.PENDING)
        store.save_refund(first)
        store.save_refund(first)
        store.save_refund(second)
        store.save_refund(_refund(payment, 400, RefundStatus.FAILED))
        stored = store.get_payment(payment.id)
        assert stored is not None
        assert stored.amount_refunded == 300

    def test_a_pending_refund_that_fails_gives_its_amount_back(self, store: Store) -> None:
        """Providers that settle refunds later report a failure after the
        pending refund was counted: the payment is refundable again, as it was."""
        payment = _payment()
        store.save_payment(payment)
        kept, failing = _refund(payment, 100), _refund(payment, 200, RefundStatus.PENDING)
        store.save_refund(kept)
        store.save_refund(failing)
        store.save_refund(failing.model_copy(update={"status": RefundStatus.FAILED}))
        store.save_refund(failing.model_copy(update={"status": RefundStatus.FAILED}))
        stored = store.get_payment(payment.id)
        assert stored is not None
        assert stored.amount_refunded == 100

    def test_concurrent_refunds_on_one_payment_are_all_counted(self, store: Store) -> None:
        """Each thread saves its own refund of one payment at once: no update is lost."""
        payment = _payment()
        store.save_payment(payment)
        refunds = [_refund(payment, 10) for _ in range(THREADS)]
        pending = iter(refunds)
        guard = threading.Lock()

        def save() -> None:
            with guard:
                refund = next(pending)
            store.save_refund(refund)

        _at_once(THREADS, save)
        stored = store.get_payment(payment.id)
        assert stored is not None
        assert stored.amount_refunded == 10 * THREADS

    def test_concurrent_saves_keep_the_furthest_state(self, store: Store) -> None:
        """Half the threads save the captured payment, half the authorized one it came from:
        whatever the interleaving, the captured one stands."""
        authorized = _payment(PaymentStatus.REQUIRES_CAPTURE)
        captured = authorized.model_copy(
            update={"status": PaymentStatus.SUCCEEDED, "amount_received": 1299}
        )
        turn = iter(range(THREADS))
        guard = threading.Lock()

        def save() -> None:
            with guard:
                index = next(turn)
            store.save_payment(captured if index % 2 else authorized)

        _at_once(THREADS, save)
        assert store.get_payment(authorized.id) == captured

    # --- lists ----------------------------------------------------------------------------------

    def test_payments_are_listed_newest_first_by_filter_and_page(self, store: Store) -> None:
        """Keyset pages: each page starts right after the last id of the one before, and a
        filter by provider and status applies on every page."""
        provider = "conformance" + uuid.uuid4().hex[:8]
        start = datetime(2026, 1, 1, tzinfo=UTC)
        saved = []
        for index in range(7):
            status = PaymentStatus.SUCCEEDED if index % 2 else PaymentStatus.REQUIRES_CAPTURE
            payment = _payment(status).model_copy(
                update={"provider": provider, "created_at": start + timedelta(minutes=index)}
            )
            store.save_payment(payment)
            saved.append(payment)
        store.save_payment(_payment())  # another provider's, never listed below
        newest_first = [payment.id for payment in reversed(saved)]
        first = store.list_payments(provider=provider, limit=3)
        assert [payment.id for payment in first] == newest_first[:3]
        rest = store.list_payments(provider=provider, limit=10, starting_after=first[-1].id)
        assert [payment.id for payment in rest] == newest_first[3:]
        succeeded = store.list_payments(provider=provider, status="succeeded", limit=10)
        assert [payment.id for payment in succeeded] == newest_first[1::2]  # odd indices
        assert store.list_payments(provider=provider, starting_after="conformance:pi_none") == []

    def test_refunds_are_listed_oldest_first(self, store: Store) -> None:
        payment = _payment()
        store.save_payment(payment)
        start = datetime(2026, 1, 1, tzinfo=UTC)
        refunds = [
            _refund(payment, 100).model_copy(update={"created_at": start + timedelta(minutes=i)})
            for i in range(3)
        ]
        for refund in reversed(refunds):
            store.save_refund(refund)
        store.save_refund(_refund(_payment(), 100))  # another payment's
        assert [refund.id for refund in store.list_refunds(payment.id)] == [
            refund.id for refund in refunds
        ]

    def test_a_refund_reported_under_another_payment_counts_there(self, store: Store) -> None:
        """Providers have been seen to report one refund id under another payment: the refund
        then belongs to (and is counted by) the payment it now names, and nothing fails."""
        first, second = _payment(), _payment()
        store.save_payment(first)
        store.save_payment(second)
        refund = _refund(first, 100, RefundStatus.PENDING)
        store.save_refund(refund)
        moved = refund.model_copy(
            update={"payment_id": second.id, "status": RefundStatus.SUCCEEDED}
        )
        store.save_refund(moved)
        assert store.get_refund(refund.id) == moved
        assert [found.id for found in store.list_refunds(second.id)] == [refund.id]
        assert store.list_refunds(first.id) == []
        counted = store.get_payment(second.id)
        assert counted is not None
        assert counted.amount_refunded == 100

    # --- list filters: currency, creation range, search ---------------------------------------

    def test_payments_filter_by_currency_and_creation_range_with_pages(self, store: Store) -> None:
        """The new filters hold on every keyset page: ``[created_from, created_to)``."""
        provider = "conformance" + uuid.uuid4().hex[:8]
        start = datetime(2026, 2, 1, tzinfo=UTC)
        saved = []
        for index in range(8):
            payment = _payment().model_copy(
                update={
                    "provider": provider,
                    "currency": "EUR" if index % 2 else "USD",
                    "created_at": start + timedelta(hours=index),
                }
            )
            store.save_payment(payment)
            saved.append(payment)
        euros = [p.id for p in reversed(saved) if p.currency == "EUR"]
        first = store.list_payments(provider=provider, currency="EUR", limit=2)
        assert [p.id for p in first] == euros[:2]
        rest = store.list_payments(
            provider=provider, currency="EUR", limit=10, starting_after=first[-1].id
        )
        assert [p.id for p in rest] == euros[2:]
        window = store.list_payments(
            provider=provider,
            created_from=start + timedelta(hours=2),
            created_to=start + timedelta(hours=6),
            limit=3,
        )
        assert [p.id for p in window] == [saved[i].id for i in (5, 4, 3)]
        after = store.list_payments(
            provider=provider,
            created_from=start + timedelta(hours=2),
            created_to=start + timedelta(hours=6),
            starting_after=window[-1].id,
        )
        assert [p.id for p in after] == [saved[2].id]

    def test_search_finds_a_payment_by_each_of_its_terms(self, store: Store) -> None:
        tag = uuid.uuid4().hex[:8]
        payment = _payment().model_copy(
            update={"customer_email": f"c-{tag}@example.com", "metadata": {"order": f"o-{tag}"}}
        )
        other = _payment().model_copy(update={"metadata": {"order": f"x-{tag}"}})
        store.save_payment(payment)
        store.save_payment(other)
        for term in (
            payment.id,
            payment.provider_payment_id,
            f"c-{tag}@example.com",
            f"o-{tag}",
        ):
            assert [p.id for p in store.list_payments(search=term)] == [payment.id], term
        assert store.list_payments(search=f"c-{tag}") == []  # exact terms only
        assert store.list_payments(search=f"o-{tag}", provider="another") == []
        # A save that changes a term: the old one no longer finds it, the new one does.
        store.save_payment(payment.model_copy(update={"metadata": {"order": f"n-{tag}"}}))
        assert store.list_payments(search=f"o-{tag}") == []
        assert [p.id for p in store.list_payments(search=f"n-{tag}")] == [payment.id]

    # --- idempotency keys for operators ---------------------------------------------------------

    def test_list_keys_shows_a_claims_age_and_lease(self, store: Store) -> None:
        scope = "conformance-" + uuid.uuid4().hex[:8]
        held = "held-" + uuid.uuid4().hex
        lapsed = "lapsed-" + uuid.uuid4().hex
        done = "done-" + uuid.uuid4().hex
        store.claim(scope, lapsed, "fp", lease=SHORT, retention=KEEP)
        # SQLite's clock counts milliseconds: claims within one would tie (ordered by key).
        time.sleep(0.01)
        store.claim(scope, held, "fp", lease=LOCK, retention=KEEP)
        token = store.claim(scope, done, "fp", lease=LOCK, retention=KEEP).token
        assert token is not None
        store.complete(scope, done, token, '{"ok":1}')
        time.sleep(PAST_SHORT)
        unfinished = store.list_keys(scope, finished=False)
        assert [k.key for k in unfinished] == [lapsed, held]  # oldest claim first
        old, live = unfinished
        assert old.age >= PAST_SHORT * 0.9
        assert old.lease_left <= 0
        assert 0 < live.lease_left <= LOCK
        assert not old.finished
        assert old.result is None
        finished = store.list_keys(scope, finished=True)
        assert [(k.key, k.finished, k.result) for k in finished] == [(done, True, '{"ok":1}')]
        assert len(store.list_keys(scope)) == 3
        assert len(store.list_keys(scope, limit=1)) == 1
        assert store.list_keys("conformance-none") == []

    # --- the activity log -----------------------------------------------------------------------

    def test_activity_is_listed_newest_first_in_keyset_pages(self, store: Store) -> None:
        provider = "conformance" + uuid.uuid4().hex[:8]
        payment_id = f"{provider}:pi_1"
        start = datetime(2026, 3, 1, 12, tzinfo=UTC)
        entries = [
            _activity(
                provider,
                start + timedelta(seconds=index // 2),  # pairs share a time: the id decides
                payment_id=payment_id if index % 3 else None,
                outcome=Outcome.DECLINED if index == 4 else Outcome.SUCCEEDED,
            )
            for index in range(7)
        ]
        store.record_activity(entries[:3])
        store.record_activity(entries[3:])
        newest = sorted(entries, key=lambda a: (a.at, a.id), reverse=True)
        first = store.list_activity(provider=provider, limit=3)
        assert first == newest[:3]
        rest = store.list_activity(provider=provider, limit=10, before=first[-1].id)
        assert rest == newest[3:]
        of_payment = store.list_activity(payment_id=payment_id)
        assert of_payment == [a for a in newest if a.payment_id == payment_id]
        assert store.list_activity(provider=provider, outcome=Outcome.DECLINED) == [entries[4]]
        assert store.list_activity(provider=provider, kind=ActivityKind.WEBHOOK) == []
        assert store.list_activity(before="act_unknown") == []

    def test_activity_totals_sum_a_window_and_its_volume_per_bucket(self, store: Store) -> None:
        """Entries either side of an hour boundary: one total per combination for the whole
        window; the volume split per hour or per day; replays add to the count and not to the
        amount or the volume; retries count the calls beyond the first; latencies form one
        histogram for the window; a window reads whole hours."""
        provider = "conformance" + uuid.uuid4().hex[:8]
        day = datetime(2026, 3, 2, tzinfo=UTC)
        before_ten, after_ten = day + timedelta(hours=9, minutes=59), day + timedelta(hours=10)
        store.record_activity(
            [
                _activity(provider, before_ten, amount=100, attempts=1, latency_ms=10.0),
                _activity(provider, after_ten, amount=200, attempts=2, latency_ms=10.0),
                _activity(provider, after_ten, amount=200, replayed=True),
                _activity(
                    provider,
                    after_ten,
                    outcome=Outcome.DECLINED,
                    decline_code="fraud",
                    attempts=1,
                    latency_ms=200.0,
                ),
                _activity(provider, day + timedelta(days=1), amount=999, latency_ms=1.0),
            ]
        )
        fast, slow = latency_bucket(10.0), latency_bucket(200.0)
        hour = timedelta(hours=1)
        for bucket_seconds, volume in (
            (3600, [(day + 9 * hour, 1, 100), (day + 10 * hour, 1, 200)]),
            (86_400, [(day, 2, 300)]),
        ):
            totals = store.activity_totals(
                since=day, until=day + timedelta(days=1), bucket_seconds=bucket_seconds
            )
            assert {
                (t.outcome, t.decline_code): (t.count, t.amount, t.attempts, t.replays, t.retries)
                for t in totals.counts
                if t.provider == provider
            } == {
                (Outcome.SUCCEEDED, None): (3, 300, 3, 1, 1),
                (Outcome.DECLINED, "fraud"): (1, 0, 1, 0, 0),
            }
            assert [
                (p.bucket_start, p.count, p.amount, p.currency)
                for p in totals.volume
                if p.provider == provider
            ] == [(*point, "USD") for point in volume]
            assert [
                (t.operation, t.latency_bucket, t.count)
                for t in totals.latencies
                if t.provider == provider
            ] == [("create_payment", fast, 2), ("create_payment", slow, 1)]
        # A window starting mid-hour reads the hours that start in it.
        late = store.activity_totals(
            since=day + timedelta(hours=9, minutes=30), until=day + 11 * hour
        )
        assert {t.outcome: (t.count, t.amount) for t in late.counts if t.provider == provider} == {
            Outcome.SUCCEEDED: (2, 200),
            Outcome.DECLINED: (1, 0),
        }
        assert [p.bucket_start for p in late.volume if p.provider == provider] == [day + 10 * hour]
        assert [t.count for t in late.latencies if t.provider == provider] == [1, 1]

    def test_activity_totals_over_days_read_edge_hours(self, store: Store) -> None:
        """Day buckets over a window that starts and ends mid-day: the partial days count
        only their hours inside the window (a SQL store reads whole days from its day tables
        and the edges from its hour tables)."""
        provider = "conformance" + uuid.uuid4().hex[:8]
        day = datetime(2026, 3, 4, tzinfo=UTC)
        moments = {
            "before the window": day + timedelta(hours=9, minutes=59),
            "first hour": day + timedelta(hours=10),
            "whole day": day + timedelta(days=1, hours=12),
            "last hour": day + timedelta(days=2, minutes=30),
            "after the window": day + timedelta(days=2, hours=1),
        }
        store.record_activity(
            [
                _activity(provider, at, amount=amount, attempts=1, latency_ms=5.0)
                for amount, at in enumerate(moments.values(), start=1)
            ]
        )
        totals = store.activity_totals(
            since=day + timedelta(hours=9, minutes=30),
            until=day + timedelta(days=2, hours=1),
            bucket_seconds=86_400,
        )
        assert [(p.bucket_start, p.amount) for p in totals.volume if p.provider == provider] == [
            (day, 2),
            (day + timedelta(days=1), 3),
            (day + timedelta(days=2), 4),
        ]
        assert [(t.count, t.amount) for t in totals.counts if t.provider == provider] == [(3, 9)]
        assert [t.count for t in totals.latencies if t.provider == provider] == [3]

    def test_purge_activity_deletes_old_entries_and_their_hours(self, store: Store) -> None:
        provider = "conformance" + uuid.uuid4().hex[:8]
        day = datetime(2026, 3, 3, tzinfo=UTC)
        old = [_activity(provider, day + timedelta(minutes=i)) for i in range(5)]
        kept = [_activity(provider, day + timedelta(hours=2))]
        store.record_activity(old + kept)
        assert store.purge_activity(older_than=day + timedelta(hours=1), batch_size=2) == 5
        assert store.list_activity(provider=provider) == kept
        totals = store.activity_totals(since=day, until=day + timedelta(days=1))
        remaining = [p.bucket_start for p in totals.volume if p.provider == provider]
        assert remaining == [day + timedelta(hours=2)]
        assert store.purge_activity(older_than=day + timedelta(hours=1)) == 0


def _activity(provider: str, at: datetime, **fields: object) -> Activity:
    values: dict[str, object] = {
        "kind": ActivityKind.OPERATION,
        "operation": "create_payment",
        "outcome": Outcome.SUCCEEDED,
        "currency": "USD",
        **fields,
    }
    return Activity(
        id=f"act_{uuid.uuid4().hex}",
        at=at,
        provider=provider,
        **values,
    )
