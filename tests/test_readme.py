"""The README's commands: one convention (the venv's own tools), so nothing lands elsewhere."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).parent.parent
SHELL_BLOCK = re.compile(r"```(?:bash|console)\n(.*?)```", re.DOTALL)
#: Tools installed into .venv: run bare, they would be whichever one the shell finds first.
VENV_TOOLS = ("pip", "unipay", "tox", "mkdocs", "pytest", "python", "mypy", "ruff")


def commands(text: str) -> list[str]:
    found = []
    for block in SHELL_BLOCK.findall(text):
        for line in block.splitlines():
            line = line.removeprefix("$ ").strip()
            for part in re.split(r"&&|;|\|", line.split("  #")[0]):
                found.append(part.strip())
    return [command for command in found if command]


def test_readme_runs_every_venv_tool_from_the_venv() -> None:
    listed = commands((ROOT / "README.md").read_text())
    assert any(command.startswith(".venv/bin/unipay") for command in listed)
    bare = [
        command
        for command in listed
        if command.split()[0] in VENV_TOOLS or command.split()[0].startswith("pip")
    ]
    assert bare == [], f"use .venv/bin/<tool> in the README: {bare}"
