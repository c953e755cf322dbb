"""Property-based run of the app against its own OpenAPI schema (schemathesis).

Whatever the schema allows a client to send, the server answers without a 5xx, with a status the
schema documents, and with a body and headers that match it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from unipay import AsyncGateway
from unipay.server import create_app
from unipay_mock import Ledger, MockProvider

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


# Built at import: schemathesis generates one test per operation from the loaded schema.
# (Its lazy ``from_fixture`` loader does not work with pytest 9.)
GATEWAY = AsyncGateway(providers=[MockProvider(ledger=Ledger())])
schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(gateway=GATEWAY))


@pytest.fixture(scope="module", autouse=True)
def _close_gateway() -> Iterator[None]:
    yield
    asyncio.run(GATEWAY.aclose())


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_no_5xx_and_every_answer_matches_the_schema(case: schemathesis.Case) -> None:
    case.call_and_validate(checks=CHECKS)
