"""The core names no third-party provider (its docstrings' examples use the fictional Acme Pay):
a provider's names live in its plugin, so any provider is a peer of the first-party ones."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

CORE = Path(__file__).parent.parent / "src" / "unipay"


@pytest.mark.parametrize("provider", ["adyen", "razorpay", "braintree"])
def test_the_core_never_names_a_third_party_provider(provider: str) -> None:
    named = [
        f"{path.relative_to(CORE)}:{number}"
        for path in CORE.rglob("*.py")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(provider, line, re.IGNORECASE)
    ]
    assert not named, f"{provider} is named in the core at {named}: say it without the name"
