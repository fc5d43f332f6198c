"""The package layering: no import runs from a lower layer back up, no two packages import
each other, no modules of one package import each other in a circle.

The graph is read from the sources (tests/support/import_graph.py), so imports inside
functions and under ``TYPE_CHECKING`` count: they tie the modules together all the same.

``KNOWN_VIOLATIONS`` and ``KNOWN_FILE_CIRCLES`` hold what the code breaks today. They can
only shrink: a new violation fails, and so does a listed one that no longer occurs (delete
its line when the fix lands).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.import_graph import (
    Import,
    collect_imports,
    file_circles,
    layer_violations,
    modules_of,
    unit_of,
    unplaced_units,
)

PACKAGE = Path(__file__).resolve().parents[1] / "ferrogate"

# Lowest first; units on one line are peers (they may import each other one way only).
LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors", "compiled", "ferrogate"),
    ("config",),
    ("tls",),
    ("_fastpath",),
    ("governance", "cache", "ipc", "worker_spec"),
    ("observability", "store", "mcp"),
    ("ai",),
    ("pipeline", "proxy"),
    ("app",),
    ("worker", "control"),
    ("supervisor",),
    ("cli", "__main__"),
)

# (importer module, imported module) pairs that break LAYERS today (none: keep it so).
KNOWN_VIOLATIONS: frozenset[tuple[str, str]] = frozenset()

# Groups of modules of one package that import each other in a circle, each with its reason.
KNOWN_FILE_CIRCLES: frozenset[frozenset[str]] = frozenset(
    {
        # The connection creates its exchanges and each exchange reports back to its
        # connection (response_complete, body waits, flow control); compiled with mypyc,
        # the concrete types make those calls native. The import back is type-only.
        frozenset({"ferrogate._fastpath.exchange", "ferrogate._fastpath.http1"}),
    }
)


@pytest.fixture(scope="module")
def edges() -> list[Import]:
    return collect_imports(PACKAGE)


def _packages(root: Path) -> list[str]:
    """Every subpackage of ``root`` (``ferrogate.ai``, ``ferrogate.ai.providers``, ...).

    Circles through the root itself run between units: the layering tests catch those.
    """
    return sorted(
        name for name, path in modules_of(root).items() if path.name == "__init__.py" and "." in name
    )


def _all_circles(edges: list[Import], root: Path) -> set[frozenset[str]]:
    return {group for package in _packages(root) for group in file_circles(edges, package)}


def _show_circle(group: frozenset[str]) -> str:
    return "frozenset({" + ", ".join(repr(m) for m in sorted(group)) + "})"


# --------------------------------------------------------------------------- the real package


def test_every_unit_of_the_package_has_a_layer(edges: list[Import]) -> None:
    missing = unplaced_units(edges, modules_of(PACKAGE), LAYERS)
    assert not missing, (
        f"{missing} have no layer: add each to LAYERS in {Path(__file__).name}, on the line of the "
        "units it may import from above and be imported by from below"
    )


def test_no_import_runs_back_up_the_layers_or_ties_peers_in_a_circle(edges: list[Import]) -> None:
    new = [v for v in layer_violations(edges, LAYERS) if v.edge.pair not in KNOWN_VIOLATIONS]
    assert not new, "imports that break the layering:\n" + "\n".join(str(v) for v in new)


def test_every_known_violation_still_occurs(edges: list[Import]) -> None:
    current = {v.edge.pair for v in layer_violations(edges, LAYERS)}
    gone = sorted(KNOWN_VIOLATIONS - current)
    assert not gone, f"fixed, delete from KNOWN_VIOLATIONS: {gone}"


def test_no_modules_of_one_package_import_each_other_in_a_circle(edges: list[Import]) -> None:
    new = _all_circles(edges, PACKAGE) - KNOWN_FILE_CIRCLES
    assert not new, "modules that import each other in a circle:\n" + "\n".join(
        _show_circle(g) + "\n  " + "\n  ".join(e.where() for e in edges if {e.importer, e.imported} <= g)
        for g in sorted(new, key=sorted)
    )


def test_every_known_file_circle_still_occurs(edges: list[Import]) -> None:
    current = _all_circles(edges, PACKAGE)
    gone = [_show_circle(g) for g in sorted(KNOWN_FILE_CIRCLES - current, key=sorted)]
    assert not gone, (
        f"no longer a circle, delete (or replace by what is left of it): {gone}; "
        f"circles now: {[_show_circle(g) for g in sorted(current, key=sorted)]}"
    )


# --------------------------------------------------------------------------- the checker itself

TOY_LAYERS = (("low",), ("mid_a", "mid_b"), ("high",), ("pkg",))


def _toy(tmp_path: Path, files: dict[str, str]) -> Path:
    """``tmp_path/pkg`` with ``relative path -> source`` files and an ``__init__.py`` in each directory."""
    root = tmp_path / "pkg"
    for rel, text in {"__init__.py": "", **files}.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.parent != root and not (path.parent / "__init__.py").exists():
            (path.parent / "__init__.py").write_text("")
        path.write_text(text)
    return root


def _violations(root: Path) -> list[str]:
    return [str(v) for v in layer_violations(collect_imports(root), TOY_LAYERS)]


def test_checker_reports_an_import_back_up_with_file_line_and_module(tmp_path: Path) -> None:
    root = _toy(tmp_path, {"high.py": "", "low.py": "X = 1\n\nfrom pkg.high import thing\n"})
    assert _violations(root) == [
        "pkg/low.py:3: pkg.low imports pkg.high (low is below high: the import runs back up the layers)"
    ]


def test_checker_reports_both_edges_of_a_circle_between_peers(tmp_path: Path) -> None:
    root = _toy(
        tmp_path,
        {"mid_a/x.py": "from pkg.mid_b import y\n", "mid_b/y.py": "import pkg.mid_a.x\n"},
    )
    found = _violations(root)
    assert found == [
        "pkg/mid_a/x.py:1: pkg.mid_a.x imports pkg.mid_b.y (mid_a and mid_b are peers that import each other (a circle))",
        "pkg/mid_b/y.py:1: pkg.mid_b.y imports pkg.mid_a.x (mid_b and mid_a are peers that import each other (a circle))",
    ]


def test_checker_allows_imports_down_the_layers_and_one_way_between_peers(tmp_path: Path) -> None:
    root = _toy(
        tmp_path,
        {
            "low.py": "",
            "mid_a/x.py": "from pkg import low\nfrom pkg.mid_b.y import f\n",
            "mid_b/y.py": "from ..low import thing\n",
            "high.py": "from pkg.mid_a import x\n",
        },
    )
    assert _violations(root) == []


def test_checker_counts_deferred_type_checking_relative_and_import_module_forms(tmp_path: Path) -> None:
    root = _toy(
        tmp_path,
        {
            "high.py": "",
            "low/__init__.py": "from . import inner\n",
            "low/inner.py": (
                "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n"
                "    from ..high import T\n"
                "def f():\n"
                "    from pkg import high\n"
                "    import importlib\n"
                "    return importlib.import_module('pkg.high')\n"
            ),
        },
    )
    edges = collect_imports(root)
    assert sorted((e.importer, e.imported, e.line) for e in edges) == [
        ("pkg.low", "pkg.low.inner", 1),
        ("pkg.low.inner", "pkg.high", 3),
        ("pkg.low.inner", "pkg.high", 5),
        ("pkg.low.inner", "pkg.high", 7),
    ]
    assert len(_violations(root)) == 3


def test_checker_names_a_unit_without_a_layer(tmp_path: Path) -> None:
    root = _toy(tmp_path, {"low.py": "", "newcomer/__init__.py": "from pkg import low\n"})
    edges = collect_imports(root)
    assert unplaced_units(edges, modules_of(root), TOY_LAYERS) == ["newcomer"]
    assert unit_of("pkg.newcomer.deep") == "newcomer"
    assert unit_of("pkg") == "pkg"


def test_checker_reports_modules_of_one_package_that_import_each_other(tmp_path: Path) -> None:
    root = _toy(
        tmp_path,
        {
            "high/a.py": "from pkg.high import b\n",
            "high/b.py": "def f():\n    from pkg.high.c import g\n",
            "high/c.py": "from .a import h\n",
            "high/d.py": "from pkg.high import a\n",
        },
    )
    assert file_circles(collect_imports(root), "pkg.high") == [
        frozenset({"pkg.high.a", "pkg.high.b", "pkg.high.c"})
    ]
