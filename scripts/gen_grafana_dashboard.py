"""Writes deploy/grafana/ferrogate.json from the metric names (run after adding a metric:
`.venv/bin/python scripts/gen_grafana_dashboard.py`; tests/observability/test_grafana_dashboard.py
fails while a metric has no panel)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ferrogate.observability import metric_names as M

DS = {"type": "prometheus", "uid": "${datasource}"}
SEL = 'job=~"$job", instance=~"$instance"'
RI = "$__rate_interval"

panels: list[dict] = []
next_id = 1
y = 0
x = 0
row_height = 0


def _newline() -> None:
    global x, y, row_height
    if x:
        y += row_height
        x = 0
        row_height = 0


def row(title: str) -> None:
    global next_id, y
    _newline()
    panels.append({"id": next_id, "type": "row", "title": title, "collapsed": False, "panels": [], "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}})
    next_id += 1
    y += 1


def panel(
    title: str,
    targets: list[tuple[str, str]],
    *,
    unit: str = "short",
    kind: str = "timeseries",
    w: int = 8,
    h: int = 8,
    description: str = "",
    stack: bool = False,
    extra_defaults: dict | None = None,
    options: dict | None = None,
    min0: bool = True,
) -> None:
    global next_id, x, y, row_height
    if x + w > 24:
        _newline()
    defaults: dict = {"unit": unit}
    if kind == "timeseries":
        defaults["custom"] = {
            "drawStyle": "line", "lineWidth": 1, "fillOpacity": 10 if not stack else 30, "showPoints": "never",
            "spanNulls": False, "stacking": {"mode": "normal" if stack else "none", "group": "A"},
        }
    if min0:
        defaults["min"] = 0
    if extra_defaults:
        defaults.update(extra_defaults)
    opts: dict
    if kind == "timeseries":
        opts = {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                "tooltip": {"mode": "multi", "sort": "desc"}}
    elif kind == "stat":
        opts = {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                "colorMode": "value", "graphMode": "area", "justifyMode": "auto", "orientation": "auto", "textMode": "auto"}
    else:
        opts = {}
    if options:
        opts.update(options)
    panels.append({
        "id": next_id,
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DS,
        "gridPos": {"h": h, "w": w, "x": x, "y": y},
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": opts,
        "targets": [
            {"refId": chr(ord("A") + i), "datasource": DS, "expr": expr, "legendFormat": legend, "range": True, "instant": False}
            for i, (expr, legend) in enumerate(targets)
        ],
    })
    next_id += 1
    x += w
    row_height = max(row_height, h)


def quantiles(metric: str, by: str = "") -> list[tuple[str, str]]:
    group = f"le{', ' + by if by else ''}"
    out = []
    for q in ("0.5", "0.95", "0.99"):
        legend = f"p{int(float(q) * 100)}" + (" {{" + by + "}}" if by else "")
        out.append((f"histogram_quantile({q}, sum by ({group}) (rate({metric}_bucket{{{SEL}}}[{RI}])))", legend))
    return out


# ---------------------------------------------------------------- overview
row("Overview")
panel("Requests / s", [(f"sum(rate(ferrogate_http_responses_total{{{SEL}}}[{RI}]))", "all responses")],
      unit="reqps", kind="stat", w=4, h=5, description="Every response of the public listeners.")
panel("AI requests / s", [(f"sum(rate(ferrogate_requests_total{{{SEL}}}[{RI}]))", "AI requests")],
      unit="reqps", kind="stat", w=4, h=5)
panel("5xx share", [(
    f'sum(rate(ferrogate_http_responses_total{{{SEL}, code=~"5.."}}[{RI}])) / sum(rate(ferrogate_http_responses_total{{{SEL}}}[{RI}]))',
    "5xx")], unit="percentunit", kind="stat", w=4, h=5,
    extra_defaults={"thresholds": {"mode": "absolute", "steps": [{"color": "green", "value": None}, {"color": "orange", "value": 0.01}, {"color": "red", "value": 0.05}]}})
panel("AI p95 latency", [(
    f"histogram_quantile(0.95, sum by (le) (rate(ferrogate_request_duration_seconds_bucket{{{SEL}}}[{RI}])))", "p95")],
    unit="s", kind="stat", w=4, h=5)
panel("Cost in range", [(f"sum(increase(ferrogate_cost_usd_total{{{SEL}}}[$__range]))", "USD")],
      unit="currencyUSD", kind="stat", w=4, h=5, options={"graphMode": "none"})
panel("Worker restarts in range", [(f"sum(increase(ferrogate_worker_restarts_total{{{SEL}}}[$__range]))", "restarts")],
      unit="short", kind="stat", w=4, h=5, options={"graphMode": "none"},
      extra_defaults={"thresholds": {"mode": "absolute", "steps": [{"color": "green", "value": None}, {"color": "red", "value": 1}]}})

# ---------------------------------------------------------------- traffic
row("Traffic")
panel("Responses / s by status class", [(
    f'sum by (class) (label_replace(rate(ferrogate_http_responses_total{{{SEL}}}[{RI}]), "class", "${{1}}xx", "code", "([0-9]).."))',
    "{{class}}")], unit="reqps", stack=True,
    description="Every response of the public listeners (404s and malformed-request 400s included), from the workers' heartbeats.")
panel("AI requests / s by status class", [(f"sum by (status_class) (rate(ferrogate_requests_total{{{SEL}}}[{RI}]))", "{{status_class}}")],
      unit="reqps", stack=True)
panel("AI requests / s by model and provider", [(
    f"sum by (model, provider) (rate(ferrogate_requests_total{{{SEL}}}[{RI}]))", "{{model}} via {{provider}}")],
    unit="reqps", description='"other" counts model names the config does not have.')
panel("AI requests / s by endpoint", [(f"sum by (endpoint) (rate(ferrogate_requests_total{{{SEL}}}[{RI}]))", "{{endpoint}}")],
      unit="reqps")
panel("In-flight requests and streams", [
    (f"sum(ferrogate_inflight_requests{{{SEL}}})", "requests"),
    (f"sum(ferrogate_inflight_streams{{{SEL}}})", "streams"),
], unit="short")
panel("Open connections", [(f"sum by (instance) (ferrogate_open_connections{{{SEL}}})", "{{instance}}")], unit="short")

# ---------------------------------------------------------------- errors
row("Errors")
panel("Error responses / s by code", [(
    f'sum by (code) (rate(ferrogate_http_responses_total{{{SEL}, code=~"[45].."}}[{RI}]))', "{{code}}")], unit="reqps")
panel("AI error share by model", [(
    f'sum by (model) (rate(ferrogate_requests_total{{{SEL}, status_class=~"4xx|5xx"}}[{RI}])) / sum by (model) (rate(ferrogate_requests_total{{{SEL}}}[{RI}]))',
    "{{model}}")], unit="percentunit")
panel("Upstream errors / s by provider and kind", [(
    f"sum by (provider, kind) (rate(ferrogate_upstream_errors_total{{{SEL}}}[{RI}]))", "{{provider}}: {{kind}}")],
    unit="reqps", description="Failed upstream attempts (a retried request can add several).")
panel("Retries and fallbacks / s", [
    (f"sum by (provider) (rate(ferrogate_retries_total{{{SEL}}}[{RI}]))", "retries {{provider}}"),
    (f"sum by (model) (rate(ferrogate_fallbacks_total{{{SEL}}}[{RI}]))", "fallbacks {{model}}"),
], unit="reqps")
panel("Circuit breakers", [(
    f'max by (provider, provider_model) (ferrogate_breaker_state{{{SEL}, state="open"}}) * 2 + max by (provider, provider_model) (ferrogate_breaker_state{{{SEL}, state="half_open"}})',
    "{{provider}} / {{provider_model}}")], kind="state-timeline", w=16, unit="none",
    extra_defaults={
        "mappings": [{"type": "value", "options": {
            "0": {"text": "closed", "color": "green", "index": 0},
            "1": {"text": "half open", "color": "orange", "index": 1},
            "2": {"text": "open", "color": "red", "index": 2}}}],
        "color": {"mode": "thresholds"},
        "thresholds": {"mode": "absolute", "steps": [{"color": "green", "value": None}, {"color": "orange", "value": 1}, {"color": "red", "value": 2}]},
    },
    options={"showValue": "never", "mergeValues": True, "rowHeight": 0.9,
             "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True}})
panel("Rate limit and budget rejections / s", [(
    f"sum by (reason) (rate(ferrogate_limit_rejections_total{{{SEL}}}[{RI}]))", "{{reason}}")], unit="reqps")

# ---------------------------------------------------------------- latency
row("Latency")
panel("AI request duration", quantiles("ferrogate_request_duration_seconds"), unit="s",
      description="From taking an AI request to its last byte.")
panel("Time to first token", quantiles("ferrogate_time_to_first_token_seconds"), unit="s",
      description="From taking an AI request to the first byte of its answer.")
panel("Gateway overhead", quantiles("ferrogate_gateway_overhead_seconds"), unit="s",
      description="Time in the gateway itself, upstream waits excluded.")
panel("p95 duration by model", [(
    f"histogram_quantile(0.95, sum by (le, model) (rate(ferrogate_request_duration_seconds_bucket{{{SEL}}}[{RI}])))", "{{model}}")], unit="s")
panel("p95 time to first token by model", [(
    f"histogram_quantile(0.95, sum by (le, model) (rate(ferrogate_time_to_first_token_seconds_bucket{{{SEL}}}[{RI}])))", "{{model}}")], unit="s")
panel("Mean duration by endpoint", [(
    f"sum by (endpoint) (rate(ferrogate_request_duration_seconds_sum{{{SEL}}}[{RI}])) / sum by (endpoint) (rate(ferrogate_request_duration_seconds_count{{{SEL}}}[{RI}]))",
    "{{endpoint}}")], unit="s")

# ---------------------------------------------------------------- tokens and cost
row("Tokens and cost")
panel("Tokens / s by model and direction", [(
    f"sum by (model, direction) (rate(ferrogate_tokens_total{{{SEL}}}[{RI}]))", "{{model}} {{direction}}")], unit="short",
    description="Cached and reasoning tokens are parts of input and output.")
panel("Tokens / s by provider", [(
    f'sum by (provider) (rate(ferrogate_tokens_total{{{SEL}, direction=~"input|output"}}[{RI}]))', "{{provider}}")], unit="short")
panel("Cost (USD / hour) by model and provider", [(
    f"sum by (model, provider) (rate(ferrogate_cost_usd_total{{{SEL}}}[{RI}])) * 3600", "{{model}} via {{provider}}")],
    unit="currencyUSD", stack=True)

# ---------------------------------------------------------------- cache
row("Cache")
panel("Cache hit rate", [(
    f'sum(rate(ferrogate_cache_lookups_total{{{SEL}, result="hit"}}[{RI}])) / sum(rate(ferrogate_cache_lookups_total{{{SEL}, result=~"hit|miss"}}[{RI}]))',
    "hit rate")], unit="percentunit", extra_defaults={"max": 1}, description="Hits over hits and misses (bypasses left out).")
panel("Cache lookups / s by result", [(
    f"sum by (result) (rate(ferrogate_cache_lookups_total{{{SEL}}}[{RI}]))", "{{result}}")], unit="reqps", stack=True)
panel("Saved by the cache (USD / hour)", [(
    f"sum(rate(ferrogate_cache_saved_cost_usd_total{{{SEL}}}[{RI}])) * 3600", "saved")], unit="currencyUSD")

# ---------------------------------------------------------------- node
row("Node")
panel("Workers by state", [(f"sum by (state) (ferrogate_workers{{{SEL}}})", "{{state}}")], unit="short", stack=True)
panel("Nodes and versions", [(f"count by (node_id, version) (ferrogate_node_info{{{SEL}}})", "{{node_id}} {{version}}")],
      unit="short", description="Each scraped node, named by cluster.node_id, and the FerroGate version it runs.")
panel("Worker restarts", [(f"sum(increase(ferrogate_worker_restarts_total{{{SEL}}}[{RI}]))", "restarts")], unit="short",
      description="Workers the supervisor started again after one died.")
panel("Dropped request records", [(f"sum(increase(ferrogate_records_dropped_total{{{SEL}}}[{RI}]))", "dropped")], unit="short",
      description="Records a worker dropped because its queue to the control process was full: missing from logs, metering and these AI metrics.")
panel("Dropped by the OTLP exporter", [(f"sum(increase(ferrogate_otlp_records_dropped_total{{{SEL}}}[{RI}]))", "dropped")], unit="short",
      description="Records the OTLP exporter dropped (its queue was full): missing spans, OTLP metrics and logs only.")

# ---------------------------------------------------------------- metering export (when the gateway has it)
names = {m.name for m in M.ALL}
if {"ferrogate_metering_exported", "ferrogate_metering_export_failures", "ferrogate_metering_outbox_events"} <= names:
    row("Metering export")
    panel("Metering events exported / s", [(f"sum(rate(ferrogate_metering_exported_total{{{SEL}}}[{RI}]))", "exported")], unit="short")
    panel("Metering export failures / s", [(f"sum(rate(ferrogate_metering_export_failures_total{{{SEL}}}[{RI}]))", "failures")], unit="short")
    panel("Metering outbox backlog", [(f"sum(ferrogate_metering_outbox_events{{{SEL}}})", "events waiting")], unit="short",
          description="Metering events stored and not yet exported.")

# ---------------------------------------------------------------- MCP tools
row("MCP tools")
panel("Tool calls / s by tool and outcome", [(
    f"sum by (tool, outcome) (rate(ferrogate_mcp_tool_calls_total{{{SEL}}}[{RI}]))", "{{tool}}: {{outcome}}")],
    unit="reqps", stack=True)
panel("Mean tool call duration", [(
    f"sum by (tool) (rate(ferrogate_mcp_tool_call_seconds_total{{{SEL}}}[{RI}]))"
    f" / sum by (tool) (rate(ferrogate_mcp_tool_calls_total{{{SEL}}}[{RI}]))", "{{tool}}")], unit="s")

_newline()


def query_var(name: str, label: str, query: str) -> dict:
    return {
        "name": name, "label": label, "type": "query", "datasource": DS,
        "definition": query, "query": {"query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery", "qryType": 1},
        "refresh": 2, "includeAll": True, "multi": True, "allValue": ".*",
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]}, "options": [], "regex": "", "sort": 1, "hide": 0,
    }


dashboard = {
    "annotations": {"list": [{
        "builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"}, "enable": True, "hide": True,
        "iconColor": "rgba(0, 211, 255, 1)", "name": "Annotations & Alerts", "type": "dashboard"}]},
    "description": "FerroGate AI gateway: traffic, errors, latency, tokens and cost, cache, limits and the node's workers (GET /metrics).",
    "editable": True,
    "fiscalYearStartMonth": 0,
    "graphTooltip": 1,
    "id": None,
    "links": [],
    "liveNow": False,
    "panels": panels,
    "refresh": "30s",
    "schemaVersion": 39,
    "tags": ["ferrogate", "ai-gateway"],
    "templating": {"list": [
        {"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus", "regex": "",
         "current": {}, "options": [], "refresh": 1, "hide": 0, "includeAll": False, "multi": False},
        query_var("job", "Job", "label_values(ferrogate_http_responses_total, job)"),
        query_var("instance", "Instance", 'label_values(ferrogate_http_responses_total{job=~"$job"}, instance)'),
    ]},
    "time": {"from": "now-1h", "to": "now"},
    "timepicker": {},
    "timezone": "",
    "title": "FerroGate",
    "uid": "ferrogate-overview",
    "version": 1,
    "weekStart": "",
}

out = sys.argv[1] if len(sys.argv) > 1 else str(Path(__file__).resolve().parents[1] / "deploy/grafana/ferrogate.json")
with open(out, "w") as f:
    json.dump(dashboard, f, indent=2)
    f.write("\n")
print(out, len(panels), "panels")
