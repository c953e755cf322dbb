"""Settings from the environment and .env, what the server does with them, and what it never
shows: secrets in reprs, responses and logs."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import respx

from unipay.server import ServerSettings, create_app

STRIPE_KEY = "sk_test_" + "Zq7" * 10
DB_PASSWORD = "hunter2-db-password"


def test_defaults_are_the_sandbox_ones(
    provider_environment: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    provider_environment.chdir(tmp_path)
    provider_environment.delenv("DATABASE_URL", raising=False)
    settings = ServerSettings()
    assert settings.database_url == "sqlite:///unipay.db"
    assert settings.stripe_secret_key is None
    assert settings.provider_environment() == {}


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
    settings = ServerSettings()
    assert settings.database_url == "sqlite:///from-environment.db"
    assert settings.provider_environment() == {
        "STRIPE_SECRET_KEY": STRIPE_KEY,
        "STRIPE_WEBHOOK_SECRET": "whsec_from_dotenv",
    }


def test_the_settings_repr_shows_no_secret(provider_environment: pytest.MonkeyPatch) -> None:
    settings = ServerSettings(
        database_url=f"postgresql+psycopg://app:{DB_PASSWORD}@db.internal/payments",
        stripe_secret_key=STRIPE_KEY,
        stripe_webhook_secret="whsec_endpoint_secret_value",
        unipay_mock_webhook_secret="whsec_mock_secret_value",
    )
    shown = repr(settings) + str(settings)
    for secret in (STRIPE_KEY, DB_PASSWORD, "whsec_endpoint_secret_value", "whsec_mock_secret"):
        assert secret not in shown


async def test_an_app_from_settings_keeps_keys_in_its_database_across_restarts(
    provider_environment: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    settings = ServerSettings(
        database_url=f"sqlite:///{tmp_path / 'unipay.db'}",
        unipay_mock_ledger=str(tmp_path / "mock-ledger.db"),
    )
    headers = {"Idempotency-Key": "restart-proof-key"}
    body = {"provider": "mock", "amount": 500, "currency": "EUR"}
    answers = []
    for _ in range(2):  # two "processes" in a row, each closing its gateway on shutdown
        app = create_app(settings)
        transport = httpx.ASGITransport(app=app)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://testserver") as client,
        ):
            answers.append(await client.post("/payments", json=body, headers=headers))
            payment_id = answers[-1].json()["id"]
            assert (await client.get(f"/payments/{payment_id}")).status_code == 200
    # The settings reached the mock plugin: its books are in the file they named.
    assert (tmp_path / "mock-ledger.db").exists()
    first, second = answers
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second.headers["Idempotent-Replayed"] == "true"


async def test_a_stripe_key_from_settings_is_used_and_never_shown(
    provider_environment: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    app = create_app(ServerSettings(database_url="memory://", stripe_secret_key=STRIPE_KEY))
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
