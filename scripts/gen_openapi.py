"""Write docs/openapi/admin-api.openapi.json from the admin API's types (ferrogate.control.openapi).

    .venv/bin/python scripts/gen_openapi.py

tests/control/test_openapi.py fails when the checked-in document differs from what this writes.
"""

from __future__ import annotations

from pathlib import Path

from ferrogate.control.openapi import render

TARGET = Path(__file__).resolve().parents[1] / "docs" / "openapi" / "admin-api.openapi.json"

if __name__ == "__main__":
    TARGET.write_text(render())
    print(f"wrote {TARGET}")
