"""Reading the ``Idempotency-Key`` request header (IETF draft-ietf-httpapi-idempotency-key-header).

The draft makes the value a Structured Field string (``Idempotency-Key: "8e03978e-..."``); the
sandbox's users sent it bare (``Idempotency-Key: 7b6a1e4b-...``). Both are accepted and mean the
same key. Length and the rest of the rules are the gateway's (:func:`unipay.idempotency.check_key`).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Header

from unipay.errors import InvalidRequest

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"

_VISIBLE_ASCII = frozenset(chr(c) for c in range(0x20, 0x7F))


def parse_key(value: str | None) -> str | None:
    """The key in a header value, None when absent; InvalidRequest (400) when malformed."""
    if value is None:
        return None
    text = value.strip(" \t")
    if not set(text) <= _VISIBLE_ASCII:
        raise _malformed("may hold visible ASCII characters only")
    if not text.startswith('"'):
        if '"' in text or "\\" in text:
            raise _malformed("must be a bare token or a quoted string")
        return text
    return _unquote(text)


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
    raw: Annotated[
        str | None,
        Header(
            alias=HEADER,
            description="Makes the POST safe to retry: the same key and body get the first "
            "answer again (with Idempotent-Replayed: true) and never a second charge. "
            "1-255 visible ASCII characters, bare or as a quoted string; a UUID4 is a good "
            "choice.",
        ),
    ] = None,
) -> str | None:
    """FastAPI dependency: the parsed header."""
    return parse_key(raw)
