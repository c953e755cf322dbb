"""``ProviderConformance``: what every unipay provider owes its users, as pytest tests.

Subclass it in your plugin's tests and give it your provider; everything else is optional::

    from unipay.testing import ProviderConformance

    class TestAcmeConformance(ProviderConformance):
        @pytest.fixture
        def provider(self):
            return AcmeProvider(api_key="ak_test_...")  # pointed at a fake or sandbox API

**Checks follow the declared capabilities.** Each check reads the provider's
[`Capabilities`][unipay.provider.Capabilities] and either holds a declared capability to its word
(declare ``manual_capture`` and an authorization must capture; declare ``settles_later`` and a
refund must be answered ``pending``) or makes sure the gateway refuses what is not declared
(without ``confirmation``, ``confirm_payment`` raises ``UnsupportedOperation`` before reaching the
provider). A check that cannot apply (partial capture without manual capture) is skipped, with
the reason: you never need to override or skip a check yourself. A failure says what the
provider must do and which page of the docs explains it. Checks that call the gateway run twice,
through [`Gateway`][unipay.Gateway] (``[Gateway]``) and [`AsyncGateway`][unipay.AsyncGateway]
(``[AsyncGateway]``), each in an event loop of its own, so no async pytest plugin is needed.

**Fixtures you may override:**

* ``provider``: a configured provider instance (required), fresh for each test.
* ``gateway`` / ``async_gateway``: the two faces over ``provider``, each with an in-memory store.
* ``success_token``, ``decline_token`` with ``decline_code``, ``authentication_token``: payment
  methods that succeed, decline (with that code) and ask for 3-D Secure. The defaults,
  ``tok_success``, ``tok_decline`` with ``card_declined``, and ``tok_authentication``, are what
  [`ReferenceProcessor`][unipay.testing.processor.ReferenceProcessor] does by default, so a
  provider tested against a fake built on it needs none of them; a provider whose test tokens
  differ (Stripe's ``pm_card_visa``) overrides them, one line each.
* ``signed_delivery``: ``payment -> (body, headers)``, a signed "payment succeeded" delivery for
  the webhook checks. The default uses
  [`Provider.sign_test_delivery`][unipay.provider.Provider.sign_test_delivery] when the provider
  implements it; otherwise those checks are skipped, saying so.
* ``fail_after_acting``: ``operation -> None``, makes the provider's next call of ``operation``
  act and then lose its answer. The default does it above the provider (the call completes,
  then ``ProviderUnavailable(request_sent=True)`` is raised, as a read timeout would be); override
  it to lose the answer in your fake API instead, and the check also covers how your provider
  reports a lost answer. Used by the at-most-once check of providers without idempotency keys.

**The reference processor.** [`unipay.testing.processor`][unipay.testing.processor] is a
stateful payment processor in memory (statuses, capture and refund limits, idempotency-key
replay, settling later). Build your fake API on it, mapping your wire format to its calls, and
the rules these checks rely on are already right.
"""

from __future__ import annotations

# The kit lives in one module per theme. Every name this module offered before the split is still
# importable from it (``name as name``: re-exported on purpose).
from unipay.testing._errors import ErrorChecks, IdempotencyChecks
from unipay.testing._expect import CAPABILITIES as CAPABILITIES
from unipay.testing._expect import ERRORS as ERRORS
from unipay.testing._expect import GUARANTEES as GUARANTEES
from unipay.testing._expect import OPERATIONS as OPERATIONS
from unipay.testing._expect import TESTING as TESTING
from unipay.testing._expect import WEBHOOKS as WEBHOOKS
from unipay.testing._expect import Caught as Caught
from unipay.testing._expect import E as E
from unipay.testing._expect import expect as expect
from unipay.testing._expect import expect_no_error as expect_no_error
from unipay.testing._expect import expect_raises as expect_raises
from unipay.testing._fixtures import _DECLARED_BY as _DECLARED_BY
from unipay.testing._fixtures import DeclarationChecks, Fixtures
from unipay.testing._harness import AMOUNT as AMOUNT
from unipay.testing._harness import RETURN_URL as RETURN_URL
from unipay.testing._harness import UNKNOWN_ID as UNKNOWN_ID
from unipay.testing._harness import CompleteCheckout as CompleteCheckout
from unipay.testing._harness import FailAfterActing as FailAfterActing
from unipay.testing._harness import SignedDelivery as SignedDelivery
from unipay.testing._harness import _Calls as _Calls
from unipay.testing._harness import _check as _check
from unipay.testing._harness import _context_of as _context_of
from unipay.testing._harness import _deliver as _deliver
from unipay.testing._harness import _implements as _implements
from unipay.testing._harness import _intercept as _intercept
from unipay.testing._harness import _lose_answers as _lose_answers
from unipay.testing._harness import _On as _On
from unipay.testing._harness import _one_event as _one_event
from unipay.testing._harness import _pending as _pending
from unipay.testing._harness import _require as _require
from unipay.testing._harness import _wrapped as _wrapped
from unipay.testing._payments import PaymentChecks
from unipay.testing._refunds import RefundChecks
from unipay.testing._webhooks import SettlementChecks, WebhookChecks

__all__ = [
    "FailAfterActing",
    "ProviderConformance",
    "SignedDelivery",
    "expect",
    "expect_no_error",
    "expect_raises",
]


# pytest runs inherited checks in reverse MRO order: the themes are listed last first, so the
# checks run in the order the docs present them (declarations, payments, refunds, ..., webhooks).
class ProviderConformance(
    WebhookChecks,
    SettlementChecks,
    IdempotencyChecks,
    ErrorChecks,
    RefundChecks,
    PaymentChecks,
    DeclarationChecks,
    Fixtures,
):
    """Capability-driven checks of one provider, on both faces of the gateway."""
