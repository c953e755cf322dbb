"""What a published SDK promises: a light `import unipay`, one version, declared metadata."""

from __future__ import annotations

import subprocess
import sys

import pytest

#: Modules `import unipay` must not load: SQLAlchemy is for SQLStore, httpx for providers,
#: pytest for unipay.testing, asyncio and importlib.metadata for the calls that need them.
NOT_AT_IMPORT = ("sqlalchemy", "httpx", "sniffio", "pytest", "asyncio", "importlib.metadata")


def test_import_unipay_stays_light() -> None:
    """A module count, not a timing: benchmarks/import_time.py gives the time, as a ratio."""
    code = f"import sys, unipay; print(','.join(m for m in {NOT_AT_IMPORT!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "", f"import unipay loaded {done.stdout.strip()}"


def test_sqlstore_is_still_importable_from_unipay_storage() -> None:
    from unipay import storage
    from unipay.storage.sql import SQLStore

    assert storage.SQLStore is SQLStore
    assert "SQLStore" in storage.__all__
    with pytest.raises(AttributeError, match="no attribute 'SQLStorage'"):
        storage.SQLStorage  # noqa: B018
