"""The gateway's claims in its store: idempotency keys, payment locks, their completion.

A key or a payment is claimed with the gateway's lease and waited on for as long as its
`IdempotencyPolicy` says; each failure says what to do next (a key reused for other parameters, a
call still in progress, a store that failed before or after the provider was called). Kept apart
from the idempotent call (`unipay._calls`): these need only the store and the policy.
"""

from __future__ import annotations

import time

from unipay._flow import Flow, Sleep, call, shielded
from unipay._observe import Observers, around_store
from unipay.errors import IdempotencyInProgress, IdempotencyKeyReused, StoreUnavailable, UnipayError
from unipay.idempotency import OPERATION_SCOPE, PAYMENT_SCOPE, IdempotencyPolicy, release_claim
from unipay.models import Payment, Refund
from unipay.storage import Store
from unipay.storage.base import Claim, ClaimState


class StoreClaims:
    """Claim, lock, complete and release in the store; the gateway's core inherits them.

    The gateway sets these attributes in its ``__init__``."""

    store: Store
    idempotency: IdempotencyPolicy

    def _claim(self, key: str, print_: str, obs: Observers | None = None) -> Flow[Claim]:
        """Claim ``key`` for this call: a completed key is returned to be replayed, one still in
        progress is waited on (up to ``IdempotencyPolicy.wait``), one used for other parameters
        is refused."""
        policy = self.idempotency
        deadline = time.monotonic() + policy.wait
        while True:
            claim = yield from self._store_claim(
                OPERATION_SCOPE, key, print_, policy.retention, obs
            )
            if claim.state is ClaimState.MISMATCH:
                raise IdempotencyKeyReused(
                    f"Idempotency key {key!r} was already used for a different operation or "
                    "different parameters. Use a new key for a new request."
                )
            if claim.state is not ClaimState.IN_PROGRESS:
                return claim
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise IdempotencyInProgress(
                    f"A call with idempotency key {key!r} is still in progress. Retry with the "
                    "same key shortly, or set IdempotencyPolicy(wait=...) to wait for it."
                )
            yield Sleep(min(policy.poll_interval, remaining))

    def _lock_payment(self, payment_id: str, obs: Observers | None = None) -> Flow[str]:
        """Hold ``payment_id`` for one state-dependent operation, waiting (up to one lease) for
        another that holds it. The lock is a claim like a key's, so it serializes callers in
        every process and host sharing the store, and a holder that died loses it with its
        lease."""
        policy = self.idempotency
        deadline = time.monotonic() + policy.lock_timeout
        while True:
            claim = yield from self._store_claim(
                PAYMENT_SCOPE, payment_id, PAYMENT_SCOPE, policy.lock_timeout, obs
            )
            if claim.state is ClaimState.CLAIMED:
                assert claim.token is not None
                return claim.token
            if time.monotonic() >= deadline:
                raise IdempotencyInProgress(
                    f"Another refund or capture of payment {payment_id} has been running for "
                    f"{policy.lock_timeout:g} s. Retry with the same idempotency key shortly."
                )
            yield Sleep(policy.poll_interval)

    def _unlock_payment(
        self, payment_id: str | None, token: str | None, obs: Observers | None = None
    ) -> Flow[None]:
        """Release the payment's lock, when this call took one."""
        if payment_id is not None and token is not None:
            with around_store(obs, "release", PAYMENT_SCOPE):
                yield from release_claim(self.store, PAYMENT_SCOPE, payment_id, token)

    def _store_claim(
        self, scope: str, key: str, print_: str, retention: float, obs: Observers | None = None
    ) -> Flow[Claim]:
        """The store's claim with this gateway's lease; a failing store raises
        ``StoreUnavailable`` before any provider is called."""
        try:
            with around_store(obs, "claim", scope):
                claim = yield from shielded(
                    self.store.claim,
                    scope,
                    key,
                    print_,
                    lease=self.idempotency.lock_timeout,
                    retention=retention,
                )
        except UnipayError:
            raise
        except Exception as exc:
            raise StoreUnavailable(
                f"The idempotency store failed ({type(exc).__name__}); no provider was "
                "called. Check the store's database and retry with the same key."
            ) from exc
        return claim

    def _complete(
        self,
        key: str,
        token: str,
        result: str,
        payment: Payment | None,
        refund: Refund | None,
        obs: Observers | None = None,
    ) -> Flow[None]:
        """Store the outcome under ``key``. The provider has acted by now, so a store that fails
        here is reported with how to retry without acting twice."""
        try:
            with around_store(obs, "complete", OPERATION_SCOPE):
                yield from call(
                    self.store.complete,
                    OPERATION_SCOPE,
                    key,
                    token,
                    result,
                    payment=payment,
                    refund=refund,
                )
        except Exception as exc:
            raise StoreUnavailable(
                f"The provider answered but the outcome could not be stored "
                f"({type(exc).__name__}). Retry with the same idempotency key {key!r} after "
                "the lock timeout: the provider deduplicates it, so nothing is charged twice."
            ) from exc

    def _complete_scope(
        self,
        scope: str,
        key: str,
        token: str,
        result: str,
        payment: Payment | None,
        refund: Refund | None,
    ) -> Flow[None]:
        """Complete a claim in another scope (reconcile's record of what it learned)."""
        yield from call(
            self.store.complete, scope, key, token, result, payment=payment, refund=refund
        )
