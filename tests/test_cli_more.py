"""``unipay webhooks sign`` and ``unipay store init|purge``.

Signing needs a provider plugin that implements ``Provider.sign_test_delivery``: the example
provider (``acmepay``, installed from ``examples/unipay-example-provider``) does.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
import sqlalchemy
from unipay_example import AcmeProvider

from unipay import Gateway, WebhookEvent, WebhookEventType
from unipay.cli import main
from unipay.storage import SQLStore
from unipay.webhooks import WebhookApp

UNIPAY = Path(sys.executable).with_name("unipay")
SECRET = "whsec_" + "Y2xpLXRlc3Qtc2lnbmluZy1rZXk="
ACME_ENV = {"ACME_API_KEY": "ak_test_cli", "ACME_WEBHOOK_SECRET": SECRET}


def parse_curl(command: str) -> tuple[str, bytes, dict[str, str]]:
    """The URL, body and headers of the printed curl command, as a shell would pass them."""
    words = shlex.split(command)
    assert words[:4] == ["curl", "-sS", "-X", "POST"]
    headers = dict(words[i + 1].split(": ", 1) for i, word in enumerate(words) if word == "-H")
    return words[4], words[words.index("--data-raw") + 1].encode(), headers


@pytest.fixture
def acme_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ACME_ENV.items():
        monkeypatch.setenv(name, value)


@pytest.mark.parametrize(
    "event_type",
    [
        WebhookEventType.PAYMENT_SUCCEEDED,
        WebhookEventType.PAYMENT_FAILED,
        WebhookEventType.PAYMENT_CANCELED,
        WebhookEventType.PAYMENT_REQUIRES_ACTION,
        WebhookEventType.PAYMENT_REQUIRES_CAPTURE,
    ],
)
def test_sign_prints_a_delivery_the_provider_accepts(
    acme_env: None, capsys: pytest.CaptureFixture[str], event_type: WebhookEventType
) -> None:
    argv = ["webhooks", "sign", "acmepay", "--type", event_type.value, "--amount", "4200"]
    assert main([*argv, "--currency", "eur", "--payment-id", "ch_fromcli"]) == 0
    url, body, headers = parse_curl(capsys.readouterr().out)
    assert url == "http://127.0.0.1:8000/webhooks/acmepay"
    event = AcmeProvider(api_key="ak_test_cli", webhook_secrets=[SECRET]).verify_webhook(
        body, headers
    )
    assert event.type is event_type
    assert event.payment is not None
    assert (event.payment.id, event.payment.amount) == ("acmepay:ch_fromcli", 4200)
    assert event.payment.currency == "EUR"


def test_sign_explains_what_is_missing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ACME_API_KEY", "ak_test_cli")
    monkeypatch.delenv("ACME_WEBHOOK_SECRET", raising=False)
    assert main(["webhooks", "sign", "acmepay"]) == 1
    assert "ACME_WEBHOOK_SECRET" in capsys.readouterr().err
    assert main(["webhooks", "sign", "nosuchprovider"]) == 1
    assert "No provider named 'nosuchprovider'" in capsys.readouterr().err


@pytest.mark.slow
async def test_signed_delivery_from_a_real_process_is_accepted_by_the_webhook_app() -> None:
    url = "http://127.0.0.1:8000/hooks/acmepay"
    done = subprocess.run(
        [str(UNIPAY), "webhooks", "sign", "acmepay", "--url", url],
        env={**os.environ, **ACME_ENV},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    posted_to, body, headers = parse_curl(done.stdout)
    assert posted_to == url
    provider = AcmeProvider(api_key="ak_test_cli", webhook_secrets=[SECRET])
    received: list[WebhookEvent] = []
    app = WebhookApp(Gateway(providers=[provider], load_installed=False))
    app.on("payment.succeeded")(received.append)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        answer = await client.post("/acmepay", content=body, headers=headers)
        again = await client.post("/acmepay", content=body, headers=headers)
    assert answer.status_code == 200, answer.text
    assert again.status_code == 200
    assert [event.type for event in received] == [WebhookEventType.PAYMENT_SUCCEEDED]


def test_store_init_creates_the_tables(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'unipay.db'}"
    assert main(["store", "init", "--url", url]) == 0
    tables = set(sqlalchemy.inspect(sqlalchemy.create_engine(url)).get_table_names())
    assert tables == {
        "unipay_idempotency",
        "unipay_payments",
        "unipay_payment_terms",
        "unipay_refunds",
        "unipay_activity",
        "unipay_activity_hour",
        "unipay_activity_day",
        "unipay_latency_hour",
        "unipay_latency_day",
    }
    assert "unipay_idempotency" in capsys.readouterr().out
    assert main(["store", "init", "--url", url]) == 0, "running it again is harmless"
    assert main(["store", "init", "--url", "memory://"]) == 0
    assert "needs no tables" in capsys.readouterr().out


def test_store_purge_deletes_only_expired_records(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'unipay.db'}"
    store = SQLStore(url)
    for index in range(5):
        key = f"old-{index}"
        claim = store.claim("operation", key, "fp", lease=0.05, retention=0.1)
        assert claim.token is not None
        store.complete("operation", key, claim.token, "{}")
    live = str(uuid.uuid4())
    store.claim("operation", live, "fp", lease=60, retention=86_400)
    time.sleep(0.15)  # the store's clock is the database's: let the short retention pass
    assert main(["store", "purge", "--url", url, "--batch-size", "2"]) == 0
    assert capsys.readouterr().out.strip() == "Purged 5 expired idempotency records."
    assert store.get_result("operation", "old-0") is None
    assert store.claim("operation", live, "fp", lease=60, retention=1).token is None
    assert main(["store", "purge", "--url", url]) == 0
    assert capsys.readouterr().out.strip() == "Purged 0 expired idempotency records."
    store.close()
