"""Standard Webhooks verification: the published test vector, rotation, tolerance, refusals."""

from __future__ import annotations

import base64

import pytest

from unipay.errors import InvalidRequest, ProviderNotConfigured, WebhookVerificationError
from unipay.webhooks import StandardWebhooks, WebhookSecret, parse_secrets, sign_headers, verify

# The Standard Webhooks project's published vector (libraries/python/tests, test_sign_function).
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TIMESTAMP = 1614265330
VECTOR_BODY = b'{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def vector_headers(signature: str = VECTOR_SIGNATURE) -> dict[str, str]:
    return {
        "webhook-id": VECTOR_ID,
        "webhook-timestamp": str(VECTOR_TIMESTAMP),
        "webhook-signature": signature,
    }


def test_signing_reproduces_the_published_vector() -> None:
    headers = sign_headers(
        VECTOR_BODY, secret=VECTOR_SECRET, msg_id=VECTOR_ID, timestamp=VECTOR_TIMESTAMP
    )
    assert headers == vector_headers()


def test_the_published_vector_verifies_with_and_without_the_prefix() -> None:
    for secret in (VECTOR_SECRET, VECTOR_SECRET.removeprefix("whsec_")):
        delivery = verify(
            VECTOR_BODY, vector_headers(), parse_secrets(secret), now=VECTOR_TIMESTAMP
        )
        assert (delivery.msg_id, delivery.timestamp) == (VECTOR_ID, VECTOR_TIMESTAMP)


def test_one_matching_signature_among_several_is_enough() -> None:
    wrong = "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc="
    header = f"{wrong} v2,{VECTOR_SIGNATURE[3:]} {VECTOR_SIGNATURE} {wrong}"
    verify(VECTOR_BODY, vector_headers(header), parse_secrets(VECTOR_SECRET), now=VECTOR_TIMESTAMP)


def test_a_rolled_receiver_accepts_either_secret() -> None:
    both = parse_secrets(["whsec_" + base64.b64encode(b"old key").decode(), VECTOR_SECRET])
    verify(VECTOR_BODY, vector_headers(), both, now=VECTOR_TIMESTAMP)


def test_header_names_are_case_insensitive() -> None:
    headers = {k.title(): v for k, v in vector_headers().items()}
    verify(VECTOR_BODY, headers, parse_secrets(VECTOR_SECRET), now=VECTOR_TIMESTAMP)


@pytest.mark.parametrize("offset", [-300, 300])
def test_timestamps_at_the_edge_of_five_minutes_pass(offset: int) -> None:
    verify(
        VECTOR_BODY, vector_headers(), parse_secrets(VECTOR_SECRET), now=VECTOR_TIMESTAMP + offset
    )


@pytest.mark.parametrize("offset", [-301, 301])
def test_timestamps_beyond_five_minutes_fail(offset: int) -> None:
    with pytest.raises(WebhookVerificationError, match="seconds from now"):
        verify(
            VECTOR_BODY,
            vector_headers(),
            parse_secrets(VECTOR_SECRET),
            now=VECTOR_TIMESTAMP + offset,
        )


@pytest.mark.parametrize(
    ("body", "headers", "reason"),
    [
        (VECTOR_BODY + b" ", vector_headers(), "no signature matches"),
        (VECTOR_BODY, vector_headers(VECTOR_SIGNATURE[:-2] + "A="), "no signature matches"),
        (VECTOR_BODY, vector_headers("v1,not base64!"), "no signature matches"),
        (VECTOR_BODY, vector_headers("v2," + VECTOR_SIGNATURE[3:]), "no signature matches"),
        (VECTOR_BODY, {**vector_headers(), "webhook-id": "msg_other"}, "no signature matches"),
        (VECTOR_BODY, {**vector_headers(), "webhook-timestamp": "1614265330.0"}, "Unix seconds"),
        (VECTOR_BODY, {**vector_headers(), "webhook-timestamp": "-1"}, "Unix seconds"),
        (VECTOR_BODY, {"webhook-id": VECTOR_ID}, "webhook-timestamp, webhook-signature"),
    ],
)
def test_anything_not_properly_signed_is_refused(
    body: bytes, headers: dict[str, str], reason: str
) -> None:
    with pytest.raises(WebhookVerificationError, match=reason):
        verify(body, headers, parse_secrets(VECTOR_SECRET), now=VECTOR_TIMESTAMP)


