"""Idioms the compiled hot path avoids because CPython 3.11 makes them slow in a way a profile
hides: ``b"x" in data`` first tries the needle as an integer, and formats and drops a
TypeError each time (about 2,500 instructions), so the hot path looks bytes up with
``find`` or by their integer value."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def compiled_modules() -> list[Path]:
    listed = (ROOT / "scripts" / "compiled_modules.txt").read_text().splitlines()
    return [ROOT / line.split("#", 1)[0].strip() for line in listed if line.split("#", 1)[0].strip()]


def bytes_literal_searches(source: str) -> list[str]:
    """``<bytes literal> in <expression>`` comparisons (containment in a literal tuple, list,
    set or dict is a lookup, not a search, and is fine)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Compare):
            continue
        operands = [node.left, *node.comparators]
        for i, op in enumerate(node.ops):
            left, right = operands[i], operands[i + 1]
            if (isinstance(op, ast.In | ast.NotIn) and isinstance(left, ast.Constant)
                    and isinstance(left.value, bytes) and not isinstance(right, ast.Tuple | ast.List | ast.Set | ast.Dict)):
                found.append(f"line {node.lineno}: {ast.unparse(node)}")
    return found


def test_the_check_finds_a_bytes_literal_searched_in_data() -> None:
    assert bytes_literal_searches('ok = b"[DONE]" in block') == ['line 1: b"[DONE]" in block'.replace('"', "'")]
    assert bytes_literal_searches('ok = name in (b"a", b"b") or data.find(b"x") >= 0') == []


def test_no_compiled_module_searches_bytes_with_in() -> None:
    offenders = {
        str(path.relative_to(ROOT)): found
        for path in compiled_modules()
        if (found := bytes_literal_searches(path.read_text()))
    }
    assert offenders == {}
