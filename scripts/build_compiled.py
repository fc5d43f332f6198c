"""Compile the hot-path modules listed in scripts/compiled_modules.txt with mypyc, in place.

Each listed ``ferrogate/x/y.py`` gets a ``y.<abi>.so`` next to it (plus one shared
``ferrogate/hotpath__mypyc.<abi>.so``), and ``ferrogate/_compiled_manifest.json``
records the sha256 of every compiled source so ``ferrogate.compiled`` can fall back
to pure Python when a source changed after the build. The hand-written C extensions
(``NATIVE_SOURCES``) are built in the same step; their users fall back on their own
when they are missing.

A missing compiler or mypyc, or a failed build, never breaks the checkout: the
script removes the compiled files, writes a manifest listing no modules, prints
one line and exits 0. ``--sources`` prints the listed source paths (for make).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIST_FILE = ROOT / "scripts" / "compiled_modules.txt"
MANIFEST = ROOT / "ferrogate" / "_compiled_manifest.json"
BUILD_DIR = ROOT / "build" / "mypyc"
LOG_FILE = BUILD_DIR / "build.log"
DONE_STAMP = BUILD_DIR / "done"  # make's target: absent after an interrupted build
IN_PROGRESS = "build in progress"  # digest that matches no source: pure Python meanwhile
GROUP = "ferrogate.hotpath"  # shared library: ferrogate/hotpath__mypyc.<abi>.so
EXT_SUFFIX = str(sysconfig.get_config_var("EXT_SUFFIX"))
# Hand-written C extensions built in the same step (imported directly; see each module's users).
NATIVE_SOURCES = (
    "ferrogate/ipc/_shm_mutex.c",
    "ferrogate/governance/_counter_ops.c",
    "ferrogate/cache/_ring_ops.c",
    "ferrogate/cache/_canonical_json.c",
    "ferrogate/ai/_json_top.c",
    "ferrogate/_fastpath/_sse_relay.c",
    "ferrogate/observability/_otlp_fields.c",
    "ferrogate/ipc/_batch_sums.c",
    "ferrogate/_fastpath/_hex_ids.c",
    "ferrogate/_fastpath/_bytes_search.c",
    "ferrogate/_fastpath/_head_fields.c",
    "ferrogate/_fastpath/_number_bytes.c",
)


def listed_sources() -> list[str]:
    """Source paths (relative to the repo root) from compiled_modules.txt."""
    lines = (line.split("#", 1)[0].strip() for line in LIST_FILE.read_text().splitlines())
    return [line for line in lines if line]


def module_name(source: str) -> str:
    return source.removesuffix(".py").replace("/", ".")


def expected_outputs(sources: list[str]) -> list[Path]:
    """The files a successful build leaves inside the package."""
    shared = ROOT / (GROUP.replace(".", "/") + "__mypyc" + EXT_SUFFIX)
    native = [ROOT / (source.removesuffix(".c") + EXT_SUFFIX) for source in NATIVE_SOURCES]
    return [shared, *native] + [ROOT / (source.removesuffix(".py") + EXT_SUFFIX) for source in sources]


def remove_compiled() -> None:
    """Every extension module in the package is ours (also those of modules no longer listed)."""
    for path in (ROOT / "ferrogate").rglob("*" + EXT_SUFFIX):
        path.unlink()


def write_manifest(modules: dict[str, str], note: str | None = None) -> None:
    data: dict[str, object] = {"modules": modules}
    if note:
        data["note"] = note
    MANIFEST.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")


def missing_tool() -> str | None:
    """Why a build cannot run here, or None."""
    cc = shlex.split(str(sysconfig.get_config_var("CC") or "cc"))[0]
    if shutil.which(cc) is None:
        return f"C compiler {cc!r} not found"
    if importlib.util.find_spec("mypyc") is None:
        return "mypyc is not installed"
    include = Path(sysconfig.get_paths()["include"]) / "Python.h"
    if not include.exists():
        return f"Python headers not found ({include})"
    return None


def finished() -> None:
    DONE_STAMP.parent.mkdir(parents=True, exist_ok=True)
    DONE_STAMP.touch()


def fall_back(reason: str) -> int:
    remove_compiled()
    write_manifest({}, note=reason)
    finished()
    print(f"ferrogate: compiled hot path not built ({reason}); pure Python is used")
    return 0


def run_mypyc(sources: list[str]) -> None:
    """The actual build (runs in a child process so its output goes to the log)."""
    from mypyc.build import mypycify
    from setuptools import Extension, setup

    os.chdir(ROOT)
    extensions = mypycify(sources, group_name=GROUP, target_dir=str(BUILD_DIR), opt_level="3")
    extensions += [
        Extension(module_name(source.removesuffix(".c") + ".py"), [source], extra_compile_args=["-O2"], libraries=["z"])
        for source in NATIVE_SOURCES
    ]
    setup(
        name="ferrogate-compiled",
        ext_modules=extensions,
        script_args=[
            "build_ext",
            "--inplace",
            "--build-temp",
            str(BUILD_DIR / "temp"),
            "--build-lib",
            str(BUILD_DIR / "lib"),
        ],
    )


def build() -> int:
    sources = listed_sources()
    reason = missing_tool()
    if reason is not None:
        return fall_back(reason)
    DONE_STAMP.unlink(missing_ok=True)
    hashes = {
        module_name(source): hashlib.sha256((ROOT / source).read_bytes()).hexdigest()
        for source in sources
    }
    # While .so files come and go, the manifest matches no source, so every process
    # started meanwhile runs all listed modules as pure Python (never a mix).
    write_manifest(dict.fromkeys(hashes, IN_PROGRESS), note=IN_PROGRESS)
    remove_compiled()
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    print(f"ferrogate: compiling {len(sources)} hot-path modules with mypyc (log: {LOG_FILE})")
    with LOG_FILE.open("w") as log:
        result = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--run-mypyc"],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if result.returncode != 0:
        return fall_back(f"mypyc build failed, see {LOG_FILE.relative_to(ROOT)}")
    missing = [p for p in expected_outputs(sources) if not p.exists()]
    if missing:
        return fall_back(f"mypyc did not produce {missing[0].relative_to(ROOT)}")
    write_manifest(hashes)
    finished()
    return 0


def main(argv: list[str]) -> int:
    if argv == ["--sources"]:
        print("\n".join(listed_sources()))
        return 0
    if argv == ["--run-mypyc"]:
        run_mypyc(listed_sources())
        return 0
    if argv:
        print("usage: build_compiled.py [--sources]", file=sys.stderr)
        return 2
    return build()


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
