"""Every ```python block in README.md and docs/ runs, so the docs cannot rot.

Blocks of one page run in order in one namespace (a page may build on its earlier blocks). A block
preceded by the line ``<!-- not-run: reason -->`` is skipped, with its reason shown.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])
BLOCK = re.compile(
    r"(?P<marker><!-- not-run: (?P<reason>[^>]*) -->\s*\n)?```python\n(?P<code>.*?)```", re.DOTALL
)


def blocks(page: Path) -> list[tuple[int, str, str | None]]:
    text = page.read_text()
    return [
        (text[: m.start("code")].count("\n") + 1, m.group("code"), m.group("reason"))
        for m in BLOCK.finditer(text)
    ]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_code_blocks_run(page: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    found = blocks(page)
    if not found:
        pytest.skip("no python blocks")
    monkeypatch.chdir(tmp_path)  # blocks that write files (SQLite) write here
    namespace: dict[str, object] = {"__name__": f"docs_{page.stem}"}
    ran = 0
    for line, code, reason in found:
        if reason is not None:
            continue
        try:
            exec(compile(code, f"{page}:{line}", "exec"), namespace)  # noqa: S102
        except Exception as exc:
            raise AssertionError(f"{page.name} block at line {line} failed: {exc!r}") from exc
        ran += 1
    assert ran or all(reason for _, _, reason in found)
