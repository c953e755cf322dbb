"""Every ```python block in README.md and docs/ runs, so the docs cannot rot.

Blocks of one page run in order in one namespace (a page may build on its earlier blocks). A block
preceded by the line ``<!-- not-run: reason -->`` is skipped, with its reason shown.

A ```text block right after a python block is that block's output, checked line by line (``…``
stands for any text, such as a generated id). In the README every block shows its output: a
newcomer sees what to expect, and the README cannot show a snippet that prints nothing.
"""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])
BLOCK = re.compile(
    r"(?P<marker><!-- not-run: (?P<reason>[^>]*) -->\s*\n)?```python\n(?P<code>.*?)```"
    r"(?:\n\n?```text\n(?P<output>.*?)```)?",
    re.DOTALL,
)


def blocks(page: Path) -> list[tuple[int, str, str | None]]:
    return [(line, code, reason) for line, code, reason, _ in blocks_with_output(page)]


def blocks_with_output(page: Path) -> list[tuple[int, str, str | None, str | None]]:
    """(line, code, not-run reason, expected output) of every python block of ``page``."""
    text = page.read_text()
    return [
        (
            text[: m.start("code")].count("\n") + 1,
            m.group("code"),
            m.group("reason"),
            m.group("output"),
        )
        for m in BLOCK.finditer(text)
    ]


def matches(expected: str, printed: str) -> bool:
    """Line by line, ``…`` in ``expected`` standing for any text."""
    want, got = expected.rstrip("\n").splitlines(), printed.rstrip("\n").splitlines()
    return len(want) == len(got) and all(
        re.fullmatch(".*?".join(map(re.escape, line.split("…"))), actual)
        for line, actual in zip(want, got, strict=True)
    )


def test_every_readme_block_shows_its_output() -> None:
    for line, _, reason, output in blocks_with_output(ROOT / "README.md"):
        assert reason is not None or output, (
            f"README.md block at line {line}: follow it with a ```text block of what it prints"
        )


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_code_blocks_run(page: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    found = blocks(page)
    if not found:
        pytest.skip("no python blocks")
    monkeypatch.chdir(tmp_path)  # blocks that write files (SQLite) write here
    namespace: dict[str, object] = {"__name__": f"docs_{page.stem}"}
    ran = 0
    for line, code, reason, output in blocks_with_output(page):
        if reason is not None:
            continue
        printed = io.StringIO()
        try:
            with contextlib.redirect_stdout(printed):
                exec(compile(code, f"{page}:{line}", "exec"), namespace)  # noqa: S102
        except Exception as exc:
            raise AssertionError(f"{page.name} block at line {line} failed: {exc!r}") from exc
        if output is not None:
            assert matches(output, printed.getvalue()), (
                f"{page.name} block at line {line} printed:\n{printed.getvalue()}"
                f"but its ```text block says:\n{output}"
            )
        ran += 1
    assert ran or all(reason for _, _, reason in found)
