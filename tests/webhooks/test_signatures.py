"""Standard Webhooks verification: the published test vector, rotation, tolerance, refusals."""

from __future__ import annotations

import base64

import pytest

from unipay.errors import InvalidRequest, WebhookVerificationError
from unipay.webhooks import WebhookSecret, parse_secrets, sign_headers, verify

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
