"""The tutorial (docs/plugins/writing-a-provider.md) shows this package as it is.

Each block after ``<!-- excerpt of PATH -->`` (or ``<!-- not-run: excerpt of PATH -->``) must be
in that file, and the files the tutorial builds in full must be exactly its excerpts, in order, so
a reader who copies every block gets this package.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parent.parent
REPO = PACKAGE.parent.parent
TUTORIAL = REPO / "docs" / "plugins" / "writing-a-provider.md"
PREFIX = "examples/unipay-example-provider/"
EXCERPT = re.compile(
    r"<!-- (?:not-run: )?excerpt of (?P<path>\S+) -->\n```\w+\n(?P<code>.*?)```", re.DOTALL
)
#: Shown in part: the rest is the fake's state machine and more Acme-specific tests.
PARTIAL = {"src/unipay_example/fake_api.py", "tests/test_provider.py"}


def _excerpts() -> dict[str, list[str]]:
    if not TUTORIAL.exists():
        pytest.skip("the tutorial lives in the unipay repository; this copy has no docs/")
    found: dict[str, list[str]] = {}
    for match in EXCERPT.finditer(TUTORIAL.read_text()):
        assert match["path"].startswith(PREFIX), match["path"]
        found.setdefault(match["path"].removeprefix(PREFIX), []).append(match["code"])
    return found


def _normalized(text: str) -> str:
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def test_every_excerpt_is_in_its_file() -> None:
    for path, excerpts in _excerpts().items():
        source = (PACKAGE / path).read_text()
        for code in excerpts:
            assert code.strip() in source, f"the tutorial's excerpt of {path} is out of date"


def test_the_tutorial_builds_the_whole_package() -> None:
    excerpts = _excerpts()
    sources = [
        path.relative_to(PACKAGE).as_posix()
        for path in [
            PACKAGE / "pyproject.toml",
            *PACKAGE.glob("src/**/*.py"),
            *PACKAGE.glob("tests/*.py"),
        ]
        if path.name != "test_tutorial.py"
    ]
    for path in sources:
        assert path in excerpts, f"the tutorial never shows {path}"
        if path in PARTIAL:
            continue
        shown = _normalized("\n".join(excerpts[path]))
        assert shown == _normalized((PACKAGE / path).read_text()), (
            f"{path} differs from the tutorial"
        )
