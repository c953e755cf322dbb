"""Shared fixtures: a gateway per test, and PostgreSQL in a schema of its own per test run."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine, make_url, text

from unipay import AsyncGateway, Gateway
from unipay.testing.faces import Face

POSTGRES_ENV = "UNIPAY_TEST_POSTGRES_URL"


@pytest.fixture(autouse=True)
def _plugin_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test sees the installed plugins, whatever the developer's shell exports."""
    for variable in ("UNIPAY_LOAD_PLUGINS", "UNIPAY_DISABLE_PLUGINS", "STRIPE_SECRET_KEY"):
        monkeypatch.delenv(variable, raising=False)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL URL whose connections use a fresh schema, dropped at the end of the run.

    The schema travels in the URL (``options=-csearch_path=...``), so child processes that are
    handed the URL land in it too. Skips when UNIPAY_TEST_POSTGRES_URL is unset, unless
    UNIPAY_REQUIRE_POSTGRES is set (as in CI), where a missing server is a failure.
    """
    base = os.environ.get(POSTGRES_ENV)
    if not base:
        if os.environ.get("UNIPAY_REQUIRE_POSTGRES"):
            pytest.fail(f"{POSTGRES_ENV} must be set when UNIPAY_REQUIRE_POSTGRES is")
        pytest.skip(f"set {POSTGRES_ENV} to run the PostgreSQL tests")
    schema = f"unipay_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["Gateway", "AsyncGateway"])
def make_face(request: pytest.FixtureRequest) -> Callable[..., Face]:
    """Build a Gateway or an AsyncGateway (the test runs once with each) behind a Face."""
    face_class = Gateway if request.param == "Gateway" else AsyncGateway

    def make(**kwargs: Any) -> Face:
        return Face(face_class(**kwargs))

    return make


@pytest.fixture
def face(make_face: Callable[..., Face]) -> Face:
    """A gateway on the installed plugins with a fresh in-memory store."""
    return make_face()
