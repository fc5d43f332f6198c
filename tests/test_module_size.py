"""No module of the package is over ~400 lines without a reason written at its top.

A long module must say, in a paragraph of its module docstring that starts with
``Why one module:``, why it is not split. ``KNOWN_LONG_MODULES`` lists the long modules
that have no reason yet; it can only shrink: a new long module without a reason fails,
and so does a listed one that has been split or given its reason (delete its line).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.support.python_source import parse_source

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "ferrogate"
MAX_LINES = 400
REASON = "Why one module:"

KNOWN_LONG_MODULES: frozenset[str] = frozenset()


def line_count(text: str) -> int:
    return len(text.splitlines())


def has_reason(text: str) -> bool:
    """Whether the module docstring has a paragraph starting ``Why one module:`` with words after it."""
    doc = ast.get_docstring(parse_source(text)) or ""
    return any(
        p.strip().startswith(REASON) and p.strip()[len(REASON) :].strip() for p in doc.split("\n\n")
    )


def long_without_reason(package: Path, max_lines: int = MAX_LINES) -> set[str]:
    """Modules (paths relative to the package's parent) over ``max_lines`` with no reason."""
    out: set[str] = set()
    for path in sorted(package.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        if line_count(text) > max_lines and not has_reason(text):
            out.add(path.relative_to(package.parent).as_posix())
    return out


@pytest.fixture(scope="module")
def offenders() -> set[str]:
    return long_without_reason(PACKAGE)


def test_no_new_module_is_over_the_limit_without_a_reason(offenders: set[str]) -> None:
    new = sorted(offenders - KNOWN_LONG_MODULES)
    assert not new, (
        f"over {MAX_LINES} lines: {new}. Split each along a seam, or start a paragraph of its "
        f"module docstring with {REASON!r} saying why it is one module"
    )


def test_every_known_long_module_is_still_long_and_without_a_reason(offenders: set[str]) -> None:
    settled = sorted(KNOWN_LONG_MODULES - offenders)
    assert not settled, f"split or given a reason, delete from KNOWN_LONG_MODULES: {settled}"


# --------------------------------------------------------------------------- the check itself


def _module(lines: int, doc: str) -> str:
    head = f'"""{doc}"""\n' if doc else ""
    return head + "x = 1\n" * (lines - head.count("\n"))


def test_a_long_module_without_a_reason_is_reported(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "sub" / "big.py").write_text(_module(401, "Does a thing."))
    (pkg / "small.py").write_text(_module(400, ""))
    assert long_without_reason(pkg) == {"pkg/sub/big.py"}


def test_a_reason_paragraph_in_the_module_docstring_excuses_a_long_module(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "big.py").write_text(_module(500, "Does a thing.\n\nWhy one module: one state machine.\n"))
    assert long_without_reason(pkg) == set()


def test_the_reason_must_open_a_paragraph_and_say_something(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "mid.py").write_text(_module(500, "Does a thing. Why one module: hidden mid-paragraph."))
    (pkg / "empty.py").write_text(_module(500, "Does a thing.\n\nWhy one module:\n"))
    (pkg / "comment.py").write_text("# Why one module: not a docstring\n" + _module(500, ""))
    assert long_without_reason(pkg) == {"pkg/mid.py", "pkg/empty.py", "pkg/comment.py"}
