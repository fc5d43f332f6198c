"""docs/configuration.md is what scripts/gen_configuration_doc.py makes of the config model."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import msgspec

from ferrogate.config import model

ROOT = Path(__file__).resolve().parents[1]


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_configuration_doc", ROOT / "scripts" / "gen_configuration_doc.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_checked_in_reference_is_current() -> None:
    expected = _generator().render()
    assert (ROOT / "docs" / "configuration.md").read_text() == expected, (
        "run: python scripts/gen_configuration_doc.py > docs/configuration.md"
    )


def test_every_struct_of_the_model_has_a_section() -> None:
    documented = {struct for _, struct, _, _ in _generator().SECTIONS}
    structs = {
        obj for obj in vars(model).values()
        if isinstance(obj, type) and issubclass(obj, msgspec.Struct) and obj.__module__ == model.__name__
        and obj.__name__ != "_Section"
    }
    assert structs - documented == set()


def test_the_not_enforced_marks_cover_every_unenforced_warning() -> None:
    text = (ROOT / "docs" / "configuration.md").read_text()
    for key in ("request_limit_per_minute", "monthly_token_budget", "otlp_endpoint", "export_enabled"):
        line = next(ln for ln in text.splitlines() if ln.startswith(f"| `{key}` "))
        assert "\u26a0" in line, line
