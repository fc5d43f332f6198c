"""The import graph of a package read from its sources, and the layering checks over it.

Every import counts, wherever it is written: at module level, inside a function, under
``if TYPE_CHECKING:``, or as a literal ``import_module("pkg.x")``. A deferred import
still ties the two modules together; it only hides the tie from the interpreter.

A *unit* is a top-level subpackage (``pkg.ai``) or top-level module (``pkg.app``) of
the package; the package's own ``__init__`` is the unit named like the package.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.support.python_source import parse_source


@dataclass(frozen=True, slots=True)
class Import:
    """One import statement's edge: ``importer`` (a module) imports ``imported`` at ``path:line``."""

    importer: str
    imported: str
    path: Path
    line: int

    @property
    def pair(self) -> tuple[str, str]:
        return (self.importer, self.imported)

    def where(self) -> str:
        return f"{self.path}:{self.line}: {self.importer} imports {self.imported}"


@dataclass(frozen=True, slots=True)
class Violation:
    """An import the layering forbids, and why."""

    edge: Import
    reason: str

    def __str__(self) -> str:
        return f"{self.edge.where()} ({self.reason})"


def modules_of(package_dir: Path) -> dict[str, Path]:
    """``module name -> file`` for every ``.py`` file under ``package_dir`` (a package named like the directory)."""
    root = package_dir.parent
    out: dict[str, Path] = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def collect_imports(package_dir: Path) -> list[Import]:
    """Every edge from a module of the package to another module of the same package.

    Paths are relative to the package's parent directory (``pkg/ai/handler.py``).
    """
    modules = modules_of(package_dir)
    top = package_dir.name
    edges: dict[Import, None] = {}
    for name, path in modules.items():
        tree = parse_source(path.read_text(encoding="utf-8"), filename=str(path))
        here = name if path.name == "__init__.py" else name.rpartition(".")[0]
        shown = path.relative_to(package_dir.parent)
        for target, line in _targets(tree, here, modules):
            if (target == top or target.startswith(top + ".")) and target != name:
                edges[Import(name, target, shown, line)] = None
    return list(edges)


def _targets(tree: ast.AST, package: str, modules: dict[str, Path]) -> Iterator[tuple[str, int]]:
    """``(imported module, line)`` for each import in ``tree``; ``package`` anchors relative imports."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node.module, node.level, package)
            for alias in node.names:
                # ``from pkg import ipc`` imports the module pkg.ipc; ``from pkg.x import Name``
                # imports pkg.x.
                submodule = f"{base}.{alias.name}"
                yield (submodule if submodule in modules else base), node.lineno
        elif isinstance(node, ast.Call) and _is_import_module(node.func):
            first = node.args[0] if node.args else None
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                yield first.value, node.lineno


def _absolute(module: str | None, level: int, package: str) -> str:
    if level == 0:
        return module or ""
    parts = package.split(".")
    base = parts[: len(parts) - (level - 1)]
    return ".".join([*base, module] if module else base)


def _is_import_module(func: ast.expr) -> bool:
    if isinstance(func, ast.Name):
        return func.id in ("import_module", "__import__")
    return isinstance(func, ast.Attribute) and func.attr == "import_module"


def unit_of(module: str) -> str:
    """``pkg.ai.handler -> ai``; ``pkg.app -> app``; ``pkg -> pkg``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def unplaced_units(edges: Iterable[Import], modules: Iterable[str], layers: Sequence[Sequence[str]]) -> list[str]:
    """Units that exist (as a file or as an import target) but have no layer."""
    placed = {unit for layer in layers for unit in layer}
    seen = {unit_of(m) for m in modules} | {unit_of(e.imported) for e in edges} | {unit_of(e.importer) for e in edges}
    return sorted(seen - placed)


def layer_violations(edges: Iterable[Import], layers: Sequence[Sequence[str]]) -> list[Violation]:
    """Edges that run from a lower layer up to a higher one, or that tie peers of one layer in a circle.

    Units missing from ``layers`` are left to :func:`unplaced_units`.
    """
    rank = {unit: i for i, layer in enumerate(layers) for unit in layer}
    cross = [e for e in edges if unit_of(e.importer) != unit_of(e.imported)]
    placed = [e for e in cross if unit_of(e.importer) in rank and unit_of(e.imported) in rank]
    peers: dict[str, set[str]] = {}
    for e in placed:
        a, b = unit_of(e.importer), unit_of(e.imported)
        if rank[a] == rank[b]:
            peers.setdefault(a, set()).add(b)
    out: list[Violation] = []
    for e in placed:
        a, b = unit_of(e.importer), unit_of(e.imported)
        if rank[b] > rank[a]:
            out.append(Violation(e, f"{a} is below {b}: the import runs back up the layers"))
        elif rank[b] == rank[a] and _reaches(peers, b, a):
            out.append(Violation(e, f"{a} and {b} are peers that import each other (a circle)"))
    return out


def _reaches(graph: dict[str, set[str]], start: str, goal: str) -> bool:
    seen: set[str] = set()
    todo = [start]
    while todo:
        node = todo.pop()
        if node == goal:
            return True
        if node not in seen:
            seen.add(node)
            todo.extend(graph.get(node, ()))
    return False


def file_circles(edges: Iterable[Import], package: str) -> list[frozenset[str]]:
    """The groups of modules inside ``package`` (e.g. ``pkg.supervisor``) that import each other in a circle.

    Each group is a strongly connected component of more than one module of the graph
    restricted to ``package``'s own modules.
    """
    prefix = package + "."
    graph: dict[str, set[str]] = {}
    for e in edges:
        inside = (e.importer == package or e.importer.startswith(prefix)) and (
            e.imported == package or e.imported.startswith(prefix)
        )
        if inside:
            graph.setdefault(e.importer, set()).add(e.imported)
            graph.setdefault(e.imported, set())
    return [group for group in _components(graph) if len(group) > 1]


def _components(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """Tarjan's strongly connected components (iterative: no recursion limit to hit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[frozenset[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                group: set[str] = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.add(member)
                    if member == node:
                        break
                out.append(frozenset(group))
    return out
