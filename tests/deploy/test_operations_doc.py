"""docs/operations.md: every `ferrogate` command line in its examples names a command and options
the CLI has, and every file and script it points at exists."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "operations.md"


def _ferrogate_lines() -> list[list[str]]:
    blocks = re.findall(r"```sh\n(.*?)```", DOC.read_text(), flags=re.S)
    lines = []
    for block in blocks:
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line.split("#", 1)[0])
            if words and words[0].endswith("ferrogate") and len(words) > 1:
                lines.append(words[1:])
    return lines


@pytest.mark.parametrize("words", _ferrogate_lines(), ids=lambda w: " ".join(w[:2]))
def test_each_command_line_uses_commands_and_options_the_cli_has(words: list[str]) -> None:
    command = [w for w in words[:2] if not w.startswith("-") and "/" not in w and "." not in w]
    done = subprocess.run([sys.executable, "-m", "ferrogate", *command, "--help"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    for option in (w.split("=")[0] for w in words if w.startswith("--")):
        assert option in done.stdout, f"{' '.join(command)} has no {option}"


def test_every_path_the_runbook_names_exists() -> None:
    named = set(re.findall(r"`((?:deploy|scripts|requirements|tests)/[\w./-]+)`", DOC.read_text()))
    named |= set(re.findall(r"\b((?:deploy|scripts)/[\w./-]+\.(?:service|socket|yaml|sh))", DOC.read_text()))
    assert named
    missing = [path for path in sorted(named) if not (ROOT / path).exists()]
    assert missing == []
