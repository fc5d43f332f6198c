"""Idioms the compiled hot path avoids because CPython 3.11 makes them slow in a way a profile
hides: ``b"x" in data`` first tries the needle as an integer, and formats and drops a
TypeError each time (about 2,500 instructions), so the hot path looks bytes up with
``find`` or by their integer value."""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path

from tests.support.python_source import parse_source

ROOT = Path(__file__).resolve().parent.parent


def compiled_modules() -> list[Path]:
    listed = (ROOT / "scripts" / "compiled_modules.txt").read_text().splitlines()
    return [ROOT / line.split("#", 1)[0].strip() for line in listed if line.split("#", 1)[0].strip()]


def compiled_offenders(check: Callable[[str], list[str]], *, skip: str = "") -> dict[str, list[str]]:
    """What ``check`` finds in each compiled module's source (but the one named ``skip``)."""
    return {
        str(path.relative_to(ROOT)): found
        for path in compiled_modules()
        if path.name != skip and (found := check(path.read_text()))
    }


def _bytes_tuples(tree: ast.AST) -> set[str]:
    """Names bound to a literal tuple or list of bytes literals (``_X: Final = (b"a", b"b")``)."""
    names = set()
    for node in ast.walk(tree):
        target, value = (node.targets[0], node.value) if isinstance(node, ast.Assign) else (
            (node.target, node.value) if isinstance(node, ast.AnnAssign) else (None, None))
        if (isinstance(target, ast.Name) and isinstance(value, ast.Tuple | ast.List) and value.elts
                and all(isinstance(e, ast.Constant) and isinstance(e.value, bytes) for e in value.elts)):
            names.add(target.id)
    return names


def _needles(tree: ast.AST) -> set[str]:
    """Loop variables that take the values of such a tuple (``for t in _X``, in a comprehension too)."""
    tuples = _bytes_tuples(tree)
    loops = [n for n in ast.walk(tree) if isinstance(n, ast.For | ast.comprehension)]
    return {loop.target.id for loop in loops
            if isinstance(loop.target, ast.Name) and isinstance(loop.iter, ast.Name) and loop.iter.id in tuples}


def bytes_literal_searches(source: str) -> list[str]:
    """``<bytes> in <expression>`` comparisons where the needle is a bytes literal or a loop
    variable over a tuple of them (containment in a literal tuple, list, set or dict, or in a
    name bound to one, is a lookup, not a search, and is fine)."""
    tree = parse_source(source)
    needles = _needles(tree)
    tuples = _bytes_tuples(tree)
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Compare):
            continue
        operands = [node.left, *node.comparators]
        for i, op in enumerate(node.ops):
            left, right = operands[i], operands[i + 1]
            is_bytes = (isinstance(left, ast.Constant) and isinstance(left.value, bytes)) or (
                isinstance(left, ast.Name) and left.id in needles)
            lookup = isinstance(right, ast.Tuple | ast.List | ast.Set | ast.Dict) or (
                isinstance(right, ast.Name) and right.id in tuples)
            if isinstance(op, ast.In | ast.NotIn) and is_bytes and not lookup:
                found.append(f"line {node.lineno}: {ast.unparse(node)}")
    return found


def test_the_check_finds_a_bytes_literal_searched_in_data() -> None:
    assert bytes_literal_searches('ok = b"[DONE]" in block') == ['line 1: b"[DONE]" in block'.replace('"', "'")]
    assert bytes_literal_searches('ok = name in (b"a", b"b") or data.find(b"x") >= 0') == []


def test_the_check_finds_a_needle_drawn_from_a_tuple_of_bytes_searched_in_data() -> None:
    source = '_T = (b"a", b"b")\nok = any(t in block for t in _T)\nfor u in _T:\n    if u not in data: pass\n'
    assert sorted(bytes_literal_searches(source)) == ["line 2: t in block", "line 4: u not in data"]
    assert bytes_literal_searches('_T = (b"a", b"b")\nok = name in _T or any(block.find(t) != -1 for t in _T)') == []


def bytes_method_searches(source: str) -> list[str]:
    """``<expression>.find(b"...")`` and ``.rfind(b"...")``: bytes searched with the 3.11
    methods, which pack and re-parse their arguments (``bytes_search.find`` and ``rfind`` are
    the hot path's)."""
    found = []
    for node in ast.walk(parse_source(source)):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("find", "rfind") and node.args
                and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, bytes)):
            found.append(f"line {node.lineno}: {ast.unparse(node)}")
    return found


def test_the_check_finds_a_bytes_method_search() -> None:
    assert bytes_method_searches('at = block.rfind(b"\\n\\n", 0, pos)') == ["line 1: block.rfind(b'\\n\\n', 0, pos)"]
    assert bytes_method_searches('at = find(block, b"x")\nname.find("x")') == []


