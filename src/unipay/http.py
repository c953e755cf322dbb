"""``HttpClient``: one httpx configuration, both faces, for providers that speak HTTP.

A provider's operation is a flow (see [`unipay.provider`][unipay.provider]) that yields
``self.http.post(...)``; `Gateway` sends it with an ``httpx.Client`` and `AsyncGateway` with an
``httpx.AsyncClient``, each created on first use, so a sync-only program never builds the async
client and the async face never blocks its loop. httpx is used as is (its pools, timeouts,
transports; respx mounts at its transport in tests); this class pairs the two clients, turns
transport failures into unipay errors that say whether the request left the machine, and does the
two things every JSON provider otherwise writes for itself: ``json`` reads a success as its JSON
object and raises any other answer as the provider's error, and ``redact`` takes the client's
secrets out of text a provider echoes back (a rejected key quoted in an error message).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import httpx

from unipay._flow import Flow, call
from unipay.errors import (
    AuthenticationFailed,
    InvalidPaymentState,
    InvalidRequest,
    PaymentNotFound,
    PermissionDenied,
    ProviderError,
    ProviderUnavailable,
    UnipayError,
)

#: What an error status means, as most payment APIs use them; a provider passes its own
#: exceptions to `error_for` (Acme's 422: a reused idempotency key).
ERRORS_BY_STATUS: dict[int, type[UnipayError]] = {
    400: InvalidRequest,
    401: AuthenticationFailed,
    403: PermissionDenied,
    404: PaymentNotFound,
    409: InvalidPaymentState,
}


def error_for(
    response: httpx.Response,
    message: str,
    *,
    provider: str,
    provider_code: str | None = None,
    request_id: str | None = None,
    by_status: Mapping[int, type[UnipayError]] | None = None,
) -> UnipayError:
    """The unipay error an HTTP error answer means. 429 and 5xx are ``ProviderUnavailable``
    (retriable: the provider may not have acted, and a retry with the same key is safe where it
    honours keys); other statuses follow ``by_status``, then `ERRORS_BY_STATUS`, else
    ``ProviderError``. ``message`` should be the provider's own, without secrets."""
    status = response.status_code
    info: dict[str, Any] = {
        "provider": provider,
        "provider_code": provider_code,
        "request_id": request_id,
    }
    if status == 429 or status >= 500:
        return ProviderUnavailable(f"{message} (HTTP {status}; retried with the same key)", **info)
    kind = (by_status or {}).get(status) or ERRORS_BY_STATUS.get(status, ProviderError)
    return kind(message, **info)


#: Header names that carry a credential, whatever the provider calls it (X-API-Key, Api-Token).
_CREDENTIAL_HEADER = re.compile(r"authorization|key|token|secret", re.IGNORECASE)
_SHORTEST_CREDENTIAL = 8


def _credentials(
    headers: Mapping[str, str], auth: httpx.Auth | tuple[str, str] | None
) -> list[str]:
    """The secrets a client is configured with: credential headers' values (without a scheme
    such as ``Bearer``) and a Basic auth password. Values under `_SHORTEST_CREDENTIAL`
    characters are left out: a header such as ``Api-Key-Version: 2`` is no secret, and
    redacting every "2" would garble the messages."""
    found = [
        value.split(" ")[-1] for name, value in headers.items() if _CREDENTIAL_HEADER.search(name)
    ]
    if isinstance(auth, tuple):
        found.append(auth[1])
    return [value for value in found if len(value) >= _SHORTEST_CREDENTIAL]


