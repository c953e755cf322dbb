"""The optional API key: with ``UNIPAY_API_KEY`` set, every route but ``/health``, the
webhooks (their providers sign them instead) and the docs needs ``Authorization: Bearer <key>``.

The comparison is constant-time (:func:`secrets.compare_digest`), so response timing tells an
attacker nothing about how much of a guess was right. The key is never logged or echoed.
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import SecretStr

from unipay.server.errors import AuthenticationFailed

#: Declares the scheme in the OpenAPI document, so /docs offers "Authorize".
bearer = HTTPBearer(
    auto_error=False,
    description="The server's UNIPAY_API_KEY, when it has one.",
)


def require_api_key(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> None:
    """FastAPI dependency: passes when the server has no key or the request carries it."""
    expected: SecretStr | None = request.app.state.api_key
    if expected is None:
        return
    if credentials is None:
        raise AuthenticationFailed(
            "This server requires an API key: send `Authorization: Bearer <UNIPAY_API_KEY>`."
        )
    given = credentials.credentials.encode()
    if not secrets.compare_digest(given, expected.get_secret_value().encode()):
        raise AuthenticationFailed(
            "The API key sent is not this server's UNIPAY_API_KEY; "
            "send `Authorization: Bearer <UNIPAY_API_KEY>` with the server's key."
        )
