"""Reading a verified event's objects, and what to do when unipay cannot.

A signed delivery is the provider's word, so an object in it that unipay cannot read is unipay's
problem, never the sender's: a new field value, an API version unipay predates. What a provider
plugin does then is the same for every provider, and lives here:

- the event is of a type unipay acts on (a unified type): refuse the delivery. The provider sends
  it again later, and the error, in the provider's dashboard and in unipay's log, says what is
  wrong, without repeating the payload;
- any other event: deliver it without a unified payment or refund, and log why.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from unipay.errors import WebhookVerificationError
from unipay.models import Payment, Refund, WebhookEventType

#: What reading a provider's object raises when the object is not as expected.
UNREADABLE = (ValueError, TypeError, LookupError, AttributeError, ArithmeticError, OSError)


class UnreadableObject(ValueError):
    """A provider's object lacks a field unipay reads, or holds a value unipay does not know.

    The message names the object and the field and shows at most an `excerpt` of a value, never
    a whole payload: it becomes the reason a delivery is refused."""


def excerpt(value: Any) -> str:
    """A provider-sent value as a message or a log line may show it: its repr, at most 40
    characters (the repr escapes what a terminal would act on)."""
    shown = repr(value)
    return shown if len(shown) <= 40 else shown[:37] + "..."


def reason(error: Exception) -> str:
    """What is wrong with an object, without repeating the payload (pydantic's text would)."""
    if isinstance(error, UnreadableObject):
        return str(error)
    if isinstance(error, ValidationError):
        first = error.errors(include_input=False, include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"])
        return f"the unified {error.title} refuses {where or 'it'}: {first['msg']}"
    return f"its object has an unexpected shape ({type(error).__name__})"


def unified_objects(
    read: Callable[[], tuple[Payment | None, Refund | None]],
    *,
    provider: str,
    label: str,
    event_id: str,
    kind: str,
    unified: WebhookEventType,
    advice: str,
    logger: logging.Logger,
) -> tuple[Payment | None, Refund | None]:
    """``read()``'s payment and refund for event ``event_id`` of type ``kind`` (unipay's
    ``unified``), or, when unipay cannot read them, what the module docstring says: a refusal
    ending in ``advice`` (what the operator can check), or none of them and a warning.
    ``label`` is the provider as people call it ("Stripe")."""
    try:
        return read()
    except UNREADABLE as error:
        why = reason(error)
        if unified is not WebhookEventType.OTHER:
            raise WebhookVerificationError(
                f"{label} event {excerpt(event_id)} ({excerpt(kind)}) is signed, but unipay "
                f"cannot read it: {why}. {advice}",
                provider=provider,
            ) from None
        logger.warning(
            "%s event %s (%s) delivered without a unified payment or refund: %s",
            label,
            excerpt(event_id),
            excerpt(kind),
            why,
        )
        return None, None
