"""SQLStore builds its statements once: a save only binds values (issue 19, problem 1)."""

from __future__ import annotations

import os
import sys
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.sql import coercions

from unipay.models import Payment, PaymentStatus
from unipay.storage import SQLStore


def _payment(status: PaymentStatus = PaymentStatus.SUCCEEDED) -> Payment:
    ref = uuid.uuid4().hex
    return Payment.model_validate(
        {
            "id": f"mock:{ref}",
            "provider": "mock",
            "provider_payment_id": ref,
            "amount": 1299,
            "currency": "USD",
            "status": status,
            "created_at": datetime.now(UTC),
        }
    )


def cycle(store: SQLStore) -> Payment:
    """An idempotent create (claim, then complete with a new payment), then a status change."""
    key = uuid.uuid4().hex
    claim = store.claim("operation", key, "f" * 64, lease=30, retention=60)
    payment = _payment(PaymentStatus.PROCESSING)
    store.complete("operation", key, claim.token or "", "{}", payment=payment)
    store.save_payment(payment.model_copy(update={"status": PaymentStatus.SUCCEEDED}))
    return payment


def _compiling() -> bool:
    """Called from SQLAlchemy's compiler: a compile-cache miss, not a statement built anew.
    SQLAlchemy 2.0.0 (the floor, in tox's `lowest`) compiles the dialects' ON CONFLICT inserts
    on every execution; later versions find them in the cache."""
    compiler = os.path.join("sqlalchemy", "sql", "compiler.py")
    frame = sys._getframe(2)
    while frame is not None:
        if frame.f_code.co_filename.endswith(compiler):
            return True
        frame = frame.f_back  # type: ignore[assignment]
    return False


def test_claim_complete_and_swaps_coerce_no_new_statement(
    sqlite_store: SQLStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = sqlite_store
    cycle(store)  # tables made, every statement compiled once and cached
    built: list[Any] = []
    expect = coercions.expect

    def counting(*args: Any, **kwargs: Any) -> Any:
        if not _compiling():
            built.append(args[:2])
        return expect(*args, **kwargs)

    monkeypatch.setattr(coercions, "expect", counting)
    payment = cycle(store)
    assert built == []
    monkeypatch.undo()
    stored = store.list_payments(status="succeeded", limit=5)
    assert payment.id in {p.id for p in stored}  # the swap wrote the list columns too
