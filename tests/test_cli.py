"""The ``unipay`` command, in process and as a real process."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from unipay.cli import main


def test_providers_json_lists_the_installed_plugins(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["providers", "--json"]) == 0
    listed = {entry["name"]: entry for entry in json.loads(capsys.readouterr().out)}
    assert listed["mock"]["configured"] is True
    assert listed["mock"]["distribution"] == "unipay-mock"
    assert listed["mock"]["version"]
    assert listed["stripe"]["configured"] is False
    assert "STRIPE_SECRET_KEY" in listed["stripe"]["problem"]


def test_providers_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["providers"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("mock") and line.endswith("configured") for line in lines)


def test_providers_with_none_installed(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UNIPAY_LOAD_PLUGINS", "")
    assert main(["providers"]) == 0
    assert "No providers installed" in capsys.readouterr().out


def test_demo_runs_as_a_real_process() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "unipay", "demo"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "requires_capture: 12.99 USD authorized" in out
    assert "replayed=True" in out
    assert "10.00 USD captured, 2.99 USD released" in out
    assert "5.00 USD back, 5.00 USD still refundable" in out
    assert "insufficient_funds" in out


def test_demo_without_the_mock_says_what_to_install(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UNIPAY_LOAD_PLUGINS", "stripe")
    assert main(["demo"]) == 1
    assert "pip install unipay-mock" in capsys.readouterr().err
