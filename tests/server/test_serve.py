"""``unipay serve`` as a real process on 127.0.0.1, driven over HTTP with httpx."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .test_sandbox import run_sandbox_examples

STARTUP_TIMEOUT = 30.0
UNIPAY = Path(sys.executable).with_name("unipay")
SECRET = "sk_test_" + "s3cr3t" * 6


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """The base URL of ``unipay serve`` running in ``tmp_path``, and its process."""
    port = free_port()
    # Settings come from a .env file in the working directory, as in the sandbox.
    (tmp_path / ".env").write_text(f"STRIPE_SECRET_KEY={SECRET}\n")
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("STRIPE_", "UNIPAY_", "DATABASE_"))
    }
    process = subprocess.Popen(
        [str(UNIPAY), "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            if process.poll() is not None:
                pytest.fail(
                    f"unipay serve exited early:\n{process.stdout.read() if process.stdout else ''}"
                )
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("unipay serve did not answer /health in time")
            time.sleep(0.05)
        yield base, process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.mark.slow
async def test_unipay_serve_runs_the_sandbox_examples(
    served: tuple[str, subprocess.Popen[str]], tmp_path: Path
) -> None:
    base, process = served
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        created, refunded = await run_sandbox_examples(client)
        assert created.json()["status"] == "succeeded"
        assert refunded.status_code == 201
        assert (await client.get("/docs")).status_code == 200
        providers = await client.get("/providers")
        # STRIPE_SECRET_KEY came from .env: Stripe is configured, and its key is never shown.
        assert {p["name"]: p["configured"] for p in providers.json()}["stripe"] is True
        assert SECRET not in providers.text
    # The default DATABASE_URL keeps the idempotency keys in ./unipay.db.
    assert (tmp_path / "unipay.db").exists()
    process.terminate()
    output, _ = process.communicate(timeout=10)
    assert SECRET not in output
