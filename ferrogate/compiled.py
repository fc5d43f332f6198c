"""Guard for the mypyc-compiled hot path: what runs is what the source says.

``make compiled`` puts a ``.so`` next to each listed module and records the sha256
of every compiled source in ``_compiled_manifest.json``. A ``.so`` silently shadows
its ``.py``, so an edit made after the build would not run. At ``import ferrogate``
(:func:`install`, once per process, never per request) the sources are hashed; if
any differs from the manifest, or ``FERROGATE_PURE=1`` is set, a meta-path finder
loads *every* listed module from source. Never a mix: compiled modules call each
other natively and would bypass a pure replacement of one of them.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import sys
from collections.abc import Mapping, MutableSequence, Sequence
from enum import Enum
from importlib.machinery import ExtensionFileLoader, ModuleSpec, SourceFileLoader
from pathlib import Path
from types import ModuleType
from typing import NamedTuple, TextIO

__all__ = ["Decision", "Mode", "PureSourceFinder", "active", "decide", "install"]

PACKAGE_DIR = Path(__file__).resolve().parent
MANIFEST_NAME = "_compiled_manifest.json"
PURE_ENV = "FERROGATE_PURE"


class Mode(Enum):
    NOT_BUILT = "not built"  # no manifest, or the build listed no modules
    COMPILED = "compiled"
    STALE = "stale"  # a source changed after the build: pure Python, with a warning
    FORCED_PURE = "pure"  # FERROGATE_PURE=1: pure Python, quietly


class Decision(NamedTuple):
    mode: Mode
    sources: Mapping[str, Path]  # every module in the manifest -> its .py
    changed: Sequence[str]  # modules whose source no longer matches the build


def read_manifest(package_dir: Path) -> dict[str, str]:
    """Module name -> sha256 of the source it was compiled from ({} if not built)."""
    try:
        data = json.loads((package_dir / MANIFEST_NAME).read_text())
    except (OSError, ValueError):
        return {}
    modules = data.get("modules") if isinstance(data, dict) else None
    return {str(k): str(v) for k, v in modules.items()} if isinstance(modules, dict) else {}


def source_path(package_dir: Path, module: str) -> Path:
    """``pkg.a.b`` -> ``<package_dir>/a/b.py``."""
    return package_dir.joinpath(*module.split(".")[1:]).with_suffix(".py")


def _sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def decide(package_dir: Path, environ: Mapping[str, str]) -> Decision:
    manifest = read_manifest(package_dir)
    sources = {module: source_path(package_dir, module) for module in manifest}
    if not manifest:
        return Decision(Mode.NOT_BUILT, sources, ())
    if environ.get(PURE_ENV, "") not in ("", "0"):
        return Decision(Mode.FORCED_PURE, sources, ())
    changed = tuple(m for m, digest in manifest.items() if _sha256(sources[m]) != digest)
    return Decision(Mode.STALE if changed else Mode.COMPILED, sources, changed)


class PureSourceFinder:
    """Loads the listed modules from their ``.py`` even though a ``.so`` sits beside it.

    A ``sys.meta_path`` finder (duck-typed: ``importlib.abc`` costs milliseconds to import).
    """

    def __init__(self, sources: Mapping[str, Path]) -> None:
        self.sources = dict(sources)

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None = None,
        target: ModuleType | None = None,
    ) -> ModuleSpec | None:
        source = self.sources.get(fullname)
        if source is None:
            return None
        loader = SourceFileLoader(fullname, str(source))
        return importlib.util.spec_from_file_location(fullname, source, loader=loader)


def install(
    package_dir: Path = PACKAGE_DIR,
    environ: Mapping[str, str] = os.environ,
    meta_path: MutableSequence[object] | None = None,
    stderr: TextIO | None = None,
) -> Decision:
    """Decide compiled vs pure for this process; for pure, put the finder first."""
    decision = decide(package_dir, environ)
    if decision.mode in (Mode.STALE, Mode.FORCED_PURE):
        finders = sys.meta_path if meta_path is None else meta_path
        finders.insert(0, PureSourceFinder(decision.sources))
    if decision.mode is Mode.STALE:
        first = decision.sources[decision.changed[0]].relative_to(package_dir.parent)
        more = f" and {len(decision.changed) - 1} more" if len(decision.changed) > 1 else ""
        print(
            f"ferrogate: compiled hot path does not match its source ({first}{more}); "
            "running pure Python - run `make compiled` to rebuild",
            file=sys.stderr if stderr is None else stderr,
        )
    return decision


def active() -> bool:
    """Whether this process runs (or will run) the compiled hot path."""
    if any(isinstance(finder, PureSourceFinder) for finder in sys.meta_path):
        return False
    modules = sorted(read_manifest(PACKAGE_DIR))
    if not modules:
        return False
    spec = importlib.util.find_spec(modules[0])
    return spec is not None and isinstance(spec.loader, ExtensionFileLoader)
