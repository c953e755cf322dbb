"""Settings from the environment and .env, what the server does with them, and what it never
shows: secrets in reprs, responses and logs."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import respx

import unipay_mock.ledger
from unipay.cli import provider_statuses
from unipay.server import ServerSettings, create_app
from unipay.server import app as app_module
from unipay.server import settings as settings_module
from unipay.server.app import LiveKeyWithoutAuthentication

STRIPE_KEY = "sk_test_" + "Zq7" * 10
DB_PASSWORD = "hunter2-db-password"


def test_defaults_are_the_sandbox_ones(
    provider_environment: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    provider_environment.chdir(tmp_path)
    provider_environment.delenv("DATABASE_URL", raising=False)
    settings = ServerSettings()
    assert settings.database_url.get_secret_value() == "sqlite:///unipay.db"
    assert settings.unipay_api_key is None
    assert settings.state_path() == str(tmp_path / "unipay.db")


def test_dotenv_is_read_and_the_environment_wins(
    provider_environment: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    provider_environment.chdir(tmp_path)
    (tmp_path / ".env").write_text(
        f"STRIPE_SECRET_KEY={STRIPE_KEY}\n"
        "STRIPE_WEBHOOK_SECRET=whsec_from_dotenv\n"
        "DATABASE_URL=sqlite:///from-dotenv.db\n"
    )
    provider_environment.setenv("DATABASE_URL", "sqlite:///from-environment.db")
    provider_environment.setenv("STRIPE_WEBHOOK_SECRET", "whsec_from_environment")
    settings = ServerSettings(provider_settings={"UNIPAY_MOCK_LATENCY_MS": "5"})
    assert settings.database_url.get_secret_value() == "sqlite:///from-environment.db"
    values = settings.provider_values()
    assert values["STRIPE_SECRET_KEY"] == STRIPE_KEY
    assert values["STRIPE_WEBHOOK_SECRET"] == "whsec_from_environment"
    assert values["UNIPAY_MOCK_LATENCY_MS"] == "5"


def test_the_settings_show_no_secret_in_repr_or_model_dump(
    provider_environment: pytest.MonkeyPatch,
) -> None:
    settings = ServerSettings(
        database_url=f"postgresql+psycopg://app:{DB_PASSWORD}@db.internal/payments",
        unipay_api_key="server-api-key-value",
        provider_settings={
            "STRIPE_SECRET_KEY": STRIPE_KEY,
            "STRIPE_WEBHOOK_SECRET": "whsec_endpoint_secret_value",
        },
    )
    shown = repr(settings) + str(settings) + str(settings.model_dump())
    shown += settings.model_dump_json() + settings.database_url_shown()
    for secret in (STRIPE_KEY, DB_PASSWORD, "whsec_endpoint_secret_value", "server-api-key"):
        assert secret not in shown
    assert settings.database_url_shown() == "postgresql+psycopg://app:***@db.internal/payments"


def test_the_server_names_no_provider_setting_and_never_writes_the_environment(
    provider_environment: pytest.MonkeyPatch,
) -> None:
    source = Path(settings_module.__file__).read_text() + Path(app_module.__file__).read_text()
    assert "STRIPE" not in source
    assert "UNIPAY_MOCK" not in source
    settings = ServerSettings(
        database_url="memory://", provider_settings={"STRIPE_SECRET_KEY": STRIPE_KEY}
    )
    app = create_app(settings)
    assert "STRIPE_SECRET_KEY" not in os.environ
    names = {p.name: p for p in app.state.gateway.providers.built()}
    assert names["stripe"].live is False  # configured from the settings, through the plugin
    statuses = {s.name: s for s in provider_statuses(app.state.gateway)}
    assert (statuses["stripe"].plugin, statuses["stripe"].distribution) == (
        "stripe",
        "unipay-stripe",
    )
    assert (statuses["mock"].plugin, statuses["mock"].configured) == ("mock", True)


async def test_the_mock_remembers_its_payments_wherever_the_store_does(
    provider_environment: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The .env.example settings (a SQLite store, no mock settings), restarted between calls."""
    provider_environment.chdir(tmp_path)
    settings = ServerSettings(database_url=f"sqlite:///{tmp_path / 'unipay.db'}")
    headers = {"Idempotency-Key": "restart-proof-key"}
    body = {"provider": "mock", "amount": 500, "currency": "EUR"}
    answers: list[httpx.Response] = []
    for process in range(2):  # two processes in a row, each closing its gateway on shutdown
        # A new process starts with no ledger in memory.
        provider_environment.setattr(unipay_mock.ledger, "_shared", {})
        app = create_app(settings)
        transport = httpx.ASGITransport(app=app)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://testserver") as client,
        ):
            if process == 1:
                payment_id = answers[0].json()["id"]
                retrieved = await client.get(f"/payments/{payment_id}")
                assert retrieved.status_code == 200, retrieved.text
                refund = await client.post("/refunds", json={"payment_id": payment_id})
                assert refund.status_code == 201, refund.text
            answers.append(await client.post("/payments", json=body, headers=headers))
    # The mock's books are in a file beside the store.
    assert (tmp_path / "unipay.db-mock-ledger").exists()
    first, second = answers
    assert first.status_code == second.status_code == 201
    assert second.json()["id"] == first.json()["id"]
    assert second.headers["Idempotent-Replayed"] == "true"


