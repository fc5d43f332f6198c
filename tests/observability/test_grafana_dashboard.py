"""The Grafana dashboard (deploy/grafana/ferrogate.json) stays in step with the metrics: it queries
only names /metrics exports, shows every metric, and its PromQL parses (promtool). The e2e metrics
tests also run every query on a real Prometheus that scraped a gateway."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

from ferrogate.observability import metric_names

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "ferrogate.json"
METRIC = re.compile(r"\bferrogate_[a-z_]+")
# Grafana's variables, as a dashboard user's choice of them would make each query.
_VARIABLES = {"__rate_interval": "1m", "__range": "5m", "__interval": "15s", "job": ".*", "instance": ".*"}
_VARIABLE = re.compile(r"\$(?:\{(\w+)\}|(\w+))")


def load() -> dict[str, Any]:
    dashboard: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return dashboard


def graph_panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel but the rows (which only group the panels below them)."""
    out = []
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            out.extend(panel.get("panels", []))
        else:
            out.append(panel)
    return out


def exprs(dashboard: dict[str, Any]) -> list[str]:
    return [t["expr"] for p in graph_panels(dashboard) for t in p["targets"]]


def variable_queries(dashboard: dict[str, Any]) -> list[str]:
    return [v["definition"] for v in dashboard["templating"]["list"] if v["type"] == "query"]


def concrete(expr: str) -> str:
    """``expr`` with Grafana's variables filled in (``${1}`` of label_replace stays)."""

    def fill(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        return _VARIABLES.get(name, match.group(0))

    return _VARIABLE.sub(fill, expr)


def test_the_dashboard_is_grafana_json_with_a_prometheus_datasource_variable() -> None:
    dashboard = load()
    assert 36 <= dashboard["schemaVersion"] <= 41
    assert dashboard["uid"] and dashboard["title"]
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert (variables["datasource"]["type"], variables["datasource"]["query"]) == ("datasource", "prometheus")


def test_every_panel_queries_the_datasource_variable_with_an_expression() -> None:
    panels = graph_panels(load())
    assert len(panels) >= 20
    for panel in panels:
        assert panel["targets"], panel["title"]
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        for target in panel["targets"]:
            assert target["expr"].strip() and target["datasource"]["uid"] == "${datasource}", panel["title"]


def test_panels_have_unique_ids_and_do_not_overlap_on_the_grid() -> None:
    dashboard = load()
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    taken: set[tuple[int, int]] = set()
    for panel in dashboard["panels"]:
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24, panel["title"]
        cells = {(pos["x"] + dx, pos["y"] + dy) for dx in range(pos["w"]) for dy in range(pos["h"])}
        assert not cells & taken, f"{panel['title']} overlaps another panel"
        taken |= cells


def test_the_dashboard_names_only_metrics_the_gateway_exports() -> None:
    dashboard = load()
    named = {m for text in exprs(dashboard) + variable_queries(dashboard) for m in METRIC.findall(text)}
    assert named and named <= metric_names.exported_names(), sorted(named - metric_names.exported_names())


def test_every_metric_the_gateway_exports_has_a_panel() -> None:
    named = {m for text in exprs(load()) for m in METRIC.findall(text)}
    missing = []
    for metric in metric_names.ALL:
        series = {metric.name + "_total"} if metric.type == "counter" else {metric.name + "_bucket"} if metric.type == "histogram" else {metric.name}
        if not series & named:
            missing.append(metric.name)
    assert missing == []


def test_latency_panels_show_p50_p95_and_p99_from_the_histogram_buckets() -> None:
    text = "\n".join(exprs(load()))
    for metric in metric_names.ALL:
        if metric.type != "histogram":
            continue
        for q in ("0.5", "0.95", "0.99"):
            pattern = rf"histogram_quantile\({q}, sum by \(le\) \(rate\({metric.name}_bucket\{{"
            assert re.search(pattern, text), f"p{q} of {metric.name}"


def test_every_query_parses_as_promql(tmp_path: Path) -> None:
    """promtool parses each query (variables filled in) as a recording rule's expression."""
    rules = tmp_path / "dashboard-rules.yml"
    lines = ["groups:", "  - name: dashboard", "    rules:"]
    dashboard = load()
    for i, expr in enumerate(exprs(dashboard)):
        lines += [f"      - record: dashboard:query_{i}", f"        expr: {json.dumps(concrete(expr))}"]
    rules.write_text("\n".join(lines) + "\n")
    check = subprocess.run(["promtool", "check", "rules", str(rules)], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    assert f"SUCCESS: {len(exprs(dashboard))} rules found" in check.stdout