class HttpClient:
    """``send``/``asend`` one ``httpx.Request`` through a lazily built sync or async client."""

    #: The async face awaits ``asend``; the sync face calls ``send``.
    blocking = True

    def __init__(
        self,
        *,
        provider: str,
        base_url: str,
        headers: Mapping[str, str] | None = None,
        auth: httpx.Auth | tuple[str, str] | None = None,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        async_transport: httpx.AsyncBaseTransport | None = None,
        secrets: Iterable[str | None] = (),
        errors: Callable[[httpx.Response], UnipayError] | None = None,
    ) -> None:
        """
        Args:
            provider: the provider's name, for error messages.
            base_url: every path is relative to it.
            headers: sent with every request (an ``Authorization`` header is never shown).
            auth: httpx authentication, e.g. ``(key_id, secret)`` for Basic auth.
            timeout: seconds per request (connect, read, write and pool, each).
            transport, async_transport: custom httpx transports (tests, proxies).
            secrets: more for `redact` to remove (webhook secrets); the credentials in
                ``headers`` (``Authorization``, or a name with key, token or secret in it) and
                ``auth``'s password are always removed.
            errors: the unipay error an answer that is not a success means, for `json`; by
                default `error_for` with only the status (the body's text is not trusted).
        """
        self.provider = provider
        self.base_url = httpx.URL(base_url)
        found = [*secrets, *_credentials(headers or {}, auth)]
        # Longest first: a secret that contains another is replaced whole.
        self._secrets = sorted({s for s in found if s}, key=len, reverse=True)
        self._errors = errors
        self._options: dict[str, Any] = {
            "base_url": self.base_url,
            "headers": dict(headers or {}),
            "auth": auth,
            "timeout": timeout,
        }
        self._transport = transport
        self._async_transport = async_transport
        self._client: httpx.Client | None = None
        self._async_client: httpx.AsyncClient | None = None

    def __repr__(self) -> str:
        return f"<HttpClient {self.provider!r} {str(self.base_url)!r}>"

    def request(
        self,
        method: str,
        path: str,
        *,
        json: object = None,
        data: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Flow[httpx.Response]:
        """Send one request (``path`` relative to ``base_url``) and return the response,
        whatever its status: reading it, errors included, is the provider's job."""
        request = httpx.Request(
            method,
            self.base_url.join(path.lstrip("/")),
            json=json,
            data=data,
            params=params,
            headers=headers,
        )
        return (yield from call(self.send, request))

    def json(self, method: str, path: str, **kwargs: Any) -> Flow[dict[str, Any]]:
        """Send one request (arguments as `request`) and return the answer's JSON object.

        An answer that is not a success is raised as the error ``errors`` makes of it; a
        success whose body is not a JSON object, as ``ProviderError`` (the provider broke its
        own contract: nothing a retry fixes)."""
        response = yield from self.request(method, path, **kwargs)
        if not response.is_success:
            raise self._error(response)
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            where = path.lstrip("/").split("/")[0]  # the resource, not the ids after it
            raise ProviderError(
                f"{self.provider} answered {method} {where} with HTTP {response.status_code} and "
                "a body that is not a JSON object.",
                provider=self.provider,
            )
        return answer

    def redact(self, text: str) -> str:
        """``text`` without the client's secrets, for messages that quote a provider's answer."""
        for secret in self._secrets:
            text = text.replace(secret, "[redacted]")
        return text

    def get(self, path: str, **kwargs: Any) -> Flow[httpx.Response]:
        return (yield from self.request("GET", path, **kwargs))

    def post(self, path: str, **kwargs: Any) -> Flow[httpx.Response]:
        return (yield from self.request("POST", path, **kwargs))

    def send(self, request: httpx.Request) -> httpx.Response:
        if self._client is None:
            self._client = httpx.Client(transport=self._transport, **self._options)
        try:
            return self._client.send(self._client_request(self._client, request))
        except httpx.TransportError as exc:
            raise self._unavailable(exc) from None

    async def asend(self, request: httpx.Request) -> httpx.Response:
        if self._async_client is None:
            self._async_client = httpx.AsyncClient(transport=self._async_transport, **self._options)
        try:
            client = self._async_client
            return await client.send(self._client_request(client, request))
        except httpx.TransportError as exc:
            raise self._unavailable(exc) from None

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    async def aclose(self) -> None:
        if self._async_client is not None:
            await self._async_client.aclose()
        self.close()

    def _error(self, response: httpx.Response) -> UnipayError:
        if self._errors is not None:
            return self._errors(response)
        return error_for(response, f"{self.provider} refused the request", provider=self.provider)

    @staticmethod
    def _client_request(
        client: httpx.Client | httpx.AsyncClient, request: httpx.Request
    ) -> httpx.Request:
        """The request with the client's default headers (merged as ``build_request`` would)."""
        return client.build_request(
            request.method, request.url, content=request.content, headers=request.headers
        )

    def _unavailable(self, exc: httpx.TransportError) -> ProviderUnavailable:
        # Only the exception's type: its text may quote the URL with a query string.
        sent = not isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
        where = "could not connect to" if not sent else "got no complete answer from"
        return ProviderUnavailable(
            f"unipay {where} {self.provider!r} ({type(exc).__name__}); retry with the same "
            "idempotency key.",
            provider=self.provider,
            request_sent=sent,
        )