def test_a_wrong_secret_is_refused() -> None:
    other = parse_secrets("whsec_" + base64.b64encode(b"someone else").decode())
    with pytest.raises(WebhookVerificationError):
        verify(VECTOR_BODY, vector_headers(), other, now=VECTOR_TIMESTAMP)


def test_secrets_never_show_in_reprs_or_errors() -> None:
    key = WebhookSecret.parse(VECTOR_SECRET)
    assert "MfKQ9r8" not in repr(key)
    with pytest.raises(InvalidRequest) as caught:
        WebhookSecret.parse("whsec_not*base64*at*all")
    assert "not*base64" not in str(caught.value)
    with pytest.raises(InvalidRequest):
        parse_secrets([])


# --- StandardWebhooks: one provider's secrets, its deliveries in and out --------------------

ROLLED = "whsec_b3RoZXIta2V5LWZvci1yb2xsaW5n"


def test_a_provider_verifies_the_published_vector_and_reads_its_body() -> None:
    webhooks = StandardWebhooks("acme", [ROLLED, VECTOR_SECRET], setting="ACME_WEBHOOK_SECRET")
    event_id, payload = webhooks.verify(VECTOR_BODY, vector_headers(), now=VECTOR_TIMESTAMP)
    assert (event_id, payload) == (VECTOR_ID, {"test": 2432232314})


def test_what_a_provider_signs_it_verifies_with_its_first_secret() -> None:
    webhooks = StandardWebhooks("acme", [VECTOR_SECRET, ROLLED], setting="ACME_WEBHOOK_SECRET")
    body, headers = webhooks.sign({"type": "charge.paid"}, msg_id="evt_1", timestamp=1_700_000_000)
    assert headers["content-type"] == "application/json"
    assert headers == {
        "content-type": "application/json",
        **sign_headers(body, secret=VECTOR_SECRET, msg_id="evt_1", timestamp=1_700_000_000),
    }
    only_rolled = StandardWebhooks("acme", ROLLED, setting="ACME_WEBHOOK_SECRET")
    with pytest.raises(WebhookVerificationError, match="no signature matches"):
        only_rolled.verify(body, headers, now=1_700_000_000)
    fresh_body, fresh = webhooks.sign({"type": "charge.paid"})
    assert fresh["webhook-id"].startswith("msg_")
    assert webhooks.verify(fresh_body, fresh)[1] == {"type": "charge.paid"}


def test_without_secrets_both_ways_name_the_setting() -> None:
    webhooks = StandardWebhooks("acme", [], setting="ACME_WEBHOOK_SECRET")
    with pytest.raises(WebhookVerificationError, match="set ACME_WEBHOOK_SECRET"):
        webhooks.verify(VECTOR_BODY, vector_headers(), now=VECTOR_TIMESTAMP)
    with pytest.raises(ProviderNotConfigured, match="ACME_WEBHOOK_SECRET"):
        webhooks.sign({"type": "charge.paid"})


@pytest.mark.parametrize("body", [b"[1, 2]", b'"text"', b"not json", b"[" * 100_000])
def test_a_signed_body_that_is_not_a_json_object_is_refused(body: bytes) -> None:
    webhooks = StandardWebhooks("acme", VECTOR_SECRET, setting="ACME_WEBHOOK_SECRET")
    headers = sign_headers(body, secret=VECTOR_SECRET, msg_id="evt_1", timestamp=VECTOR_TIMESTAMP)
    with pytest.raises(WebhookVerificationError, match="not a JSON object"):
        webhooks.verify(body, headers, now=VECTOR_TIMESTAMP)


def test_a_providers_webhooks_never_show_their_secrets() -> None:
    webhooks = StandardWebhooks("acme", [VECTOR_SECRET, ROLLED], setting="ACME_WEBHOOK_SECRET")
    assert repr(webhooks) == "<StandardWebhooks 'acme': 2 secret(s)>"