def test_a_live_key_without_an_api_key_refuses_to_start(
    provider_environment: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    provider_environment.chdir(tmp_path)
    live = "sk_live_" + "Zq7" * 10
    (tmp_path / ".env").write_text(f"STRIPE_SECRET_KEY={live}\nUNIPAY_STRIPE_ALLOW_LIVE=1\n")
    with pytest.raises(LiveKeyWithoutAuthentication, match="UNIPAY_API_KEY") as refused:
        create_app(ServerSettings(database_url="memory://"))
    assert live not in str(refused.value)
    app = create_app(ServerSettings(database_url="memory://", unipay_api_key="k" * 32))
    built = app.state.gateway.providers.built()
    assert [p.name for p in built if getattr(p, "live", False)] == ["stripe"]


async def test_a_stripe_key_from_settings_is_used_and_never_shown(
    provider_environment: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    settings = ServerSettings(
        database_url="memory://", provider_settings={"STRIPE_SECRET_KEY": STRIPE_KEY}
    )
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    rejected = {"error": {"type": "invalid_request_error", "message": "Invalid API Key provided"}}
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as client,
    ):
        providers = await client.get("/providers")
        health = await client.get("/health")
        with respx.mock(assert_all_called=True) as stripe_api:
            stripe_api.route(host="api.stripe.com").respond(401, json=rejected)
            refused = await client.post(
                "/payments",
                json={"provider": "stripe", "amount": 1299, "currency": "USD"},
            )
    assert {p["name"]: p["configured"] for p in providers.json()}["stripe"] is True
    # Stripe refused this server's own credentials: the upstream failed, not the client.
    assert refused.status_code == 502
    assert refused.json()["error"]["code"] == "authentication_failed"
    for text in (providers.text, health.text, refused.text, caplog.text, repr(app.state.gateway)):
        assert STRIPE_KEY not in text


def test_import_unipay_does_not_import_fastapi() -> None:
    code = "import sys, unipay, unipay.cli; print('fastapi' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_serve_without_the_server_extra_says_how_to_install_it() -> None:
    # Block FastAPI's import, as on an install without the extra.
    code = (
        "import sys; sys.modules['fastapi'] = None\n"
        "from unipay.cli import main; sys.exit(main(['serve']))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 1
    assert 'pip install "unipay[server]"' in done.stderr
    assert "Traceback" not in done.stderr


def test_a_refused_setting_is_logged_once_and_a_missing_one_not_at_all(
    provider_environment: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    provider_environment.chdir(tmp_path)
    caplog.set_level(logging.WARNING, logger="unipay.server")
    create_app(ServerSettings(database_url="memory://"))
    assert caplog.records == []  # /providers and the banner already say "set STRIPE_SECRET_KEY"
    (tmp_path / ".env").write_text("STRIPE_SECRET_KEY=pk_test_" + "Zq7" * 10 + "\n")
    create_app(ServerSettings(database_url="memory://"))
    [record] = caplog.records
    assert "publishable keys" in record.getMessage()
    assert "pk_test_Zq7" not in record.getMessage()
