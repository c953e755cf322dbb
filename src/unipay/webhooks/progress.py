"""Moved to :mod:`unipay.storage.progress`: every store now applies the rule atomically."""

from unipay.storage.progress import PAYMENT_STATUS_ORDER, advance_payment, advance_refund

__all__ = ["PAYMENT_STATUS_ORDER", "advance_payment", "advance_refund"]
