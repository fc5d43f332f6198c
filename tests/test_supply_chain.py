"""The dependency lock, the unused-dependency check (scripts/check_imports.py) and the
secret scan against the baseline (scripts/check_secrets.py; `make audit` runs it on this tree)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType

from tests.support.scripts import load_script

ROOT = Path(__file__).resolve().parents[1]


def _check_imports() -> ModuleType:
    return load_script("check_imports")


def _project(tmp_path: Path, deps: list[str], planned: dict[str, str], code: str) -> Path:
    planned_toml = "".join(f'{name} = "{why}"\n' for name, why in planned.items())
    (tmp_path / "pyproject.toml").write_text(
        f'[project]\nname = "demo"\ndependencies = {deps!r}\n\n[tool.ferrogate.planned-dependencies]\n{planned_toml}'.replace("'", '"')
    )
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "__init__.py").write_text(code)
    return tmp_path


MODULES = {"orjson": ["orjson"], "redis": ["redis"], "yaml": ["PyYAML"]}


def test_an_unimported_dependency_is_flagged(tmp_path: Path) -> None:
    problems = _check_imports().check(_project(tmp_path, ["orjson>=3", "redis>=5"], {}, "import orjson\n"), MODULES)
    assert len(problems) == 1 and problems[0].startswith("redis:")


def test_a_planned_dependency_is_accepted(tmp_path: Path) -> None:
    project = _project(tmp_path, ["orjson>=3", "redis>=5"], {"redis": "issue 11"}, "import orjson\n")
    assert _check_imports().check(project, MODULES) == []


def test_a_planned_dependency_that_is_imported_is_flagged(tmp_path: Path) -> None:
    project = _project(tmp_path, ["redis>=5"], {"redis": "issue 11"}, "from redis import asyncio\n")
    problems = _check_imports().check(project, MODULES)
    assert len(problems) == 1 and "imported now" in problems[0]


def test_distribution_names_differing_from_modules_are_mapped(tmp_path: Path) -> None:
    assert _check_imports().check(_project(tmp_path, ["pyyaml"], {}, "import yaml\n"), MODULES) == []


DUMMY_KEY_LINE = 'api_key = "sk-live-0123456789abcdefXYZ"\n'


def _repo_with_baseline(tmp_path: Path, tracked: dict[str, str], scanned: list[str]) -> Path:
    """A git repository holding ``tracked`` files and a baseline made from ``scanned`` ones."""
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    for name, text in {"README": "nothing secret\n", **tracked}.items():
        (tmp_path / name).write_text(text)
    subprocess.run(["git", "add", "README", *tracked], cwd=tmp_path, check=True)
    scan = subprocess.run(
        [sys.executable, "-m", "detect_secrets", "scan", "README", *scanned],
        cwd=tmp_path, check=True, capture_output=True, text=True,
    )
    (tmp_path / ".secrets.baseline").write_text(scan.stdout)
    return tmp_path


def _check_secrets(repo: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "check_secrets.py")],
        cwd=repo, capture_output=True, text=True, timeout=60,
    )


def _mark_reviewed(repo: Path) -> None:
    path = repo / ".secrets.baseline"
    data = json.loads(path.read_text())
    for findings in data["results"].values():
        for finding in findings:
            finding["is_secret"] = False
    path.write_text(json.dumps(data, indent=2))


def test_a_secret_missing_from_the_baseline_fails_the_scan(tmp_path: Path) -> None:
    repo = _repo_with_baseline(tmp_path, {"settings.py": DUMMY_KEY_LINE}, scanned=[])
    result = _check_secrets(repo)
    assert result.returncode == 1
    assert "settings.py:1: Secret Keyword not in .secrets.baseline" in result.stderr


def test_an_unreviewed_baseline_entry_fails_the_scan(tmp_path: Path) -> None:
    repo = _repo_with_baseline(tmp_path, {"settings.py": DUMMY_KEY_LINE}, scanned=["settings.py"])
    result = _check_secrets(repo)
    assert result.returncode == 1
    assert "settings.py:1: Secret Keyword in the baseline, unreviewed" in result.stderr


def test_a_reviewed_dummy_moved_to_another_line_passes_without_rewriting_the_baseline(tmp_path: Path) -> None:
    repo = _repo_with_baseline(tmp_path, {"settings.py": DUMMY_KEY_LINE}, scanned=["settings.py"])
    _mark_reviewed(repo)
    (repo / "settings.py").write_text("# moved down\n" + DUMMY_KEY_LINE)
    before = (repo / ".secrets.baseline").read_text()
    result = _check_secrets(repo)
    assert result.returncode == 0, result.stderr
    assert (repo / ".secrets.baseline").read_text() == before


def _locked() -> dict[str, list[str]]:
    """name -> hashes, from requirements/lock.txt."""
    out: dict[str, list[str]] = {}
    current = ""
    for line in (ROOT / "requirements" / "lock.txt").read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_.-]+)==\S+", line)
        if m:
            current = re.sub(r"[-_.]+", "-", m.group(1)).lower()
            out[current] = []
        for h in re.findall(r"--hash=sha256:([0-9a-f]{64})", line):
            out[current].append(h)
    return out


def test_every_locked_requirement_has_a_hash() -> None:
    locked = _locked()
    assert locked and all(locked.values()), [name for name, hashes in locked.items() if not hashes]


def test_the_lock_pins_every_dependency_and_build_requirement_pyproject_names() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    project = pyproject["project"]
    build_backend = pyproject["build-system"]["requires"]
    names = [*project["dependencies"], *project["optional-dependencies"]["dev"], *build_backend]
    wanted = {re.sub(r"[-_.]+", "-", re.split(r"[<>=!~\[ ;]", n, maxsplit=1)[0]).lower() for n in names}
    assert wanted - _locked().keys() == set()


def test_the_runtime_dependencies_of_this_project_are_imported_or_planned() -> None:
    from importlib.metadata import packages_distributions

    assert _check_imports().check(ROOT, packages_distributions()) == []
