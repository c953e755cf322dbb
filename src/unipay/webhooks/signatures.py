"""Standard Webhooks signatures (https://www.standardwebhooks.com), for any provider plugin.

A delivery carries ``webhook-id``, ``webhook-timestamp`` (Unix seconds) and
``webhook-signature``: space-separated ``v1,<base64 HMAC-SHA256>`` entries over
``"{id}.{timestamp}.{body}"``. Several entries let a sender roll its secret; several secrets here
let a receiver roll its own. Secrets are ``whsec_`` followed by base64 key bytes.

The checks are the spec's: all three headers present, the timestamp within five minutes of now
(either way: replays of captured requests are refused), and at least one ``v1`` entry equal, in
constant time, to the expected signature under one of the secrets. Error messages name what is
wrong and never repeat a secret or the body.

A provider whose deliveries follow the spec holds a `StandardWebhooks`: it verifies with every
secret, reads the JSON body, signs test deliveries with the first secret, and without secrets
says which setting to set.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from unipay.errors import InvalidRequest, ProviderNotConfigured, WebhookVerificationError

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


class StandardWebhooks:
    """One provider's Standard Webhooks: its secrets (several while rolling) and what it does
    with them. ``setting`` names the variable that configures them, for the errors."""

    def __init__(
        self,
        provider: str,
        secrets: str | bytes | WebhookSecret | Iterable[str | bytes | WebhookSecret],
        *,
        setting: str,
        tolerance: float = DEFAULT_TOLERANCE,
    ) -> None:
        given = [secrets] if isinstance(secrets, str | bytes | WebhookSecret) else list(secrets)
        self.secrets = parse_secrets(given) if given else ()
        self.provider, self.setting, self.tolerance = provider, setting, tolerance

    def verify(
        self, body: bytes, headers: Mapping[str, str], *, now: float | None = None
    ) -> tuple[str, dict[str, Any]]:
        """A signed delivery's id (its ``webhook-id``: the same on every redelivery, so the
        one to deduplicate on) and its body's JSON object."""
        if not self.secrets:
            raise _failure(f"no secret to check it with; set {self.setting}", self.provider)
        delivery = verify(
            body, headers, self.secrets, tolerance=self.tolerance, now=now, provider=self.provider
        )
        try:
            payload = json.loads(body)
        except (ValueError, RecursionError):  # a body nested too deep for json is unreadable
            payload = None
        if not isinstance(payload, dict):
            raise _failure("the body is not a JSON object", self.provider)
        return delivery.msg_id, payload

    def sign(
        self, payload: Mapping[str, Any], *, msg_id: str | None = None, timestamp: int | None = None
    ) -> tuple[bytes, dict[str, str]]:
        """The body and headers of a delivery of ``payload``, signed with the first secret, as
        the provider would send it (``msg_id`` by default a fresh ``msg_...``; ``timestamp``
        now)."""
        if not self.secrets:
            raise ProviderNotConfigured(self.provider, self.setting)
        body = json.dumps(payload, separators=(",", ":")).encode()
        ident = msg_id or f"msg_{os.urandom(12).hex()}"
        when = int(time.time()) if timestamp is None else timestamp
        headers = sign_headers(body, secret=self.secrets[0], msg_id=ident, timestamp=when)
        return body, {"content-type": "application/json", **headers}

    def __repr__(self) -> str:
        return f"<StandardWebhooks {self.provider!r}: {len(self.secrets)} secret(s)>"


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
