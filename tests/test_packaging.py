"""What a published SDK promises: a light `import unipay`, one version, declared metadata."""

from __future__ import annotations

import ast
import configparser
import importlib.metadata
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

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


ROOT = Path(__file__).resolve().parent.parent
#: Every distribution in the repository: the core, the plugins, the example provider.
PYPROJECTS = sorted(
    [
        ROOT / "pyproject.toml",
        *ROOT.glob("plugins/*/pyproject.toml"),
        *ROOT.glob("examples/*/pyproject.toml"),
    ]
)


def project(path: Path) -> dict[str, Any]:
    table: dict[str, Any] = tomllib.loads(path.read_text())["project"]
    return table


def claimed_pythons() -> set[str]:
    """The CPython versions tox runs: what the classifiers may claim, no more, no less."""
    config = configparser.ConfigParser()
    config.read(ROOT / "tox.ini")
    envs = config["tox"]["env_list"].replace("\n", ",").split(",")
    return {f"3.{env.strip()[3:]}" for env in envs if re.fullmatch(r"py3\d+", env.strip())}


@pytest.mark.parametrize("path", PYPROJECTS, ids=lambda path: path.parent.name or "unipay")
def test_every_distribution_has_a_readme_license_classifiers_and_urls(path: Path) -> None:
    meta = project(path)
    name = meta["name"]
    assert (path.parent / meta.get("readme", "README.md")).is_file(), f"{name}: add a README.md"
    assert "readme" in meta, f'{name}: set readme = "README.md" in [project]'
    assert meta["license"] == "MIT" and (path.parent / "LICENSE").is_file(), f"{name}: LICENSE"
    classifiers = set(meta.get("classifiers", ()))
    assert any(c.startswith("Development Status :: ") for c in classifiers), name
    versions = {c.rsplit(" :: ", 1)[1] for c in classifiers if re.search(r":: 3\.\d+$", c)}
    assert versions == claimed_pythons(), f"{name}: Python classifiers {versions} vs tox"
    assert meta.get("urls", {}).get("Repository"), f"{name}: add [project.urls]"
    if "Framework :: Pytest" in classifiers:
        assert "pytest11" in meta.get("entry-points", {}), f"{name}: claims a pytest plugin"


def test_the_version_has_one_source() -> None:
    import unipay

    meta = project(ROOT / "pyproject.toml")
    assert "version" not in meta and "version" in meta["dynamic"]
    hatch = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["version"]
    assert hatch["path"] == "src/unipay/__init__.py"
    assert importlib.metadata.version("unipay") == unipay.__version__


def imported_top_level(package: Path) -> set[str]:
    names: set[str] = set()
    for file in package.rglob("*.py"):
        for node in ast.walk(ast.parse(file.read_text())):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names


def requirement_names(requirements: list[str]) -> set[str]:
    return {re.split(r"[\s\[<>=!~;]", req, maxsplit=1)[0].lower() for req in requirements}


def test_core_dependencies_are_ones_the_core_imports() -> None:
    """httpx and sniffio belong to the HTTP providers; the testing extra declares pytest."""
    meta = project(ROOT / "pyproject.toml")
    used = imported_top_level(ROOT / "src" / "unipay")
    declared = requirement_names(meta["dependencies"])
    assert declared <= used, f"declared but never imported by the core: {declared - used}"
    assert {"httpx", "sniffio"}.isdisjoint(declared)
    assert "pytest" in requirement_names(meta["optional-dependencies"]["testing"])
    stripe = project(ROOT / "plugins" / "unipay_stripe" / "pyproject.toml")
    assert {"httpx", "sniffio"} <= requirement_names(stripe["dependencies"])


def test_changelog_keeps_an_unreleased_section() -> None:
    text = (ROOT / "CHANGELOG.md").read_text()
    assert "keepachangelog.com" in text
    assert "\n## [Unreleased]\n" in text
