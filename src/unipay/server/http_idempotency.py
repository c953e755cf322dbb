"""Reading the ``Idempotency-Key`` request header (IETF draft-ietf-httpapi-idempotency-key-header).

The draft makes the value a Structured Field string (``Idempotency-Key: "8e03978e-..."``); the
sandbox's users sent it bare (``Idempotency-Key: 7b6a1e4b-...``). Both are accepted and mean the
same key. What the key may contain is the gateway's rule (:func:`unipay.idempotency.check_key`),
checked here too so that a bad header is a 400 with the gateway's message before anything runs.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Header, Request

from unipay.errors import InvalidRequest
from unipay.idempotency import KEY_RULE, check_key

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"


def parse_key(value: str | None) -> str | None:
    """The key in a header value, None when absent; InvalidRequest (400) when malformed."""
    if value is None:
        return None
    text = value.strip(" \t")
    if not text.startswith('"'):
        if '"' in text or "\\" in text:
            raise _malformed("must be a bare token or a quoted string")
        return _checked(text)
    return _checked(_unquote(text))


def _checked(key: str) -> str:
    """The gateway's rule and message, naming the header (what an HTTP client must fix)."""
    try:
        return check_key(key)
    except InvalidRequest as error:
        raise InvalidRequest(error.message, param=HEADER, code="idempotency_key_invalid") from None


def _unquote(text: str) -> str:
    """RFC 8941 sf-string: ``"`` ... ``"`` with ``\\"`` and ``\\\\`` as the only escapes."""
    chars: list[str] = []
    escaped = False
    for position, char in enumerate(text[1:], start=1):
        if escaped:
            if char not in '"\\':
                raise _malformed('allows only \\" and \\\\ as escapes inside quotes')
            chars.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            if position != len(text) - 1:
                raise _malformed("has characters after its closing quote")
            return "".join(chars)
        else:
            chars.append(char)
    raise _malformed("has no closing quote")


def _malformed(reason: str) -> InvalidRequest:
    return InvalidRequest(
        f"The {HEADER} header {reason}; send a UUID such as "
        '"8e03978e-40d5-43e8-bc93-6894a57f9324" (quoted or bare).',
        param=HEADER,
        code="idempotency_key_invalid",
    )


def idempotency_key(
    request: Request,
    raw: Annotated[
        str | None,
        Header(
            alias=HEADER,
            description="Makes the POST safe to retry: the same key and body get the first "
            "answer again (with Idempotent-Replayed: true) and never a second charge. "
            f"{KEY_RULE}; bare or as a quoted string. A UUID4 is a good choice.",
        ),
    ] = None,
) -> str | None:
    """FastAPI dependency: the parsed header. Sent twice, it is refused: which of the two
    would the client expect to win? (HTTP joins repeated headers; FastAPI would keep one.)"""
    if len(request.headers.getlist(HEADER)) > 1:
        raise InvalidRequest(
            f"The {HEADER} header was sent more than once; send it exactly once per request.",
            param=HEADER,
            code="idempotency_key_repeated",
        )
    return parse_key(raw)
