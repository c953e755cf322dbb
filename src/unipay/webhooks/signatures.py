"""Standard Webhooks signatures (https://www.standardwebhooks.com), for any provider plugin.

A delivery carries ``webhook-id``, ``webhook-timestamp`` (Unix seconds) and
``webhook-signature``: space-separated ``v1,<base64 HMAC-SHA256>`` entries over
``"{id}.{timestamp}.{body}"``. Several entries let a sender roll its secret; several secrets here
let a receiver roll its own. Secrets are ``whsec_`` followed by base64 key bytes.

The checks are the spec's: all three headers present, the timestamp within five minutes of now
(either way: replays of captured requests are refused), and at least one ``v1`` entry equal, in
constant time, to the expected signature under one of the secrets. Error messages name what is
wrong and never repeat a secret or the body.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from unipay.errors import InvalidRequest, WebhookVerificationError

SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
#: The spec's recommended replay window, in seconds, on either side of now.
DEFAULT_TOLERANCE = 5 * 60
ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
_VERSION = "v1"


class WebhookSecret:
    """A decoded signing key. Its repr never shows the key."""

    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        if not key:
            raise InvalidRequest("a webhook secret may not be empty", param="webhook_secret")
        self._key = key

    @classmethod
    def parse(cls, secret: str | bytes | WebhookSecret) -> WebhookSecret:
        """``"whsec_<base64>"`` (or bare base64) text, raw key bytes, or an already parsed key."""
        if isinstance(secret, WebhookSecret):
            return secret
        if isinstance(secret, bytes):
            return cls(secret)
        encoded = secret.removeprefix(SECRET_PREFIX).rstrip("=")
        try:
            # Some senders drop base64 padding: restore it before a strict decode.
            return cls(base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True))
        except (binascii.Error, ValueError):
            raise InvalidRequest(
                "a webhook secret must be 'whsec_' followed by base64 (as your provider's "
                "dashboard shows it); the value given is not (it is not repeated here)",
                param="webhook_secret",
            ) from None

    def sign(self, msg_id: str, timestamp: int, body: bytes) -> str:
        """The ``v1,<base64>`` signature of one delivery."""
        return f"{_VERSION},{base64.b64encode(self._digest(msg_id, timestamp, body)).decode()}"

    def _digest(self, msg_id: str, timestamp: int, body: bytes) -> bytes:
        signed = b"%s.%d.%s" % (msg_id.encode(), timestamp, body)
        return hmac.new(self._key, signed, hashlib.sha256).digest()

    def __repr__(self) -> str:
        return "WebhookSecret(<redacted>)"


@dataclass(frozen=True, slots=True)
class VerifiedDelivery:
    """What the signature vouches for besides the body."""

    msg_id: str
    timestamp: int


def parse_secrets(
    secrets: str | bytes | WebhookSecret | Iterable[str | bytes | WebhookSecret],
) -> tuple[WebhookSecret, ...]:
    """One secret or several (during a rotation), parsed once."""
    if isinstance(secrets, str | bytes | WebhookSecret):
        secrets = [secrets]
    parsed = tuple(WebhookSecret.parse(s) for s in secrets)
    if not parsed:
        raise InvalidRequest("at least one webhook secret is needed", param="webhook_secret")
    return parsed


def sign_headers(
    body: bytes, *, secret: str | bytes | WebhookSecret, msg_id: str, timestamp: int
) -> dict[str, str]:
    """The three headers a Standard Webhooks sender attaches to ``body``."""
    return {
        ID_HEADER: msg_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: WebhookSecret.parse(secret).sign(msg_id, timestamp, body),
    }


def verify(
    body: bytes,
    headers: Mapping[str, str],
    secrets: Iterable[WebhookSecret],
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    now: float | None = None,
    provider: str | None = None,
) -> VerifiedDelivery:
    """Check a delivery; raise [`WebhookVerificationError`][unipay.errors.WebhookVerificationError]
    unless it is properly signed."""
    lowered = {name.lower(): value for name, value in headers.items()}
    msg_id = lowered.get(ID_HEADER, "")
    raw_timestamp = lowered.get(TIMESTAMP_HEADER, "")
    signatures = lowered.get(SIGNATURE_HEADER, "")
    missing = [
        name
        for name, value in (
            (ID_HEADER, msg_id),
            (TIMESTAMP_HEADER, raw_timestamp),
            (SIGNATURE_HEADER, signatures),
        )
        if not value
    ]
    if missing:
        raise _failure(f"missing header(s): {', '.join(missing)}", provider)
    if not raw_timestamp.isascii() or not raw_timestamp.isdigit() or len(raw_timestamp) > 12:
        raise _failure(f"{TIMESTAMP_HEADER} must be Unix seconds", provider)
    timestamp = int(raw_timestamp)
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise _failure(
            f"{TIMESTAMP_HEADER} is more than {tolerance:g} seconds from now (a replay, or a "
            "clock that is off)",
            provider,
        )
    offered = _offered_signatures(signatures)
    for secret in secrets:
        expected = secret._digest(msg_id, timestamp, body)
        # Compare against every entry, without stopping early, so timing tells nothing.
        if any([hmac.compare_digest(expected, candidate) for candidate in offered]):
            return VerifiedDelivery(msg_id, timestamp)
    raise _failure("no signature matches", provider)


def _offered_signatures(header: str) -> list[bytes]:
    offered = []
    for entry in header.split():
        version, _, encoded = entry.rstrip(",").partition(",")
        if version != _VERSION:
            continue
        try:
            offered.append(base64.b64decode(encoded, validate=True))
        except (binascii.Error, ValueError):
            continue
    return offered


def _failure(reason: str, provider: str | None) -> WebhookVerificationError:
    return WebhookVerificationError(f"Webhook rejected: {reason}.", provider=provider)
