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
#: Used when POSTGRES_ENV is unset and a server answers here (as on a developer machine or CI).
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
#: Every PostgreSQL skip starts with this, so the run's summary can count them.
POSTGRES_SKIP = "PostgreSQL tests skipped"
_default_probe: list[str | None] = []  # the probe's answer, once per run: None means it answered


def _probe_default_postgres() -> str | None:
    """Why the default local server cannot be used (None: it answered), within two seconds."""
    if not _default_probe:
        try:
            engine = create_engine(DEFAULT_POSTGRES_URL, connect_args={"connect_timeout": 2})
            try:
                with engine.connect() as connection:
                    connection.execute(text("SELECT 1"))
            finally:
                engine.dispose()
            _default_probe.append(None)
        except Exception as exc:  # any failure means "not usable": say which one
            _default_probe.append(f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}")
    return _default_probe[0]


def pytest_unconfigure(config: pytest.Config) -> None:
    """Say in the run's last lines how many PostgreSQL tests were skipped and how to run them.

    Not pytest_terminal_summary: -ra's list of skips comes after it, and 61 lines of skips would
    push the advice out of sight. This runs after the final "N passed" line.
    """
    terminalreporter = config.pluginmanager.get_plugin("terminalreporter")
    if terminalreporter is None:
        return
    skipped = [
        report
        for report in terminalreporter.stats.get("skipped", [])
        if POSTGRES_SKIP in str(getattr(report, "longrepr", ""))
    ]
    if skipped:
        terminalreporter.write_sep("=", f"{len(skipped)} {POSTGRES_SKIP}", yellow=True)
        terminalreporter.write_line(
            f"No PostgreSQL server answered at {DEFAULT_POSTGRES_URL} and {POSTGRES_ENV} is "
            "unset. To run them, start one there (e.g. docker run -d -p 5432:5432 -e "
            "POSTGRES_HOST_AUTH_METHOD=trust -e POSTGRES_DB=test postgres:16) or set "
            f"{POSTGRES_ENV} to a server of yours."
        )


@pytest.fixture(autouse=True)
def _plugin_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test sees the installed plugins, whatever the developer's shell exports."""
    for variable in ("UNIPAY_LOAD_PLUGINS", "UNIPAY_DISABLE_PLUGINS", "STRIPE_SECRET_KEY"):
        monkeypatch.delenv(variable, raising=False)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL URL whose connections use a fresh schema, dropped at the end of the run.

    The schema travels in the URL (``options=-csearch_path=...``), so child processes that are
    handed the URL land in it too. The server is UNIPAY_TEST_POSTGRES_URL's, or else the default
    local one if it answers; with neither the tests skip (the summary says how many and how to
    run them), unless UNIPAY_REQUIRE_POSTGRES is set (as in CI), where that is a failure.
    """
    base = os.environ.get(POSTGRES_ENV)
    if not base:
        problem = _probe_default_postgres()
        if problem is None:
            base = DEFAULT_POSTGRES_URL
        elif os.environ.get("UNIPAY_REQUIRE_POSTGRES"):
            pytest.fail(
                f"UNIPAY_REQUIRE_POSTGRES is set but {POSTGRES_ENV} is not and the default "
                f"server {DEFAULT_POSTGRES_URL} does not answer ({problem})"
            )
        else:
            pytest.skip(f"{POSTGRES_SKIP}: no server at {DEFAULT_POSTGRES_URL} ({problem})")
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
