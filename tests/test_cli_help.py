"""The ``unipay`` command's help, version, messages and ``serve`` banner."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from unipay import __version__
from unipay.cli import build_parser, main, serve_banner
from unipay.errors import ProviderNotConfigured
from unipay.gateway import AsyncGateway
from unipay_mock import MockProvider

COMMANDS = ("providers", "demo", "serve", "webhooks", "store", "reconcile")


def run_cli(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "unipay", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_unipay_alone_prints_the_help_and_succeeds() -> None:
    done = run_cli()
    assert done.returncode == 0, done.stderr
    assert done.stdout == build_parser().format_help()


def test_help_names_every_command_without_rest_markup() -> None:
    done = run_cli("--help")
    assert done.returncode == 0
    text = done.stdout
    assert "``" not in text and ":class:" not in text
    for command in COMMANDS:
        assert f"unipay {command}" in text
    registered = {
        name
        for action in build_parser()._actions
        if isinstance(action, argparse._SubParsersAction)
        for name in action.choices
    }
    assert registered == set(COMMANDS), "a new command must be listed in cli.DESCRIPTION"


def test_version() -> None:
    done = run_cli("--version")
    assert (done.returncode, done.stdout.strip()) == (0, f"unipay {__version__}")


def test_not_configured_says_it_once(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["providers"]) == 0
    out = capsys.readouterr().out
    stripe = next(line for line in out.splitlines() if line.startswith("stripe"))
    assert stripe.count("not configured") == 1
    assert "not configured: set STRIPE_SECRET_KEY." in stripe


def test_several_missing_settings_are_named_in_one_message() -> None:
    error = ProviderNotConfigured("acme", "ACME_API_KEY", "Use a test key.", also=["ACME_SECRET"])
    assert error.message == (
        "Provider 'acme' is not configured: set ACME_API_KEY and ACME_SECRET. Use a test key."
    )
    assert error.settings == ("ACME_API_KEY", "ACME_SECRET")
    assert error.setting == "ACME_API_KEY"


async def test_serve_banner_names_store_providers_and_urls(tmp_path: Path) -> None:
    pytest.importorskip("fastapi")
    from unipay.server import create_app

    url = f"sqlite:///{tmp_path}/unipay.db"
    async with AsyncGateway(providers=[MockProvider()], store=url, load_installed=False) as gateway:
        banner = serve_banner(create_app(gateway=gateway), "http://127.0.0.1:8000")
    assert f"store:     SQLStore({url!r})" in banner
    assert "  mock  configured" in banner
    for url in ("/docs", "/redoc", "/payments", "/webhooks/mock", "/dashboard"):
        assert f"http://127.0.0.1:8000{url}" in banner
    assert "/dashboard (read-only: no UNIPAY_API_KEY)" in banner


def test_serve_prints_the_banner_before_serving(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("fastapi")
    import uvicorn

    import unipay.server
    from unipay.server import create_app

    gateway = AsyncGateway(providers=[MockProvider()], load_installed=False)
    served: dict[str, Any] = {}
    monkeypatch.setattr(unipay.server, "create_app", lambda: create_app(gateway=gateway))
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: served.update(options, app=app))
    assert main(["serve", "--port", "8123"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"unipay {__version__} sandbox REST API")
    assert "MemoryStore (in memory" in out
    assert "http://127.0.0.1:8123/docs" in out
    assert served["port"] == 8123 and served["app"].state.gateway is gateway
