"""The compiled-hot-path guard: a stale or opted-out mypyc build never runs.

Unit tests drive ``ferrogate.compiled`` against a throwaway package; the
end-to-end tests copy the real package (with its ``.so`` files) and import it
in a child interpreter, and are skipped when ``make compiled`` has not built it.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ferrogate import compiled
from ferrogate.compiled import Mode, PureSourceFinder

PACKAGE_DIR = Path(compiled.__file__).resolve().parent


def make_package(root: Path, modules: dict[str, str], *, manifest: bool = True) -> Path:
    """``root/pkg`` with the given ``name -> source`` modules and a manifest of their hashes."""
    pkg = root / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    digests = {}
    for name, text in modules.items():
        (pkg / f"{name}.py").write_text(text)
        digests[f"pkg.{name}"] = hashlib.sha256(text.encode()).hexdigest()
    if manifest:
        (pkg / compiled.MANIFEST_NAME).write_text(json.dumps({"modules": digests}))
    return pkg


def test_no_manifest_means_not_built_and_no_finder(tmp_path: Path) -> None:
    pkg = make_package(tmp_path, {"a": "X = 1\n"}, manifest=False)
    finders: list[object] = []
    decision = compiled.install(pkg, {}, finders, io.StringIO())
    assert decision.mode is Mode.NOT_BUILT
    assert finders == []


def test_fresh_build_keeps_the_compiled_modules(tmp_path: Path) -> None:
    pkg = make_package(tmp_path, {"a": "X = 1\n", "b": "Y = 2\n"})
    finders: list[object] = []
    err = io.StringIO()
    decision = compiled.install(pkg, {}, finders, err)
    assert decision.mode is Mode.COMPILED
    assert finders == []
    assert err.getvalue() == ""


def test_one_changed_source_loads_every_listed_module_from_source_with_one_warning(
    tmp_path: Path,
) -> None:
    pkg = make_package(tmp_path, {"a": "X = 1\n", "b": "Y = 2\n"})
    (pkg / "b.py").write_text("Y = 3\n")
    finders: list[object] = []
    err = io.StringIO()
    decision = compiled.install(pkg, {}, finders, err)
    assert decision.mode is Mode.STALE
    assert decision.changed == ("pkg.b",)
    [finder] = finders
    assert isinstance(finder, PureSourceFinder)
    assert set(finder.sources) == {"pkg.a", "pkg.b"}
    [line] = err.getvalue().splitlines()
    assert "pure Python" in line
    assert "pkg/b.py" in line


def test_ferrogate_pure_loads_from_source_without_a_warning(tmp_path: Path) -> None:
    pkg = make_package(tmp_path, {"a": "X = 1\n"})
    finders: list[object] = []
    err = io.StringIO()
    decision = compiled.install(pkg, {"FERROGATE_PURE": "1"}, finders, err)
    assert decision.mode is Mode.FORCED_PURE
    assert [type(f) for f in finders] == [PureSourceFinder]
    assert err.getvalue() == ""


def test_ferrogate_pure_zero_does_not_opt_out(tmp_path: Path) -> None:
    pkg = make_package(tmp_path, {"a": "X = 1\n"})
    assert compiled.decide(pkg, {"FERROGATE_PURE": "0"}).mode is Mode.COMPILED


def test_pure_finder_gives_the_source_file_and_ignores_other_modules(tmp_path: Path) -> None:
    pkg = make_package(tmp_path, {"a": "X = 1\n"})
    finder = PureSourceFinder({"pkg.a": pkg / "a.py"})
    spec = finder.find_spec("pkg.a")
    assert spec is not None
    assert spec.origin == str(pkg / "a.py")
    assert finder.find_spec("pkg.other") is None


# ---------------------------------------------------------------- the real build


def _real_build() -> dict[str, str]:
    modules = compiled.read_manifest(PACKAGE_DIR)
    if not modules:
        pytest.skip("no compiled hot path here (run `make compiled`)")
    if compiled.decide(PACKAGE_DIR, {}).mode is not Mode.COMPILED:
        pytest.skip("the compiled hot path in this checkout is stale")
    return modules


PROBE = (
    "import sys, importlib, ferrogate.compiled as c\n"
    "names = sorted(c.read_manifest(c.PACKAGE_DIR))\n"
    "files = [importlib.import_module(n).__file__ for n in names]\n"
    "print(sum(f.endswith('.so') for f in files), len(files), c.active())\n"
)


def run_probe(root: Path, **env: str) -> tuple[str, str]:
    child_env = {k: v for k, v in os.environ.items() if k != "FERROGATE_PURE"}
    child_env.update(env, PYTHONPATH=str(root))
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=root,
        env=child_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip(), done.stderr


@pytest.fixture
def package_copy(tmp_path: Path) -> Path:
    """A copy of the built package, so a test may edit a source without touching the checkout."""
    _real_build()
    shutil.copytree(
        PACKAGE_DIR, tmp_path / "ferrogate", ignore=shutil.ignore_patterns("__pycache__")
    )
    return tmp_path


def test_fresh_build_imports_every_listed_module_compiled(package_copy: Path) -> None:
    n = len(compiled.read_manifest(PACKAGE_DIR))
    out, err = run_probe(package_copy)
    assert out == f"{n} {n} True"
    assert err == ""


def test_stale_build_imports_every_listed_module_from_source(package_copy: Path) -> None:
    n = len(compiled.read_manifest(PACKAGE_DIR))
    wire = package_copy / "ferrogate" / "_fastpath" / "wire.py"
    wire.write_text(wire.read_text() + "\n# edited after the build\n")
    out, err = run_probe(package_copy)
    assert out == f"0 {n} False"
    assert len(err.splitlines()) == 1
    assert "ferrogate/_fastpath/wire.py" in err


def test_ferrogate_pure_imports_every_listed_module_from_source(package_copy: Path) -> None:
    n = len(compiled.read_manifest(PACKAGE_DIR))
    out, err = run_probe(package_copy, FERROGATE_PURE="1")
    assert out == f"0 {n} False"
    assert err == ""