def test_no_compiled_module_searches_bytes_with_the_methods() -> None:
    assert compiled_offenders(bytes_method_searches) == {}


def test_no_compiled_module_searches_bytes_with_in() -> None:
    assert compiled_offenders(bytes_literal_searches) == {}


def clock_imports(source: str) -> list[str]:
    """``import time`` / ``from time import ...``: in a compiled module each use of such a
    name is a dict lookup (about 130 instructions); ``ferrogate._fastpath.clock`` binds the
    clocks as Finals, which compiled modules read as C statics."""
    found = []
    for node in ast.walk(parse_source(source)):
        if (isinstance(node, ast.ImportFrom) and node.module == "time") or (
                isinstance(node, ast.Import) and any(alias.name == "time" for alias in node.names)):
            found.append(f"line {node.lineno}: {ast.unparse(node)}")
    return found


def test_the_check_finds_clocks_imported_from_time() -> None:
    assert clock_imports("import time\nfrom time import perf_counter") == [
        "line 1: import time", "line 2: from time import perf_counter"]
    assert clock_imports("from ferrogate._fastpath.clock import perf_counter") == []


def test_no_compiled_module_but_the_clock_imports_time() -> None:
    assert compiled_offenders(clock_imports, skip="clock.py") == {}


def fixed_tuple_finals(source: str) -> list[str]:
    """Module-level ``Final`` names bound to a tuple display whose type mypyc takes as fixed
    length (``_X: Final = (b"a", b"b")``): it keeps them unboxed, as a C struct, and builds a new
    Python tuple each time one is passed to a function, indexed by a variable or iterated
    (about 160 instructions); ``Final[tuple[bytes, ...]]`` keeps the one tuple object."""
    found = []
    for node in parse_source(source).body:
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.value, ast.Tuple)):
            continue
        annotation = ast.unparse(node.annotation)
        if annotation.startswith(("Final", "typing.Final")) and not annotation.endswith(", ...]]"):
            found.append(f"line {node.lineno}: {ast.unparse(node.target)}: {annotation}")
    return found


def test_the_check_finds_a_final_tuple_of_fixed_length() -> None:
    source = '_A: Final = (b"a", b"b")\n_B: Final[tuple[bytes, bytes]] = (b"a", b"b")\n'
    assert fixed_tuple_finals(source) == ["line 1: _A: Final", "line 2: _B: Final[tuple[bytes, bytes]]"]
    assert fixed_tuple_finals('_C: Final[tuple[bytes, ...]] = (b"a",)\n_D: Final = tuple(x)\n') == []


def test_no_compiled_module_keeps_a_final_tuple_unboxed() -> None:
    assert compiled_offenders(fixed_tuple_finals) == {}


# Functions that run when a config is compiled, not per request: they may read enum members.
_SETUP_FUNCTIONS = frozenset({"__init__", "_routes", "_compile_route", "_ai_endpoints_route", "_budgets"})


def enum_classes() -> frozenset[str]:
    """The names of ferrogate's Enum classes (mypyc compiles none of them natively)."""
    names = set()
    for path in (ROOT / "ferrogate").rglob("*.py"):
        for node in ast.walk(parse_source(path.read_text())):
            if isinstance(node, ast.ClassDef) and any("Enum" in ast.unparse(base) for base in node.bases):
                names.add(node.name)
    return frozenset(names)


def enum_member_reads(source: str, enums: frozenset[str]) -> list[str]:
    """``Kind.MEMBER`` read inside a function: from compiled code a generic attribute lookup on
    the enum class (about 900 instructions measured for ``Endpoint.RESPONSES``), where a module's
    ``_MEMBER: Final = Kind.MEMBER`` is a C static."""
    found = []
    for fn in ast.walk(parse_source(source)):
        if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef) or fn.name in _SETUP_FUNCTIONS:
            continue
        for node in ast.walk(fn):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in enums and node.attr.isupper()):
                found.append(f"line {node.lineno}: {fn.name}: {ast.unparse(node)}")
    return found


def test_the_check_finds_an_enum_member_read_in_a_function() -> None:
    source = "_R: Final = Kind.RED\ndef paint(x):\n    return x is Kind.BLUE or x is _R\n"
    assert enum_member_reads(source, frozenset({"Kind"})) == ["line 3: paint: Kind.BLUE"]
    assert enum_member_reads("def __init__(self):\n    self.k = Kind.RED\n", frozenset({"Kind"})) == []


def test_no_compiled_module_reads_an_enum_member_per_call() -> None:
    enums = enum_classes()
    assert compiled_offenders(lambda source: enum_member_reads(source, enums)) == {}
