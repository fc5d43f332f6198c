"""docs/observability.md lists every metric the gateway exports."""

from __future__ import annotations

from pathlib import Path

from ferrogate.observability.metric_names import ALL

DOC = Path(__file__).resolve().parents[2] / "docs" / "observability.md"


def test_every_exported_metric_is_in_the_metrics_table() -> None:
    text = DOC.read_text()
    missing = [
        m.name + ("_total" if m.type == "counter" else "")
        for m in ALL
        if f"`{m.name}{'_total' if m.type == 'counter' else ''}`" not in text
    ]
    assert missing == []
