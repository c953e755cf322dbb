"""Money, currencies and request validation: refused before any provider is called."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from unipay import models
from unipay.errors import InvalidRequest
from unipay.models import (
    CancelPaymentRequest,
    CapturePaymentRequest,
    ConfirmPaymentRequest,
    CreatePaymentRequest,
    Payment,
    PaymentStatus,
    RefundPaymentRequest,
    looks_like_card_number,
    parse_request,
    split_id,
)
from unipay.money import exponent, format_amount, normalize_currency


def create(**overrides: object) -> CreatePaymentRequest:
    data: dict[str, object] = {"provider": "mock", "amount": 1299, "currency": "USD"}
    data.update(overrides)
    return parse_request(CreatePaymentRequest, data)


@pytest.mark.parametrize(("code", "digits"), [("JPY", 0), ("USD", 2), ("KWD", 3), ("CLF", 4)])
def test_exponents_follow_iso_4217(code: str, digits: int) -> None:
    assert exponent(code) == digits


@pytest.mark.parametrize(
    ("amount", "code", "shown"),
    [
        (1299, "USD", "12.99 USD"),
        (500, "JPY", "500 JPY"),
        (1234, "KWD", "1.234 KWD"),
        (5, "EUR", "0.05 EUR"),
    ],
)
def test_format_amount_uses_the_minor_unit(amount: int, code: str, shown: str) -> None:
    assert format_amount(amount, code) == shown


def test_lower_case_currency_is_normalised() -> None:
    assert create(currency="usd").currency == "USD"


@pytest.mark.parametrize("bad", ["usd ", " USD", "XXQ", "US", "USDD", "XAU", "12$", "ÜSD"])
def test_bad_currency_is_refused_naming_the_field(bad: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        create(currency=bad)
    assert caught.value.param == "currency"
    assert "currency" in str(caught.value)


def test_normalize_currency_explains_the_format() -> None:
    with pytest.raises(ValueError, match="three-letter ISO 4217"):
        normalize_currency("dollars")


@pytest.mark.parametrize("bad", [0, -1, 12.99, 1299.0, "1299", True, 100_000_000])
def test_bad_amounts_are_refused(bad: object) -> None:
    with pytest.raises(InvalidRequest) as caught:
        create(amount=bad)
    assert caught.value.param == "amount"


def test_largest_amount_is_accepted() -> None:
    assert create(amount=99_999_999).amount == 99_999_999


def test_raw_card_number_is_refused_and_never_echoed() -> None:
    pan = "4242 4242 4242 4242"
    with pytest.raises(InvalidRequest) as caught:
        create(payment_method=pan)
    message = str(caught.value)
    assert caught.value.param == "payment_method"
    assert "raw card numbers are refused" in message
    assert "4242" not in message and "4242" not in repr(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


@pytest.mark.parametrize(
    "token",
    ["pm_card_visa", "tokencc_bc_4t6n6s_9p3hkr", "8415701234567890", "pay_29QQoUBi66xm2f"],
)
def test_any_providers_token_format_passes_the_core(token: str) -> None:
    """The core has no opinion on a token's format (Stripe's pm_, a Braintree nonce, an Adyen
    stored-method id, a Razorpay payment id): each provider checks its own."""
    assert create(payment_method=token).payment_method == token


@pytest.mark.parametrize("token", ["has space", "", "x" * 501, "caf\u00e9"])
def test_a_token_that_no_provider_issues_is_refused(token: str) -> None:
    with pytest.raises(InvalidRequest, match="visible ASCII"):
        create(payment_method=token)


def test_card_detection_uses_luhn() -> None:
    assert looks_like_card_number("4000-0566-5566-5556")
    assert not looks_like_card_number("4242 4242 4242 4241")  # fails the Luhn check
    assert not looks_like_card_number("order 12345")


@pytest.mark.parametrize(
    ("metadata", "fragment"),
    [
        ({f"k{i}": "v" for i in range(51)}, "at most 50 keys"),
        ({"k" * 41: "v"}, "1-40 characters"),
        ({"a[b]": "v"}, r"without '\['"),
        ({"note": "x" * 501}, "longer than 500"),
        ({"card": "4242424242424242"}, "looks like a card number"),
    ],
)
def test_metadata_limits(metadata: dict[str, str], fragment: str) -> None:
    with pytest.raises(InvalidRequest, match=fragment) as caught:
        create(metadata=metadata)
    assert caught.value.param == "metadata"
    assert "4242424242424242" not in str(caught.value)


def test_email_is_checked() -> None:
    assert create(customer_email="demo@example.com").customer_email == "demo@example.com"
    with pytest.raises(InvalidRequest, match="e-mail address"):
        create(customer_email="not-an-email")


def test_unknown_fields_are_refused() -> None:
    with pytest.raises(InvalidRequest, match="amout"):
        create(amout=5)


def test_payment_id_routes_by_itself() -> None:
    payment = Payment(
        provider="mock",
        provider_payment_id="pi_1",
        status=PaymentStatus.SUCCEEDED,
        amount=1,
        currency="USD",
    )
    assert payment.id == "mock:pi_1"
    assert split_id(payment.id) == ("mock", "pi_1")
    # The id survives a JSON round trip (stores keep payments as JSON).
    assert Payment.model_validate_json(payment.model_dump_json()) == payment


@pytest.mark.parametrize("bad", ["pi_1", ":pi_1", "mock:", "Mock:pi_1", ""])
def test_malformed_payment_ids_are_refused(bad: str) -> None:
    with pytest.raises(InvalidRequest, match="unipay id such as 'mock:pi_123'"):
        split_id(bad)


def test_a_payment_whose_id_disagrees_is_refused() -> None:
    with pytest.raises(ValueError, match="does not match"):
        Payment.model_validate(
            {
                "id": "mock:pi_2",
                "provider": "mock",
                "provider_payment_id": "pi_1",
                "status": "succeeded",
                "amount": 1,
                "currency": "USD",
            }
        )


# --- full matches: "$" also matched before a trailing newline --------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("customer_email", "a@b.co\n"),
        ("payment_method", "pm_card_visa\n"),
        ("provider", "mock\n"),
    ],
)
def test_a_trailing_newline_is_refused(field: str, value: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        create(**{field: value})
    assert caught.value.param == field


@pytest.mark.parametrize(
    "bad", ["mock\n:pi_1", "mock:pi_1\n", "mock:pi\x00_1", "mock:pi_1\r\nX: y"]
)
def test_a_payment_id_with_a_line_break_or_nul_is_refused(bad: str) -> None:
    with pytest.raises(InvalidRequest, match="unipay id such as 'mock:pi_123'"):
        split_id(bad)


# --- e-mail ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "good",
    [
        "demo@example.com",
        "first.last+tag@mail.example.co.uk",
        "o'brien@example.ie",
        "jos\u00e9@\u00e9cole.example",
        "x" * 64 + "@example.com",
    ],
)
def test_real_addresses_are_accepted(good: str) -> None:
    assert create(customer_email=good).customer_email == good


@pytest.mark.parametrize(
    "bad",
    [
        "a@b..",
        "a@b.",
        "a@.b",
        "a@b..co",
        "a@b",
        "@b.co",
        "a@@b.co",
        "a@b@c.co",
        "a b@c.co",
        "a\x00b@c.co",
        "a@c.co\x00",
        "a\tb@c.co",
        "a@c.co\r\n",
        "a\x1b@c.co",
        "a\x85@c.co",
        "x" * 65 + "@example.com",
    ],
)
def test_malformed_addresses_are_refused(bad: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        create(customer_email=bad)
    assert caught.value.param == "customer_email"


# --- control characters --------------------------------------------------------------------

LINE_FIELDS: list[tuple[type[BaseModel], str, Callable[[str], dict[str, Any]]]] = [
    (CreatePaymentRequest, "return_url", lambda text: {"return_url": text}),
    (ConfirmPaymentRequest, "return_url", lambda text: {"return_url": text}),
    (CreatePaymentRequest, "customer_email", lambda text: {"customer_email": text}),
    (CreatePaymentRequest, "metadata", lambda text: {"metadata": {text: "v"}}),
    (RefundPaymentRequest, "metadata", lambda text: {"metadata": {text: "v"}}),
]
PROSE_FIELDS: list[tuple[type[BaseModel], str, Callable[[str], dict[str, Any]]]] = [
    (CreatePaymentRequest, "description", lambda text: {"description": text}),
    (CreatePaymentRequest, "metadata", lambda text: {"metadata": {"note": text}}),
    (RefundPaymentRequest, "metadata", lambda text: {"metadata": {"note": text}}),
]


def request(model: type[BaseModel], data: dict[str, Any]) -> BaseModel:
    """``model`` from ``data``, with what a create needs besides."""
    if model is CreatePaymentRequest:
        data = {"provider": "mock", "amount": 1299, "currency": "USD", **data}
    return parse_request(model, data)


def field_id(target: tuple[type[BaseModel], str, Any]) -> str:
    return f"{target[0].__name__}.{target[1]}"


CONTROLS = st.characters(categories=["Cc"]) | st.sampled_from(["\u2028", "\u2029"])


@pytest.mark.parametrize("target", LINE_FIELDS, ids=[field_id(t) for t in LINE_FIELDS])
@given(control=CONTROLS, where=st.integers(0, 2))
def test_a_control_character_in_a_one_line_field_is_refused(
    target: tuple[type[BaseModel], str, Callable[[str], dict[str, Any]]], control: str, where: int
) -> None:
    model, param, place = target
    text = ["{}a@example.com", "a@exa{}mple.com", "a@example.com{}"][where].format(control)
    with pytest.raises(InvalidRequest, match="control character") as caught:
        request(model, place(text))
    assert caught.value.param == param


@pytest.mark.parametrize("target", PROSE_FIELDS, ids=[field_id(t) for t in PROSE_FIELDS])
@given(control=st.characters(categories=["Cc"], exclude_characters="\t\r\n"))
def test_a_control_character_in_prose_is_refused_but_tabs_and_line_breaks_are_fine(
    target: tuple[type[BaseModel], str, Callable[[str], dict[str, Any]]], control: str
) -> None:
    model, param, place = target
    request(model, place("Line one,\tcolumn\r\nline two\nline three"))
    with pytest.raises(InvalidRequest, match="control character") as caught:
        request(model, place(f"Line one{control}"))
    assert caught.value.param == param


# --- card numbers, in every field -----------------------------------------------------------


def luhn_check_digit(body: str) -> str:
    """The digit that makes ``body`` + digit pass the Luhn check (written here independently)."""
    total = 0
    for position, char in enumerate(reversed(body)):
        value = int(char)
        if position % 2 == 0:  # doubled once the check digit is appended
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return str(-total % 10)


@st.composite
def written_cards(draw: st.DrawFn) -> tuple[str, str]:
    """A Luhn-valid 13-19 digit number, and as written: whole, or split by spaces or dashes."""
    length = draw(st.integers(13, 19))
    body = draw(st.text("0123456789", min_size=length - 1, max_size=length - 1))
    digits = body + luhn_check_digit(body)
    gaps = draw(
        st.lists(st.sampled_from(["", "", " ", "-"]), min_size=length - 1, max_size=length - 1)
    )
    return digits, digits[0] + "".join(gap + d for gap, d in zip(gaps, digits[1:], strict=True))


#: Text around a card: any printable text but '[' and ']' (metadata keys refuse those first). The
#: characters right next to it are not digits (digits glued on make another, longer number).
SURROUNDING = st.characters(
    codec="utf-8", categories=["L", "M", "N", "P", "S", "Zs"], exclude_characters="[]"
)
BESIDE = st.characters(codec="utf-8", categories=["L", "P", "S", "Zs"], exclude_characters="[]")

FREE_TEXT: list[tuple[type[BaseModel], str, int, Callable[[str], dict[str, Any]]]] = [
    (CreatePaymentRequest, "description", 1000, lambda text: {"description": text}),
    (CreatePaymentRequest, "return_url", 2048, lambda text: {"return_url": text}),
    (ConfirmPaymentRequest, "return_url", 2048, lambda text: {"return_url": text}),
    (CreatePaymentRequest, "customer_email", 512, lambda text: {"customer_email": text}),
    (CreatePaymentRequest, "payment_method", 254, lambda text: {"payment_method": text}),
    (ConfirmPaymentRequest, "payment_method", 254, lambda text: {"payment_method": text}),
    (CreatePaymentRequest, "metadata", 40, lambda text: {"metadata": {text: "v"}}),
    (CreatePaymentRequest, "metadata", 500, lambda text: {"metadata": {"note": text}}),
    (RefundPaymentRequest, "metadata", 40, lambda text: {"metadata": {text: "v"}}),
    (RefundPaymentRequest, "metadata", 500, lambda text: {"metadata": {"note": text}}),
]


@pytest.mark.parametrize(
    "target",
    FREE_TEXT,
    ids=[f"{m.__name__}.{p}<={n}" for m, p, n, _ in FREE_TEXT],
)
@given(card=written_cards(), data=st.data())
def test_a_card_number_anywhere_in_free_text_is_refused_and_never_echoed(
    target: tuple[type[BaseModel], str, int, Callable[[str], dict[str, Any]]],
    card: tuple[str, str],
    data: st.DataObject,
) -> None:
    model, param, limit, place = target
    digits, written = card
    room = limit - len(written) - 2
    before = data.draw(st.text(SURROUNDING, max_size=min(room, 40)), label="before")
    after = data.draw(st.text(SURROUNDING, max_size=min(room - len(before), 40)), label="after")
    text = before + data.draw(BESIDE) + written + data.draw(BESIDE) + after
    with pytest.raises(InvalidRequest) as caught:
        request(model, place(text))
    error = caught.value
    assert error.param == param
    assert "card number" in error.message
    assert digits not in str(error)
    # Not the number, nor any piece of it: the message holds no digit at all.
    assert not re.search(r"\d", error.message + repr(error))
    assert error.__cause__ is None and error.__suppress_context__


@given(
    body=st.text("0123456789", min_size=12, max_size=18),
    wrong=st.integers(1, 9),
)
def test_a_long_number_that_fails_the_luhn_check_is_kept(body: str, wrong: int) -> None:
    """Order and reference numbers are not card numbers: only the Luhn check tells them apart."""
    number = body + str((int(luhn_check_digit(body)) + wrong) % 10)
    assert not looks_like_card_number(number)
    assert create(description=f"Order #{number}").description == f"Order #{number}"


@pytest.mark.parametrize(
    "text",
    [
        "pay 4242 4242 4242 4242 7 times",
        "7 4242-4242-4242-4242",
        "4242424242424242 12 25 123",
        "card:4000056655665556.",
        "\uff14\uff12\uff14\uff12\uff14\uff12\uff14\uff12\uff14\uff12\uff14\uff12\uff14\uff12\uff14\uff12",
    ],
    ids=[
        "followed by a number",
        "after a number",
        "with expiry and CVC",
        "in punctuation",
        "fullwidth",
    ],
)
def test_a_card_number_next_to_other_numbers_is_still_found(text: str) -> None:
    assert looks_like_card_number(text)
    with pytest.raises(InvalidRequest, match="card number"):
        create(description=text)


REQUESTS = (
    CreatePaymentRequest,
    ConfirmPaymentRequest,
    CapturePaymentRequest,
    CancelPaymentRequest,
    RefundPaymentRequest,
)


def test_the_list_of_request_models_is_complete() -> None:
    found = {
        value
        for name, value in vars(models).items()
        if isinstance(value, type)
        and issubclass(value, BaseModel)
        and name.endswith("Request")
        and not name.startswith("_")
    }
    assert found == set(REQUESTS)


@pytest.mark.parametrize(
    ("model", "field"),
    [(model, field) for model in REQUESTS for field in model.model_fields],
    ids=lambda value: value if isinstance(value, str) else value.__name__,
)
@pytest.mark.parametrize("pan", ["4242424242424242", "4000 0566 5566 5556", "3782-822463-10005"])
def test_every_field_of_every_request_refuses_a_card_number(
    model: type[BaseModel], field: str, pan: str
) -> None:
    """Enums and numbers refuse it by type, free text by the card check; none repeats it."""
    places: list[Any] = [pan, f"note {pan}"]
    if field == "metadata":
        places = [{"note": pan}, {pan: "v"}]
    for value in places:
        with pytest.raises(InvalidRequest) as caught:
            request(model, {field: value})
        assert caught.value.param is not None and caught.value.param.split(".")[0] == field
        digits = re.sub(r"\D", "", pan)
        assert digits[-4:] not in str(caught.value) and digits[-4:] not in repr(caught.value)
