"""Every runtime dependency is imported by the code, or listed as planned.

A dependency nobody imports is attack surface and install time for nothing. The
ones a coming feature needs are listed, each with the issue that brings it, in
``[tool.ferrogate.planned-dependencies]`` of pyproject.toml; the check fails when
an unused dependency is not listed there, and when a listed one is imported (the
list must shrink as features land).

    python scripts/check_imports.py [PROJECT_DIR]
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from collections.abc import Mapping
from importlib.metadata import packages_distributions
from pathlib import Path


def _dist_name(requirement: str) -> str:
    name = re.split(r"[\s<>=!~;\[]", requirement.strip(), maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()


def imported_modules(package_dir: Path) -> set[str]:
    """Top-level module names imported anywhere under ``package_dir``."""
    found: set[str] = set()
    for path in package_dir.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return found


def check(project_dir: Path, module_dists: Mapping[str, list[str]]) -> list[str]:
    """Problems found (empty when the dependency list and the code agree)."""
    pyproject = tomllib.loads((project_dir / "pyproject.toml").read_text(encoding="utf-8"))
    deps = {_dist_name(r) for r in pyproject["project"].get("dependencies", [])}
    planned = {
        _dist_name(name): why
        for name, why in pyproject.get("tool", {}).get("ferrogate", {}).get("planned-dependencies", {}).items()
    }
    package = pyproject["project"]["name"].replace("-", "_")
    used: set[str] = set()
    for module in imported_modules(project_dir / package):
        used.update(_dist_name(d) for d in module_dists.get(module, ()))
    problems = [
        f"{dep}: a runtime dependency that nothing under {package}/ imports; import it, remove it, "
        "or list it under [tool.ferrogate.planned-dependencies] with the issue that needs it"
        for dep in sorted(deps - used - planned.keys())
    ]
    problems += [
        f"{dep}: listed as planned ({planned[dep]}) but imported now; remove it from the planned list"
        for dep in sorted(planned.keys() & used)
    ]
    problems += [f"{dep}: listed as planned but not a dependency" for dep in sorted(planned.keys() - deps)]
    return problems


def main() -> int:
    project = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1]
    problems = check(project, packages_distributions())
    for line in problems:
        print(f"check_imports: {line}", file=sys.stderr)
    if not problems:
        print("check_imports: every runtime dependency is imported or planned")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
