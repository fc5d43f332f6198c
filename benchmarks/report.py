"""Turning run records into the printed table, the target checks and the JSON file."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.stats import median

RESULTS_DIR = Path(__file__).parent / "results"
Record = dict[str, Any]


def _fmt(value: float | None, spec: str = ",.0f") -> str:
    return "-" if value is None else format(value, spec)


def _med(runs: Sequence[Record], key: str) -> float | None:
    return median([r[key] for r in runs if r.get(key) is not None])


def summarise(records: Sequence[Record]) -> dict[tuple[str, int, str], Record]:
    """Median figures per (scenario, connections, target) over the successful reps."""
    groups: dict[tuple[str, int, str], list[Record]] = {}
    for rec in records:
        groups.setdefault((rec["scenario"], rec["connections"], rec["target"]), []).append(rec)
    out: dict[tuple[str, int, str], Record] = {}
    for key, runs in groups.items():
        ok = [r for r in runs if "rps" in r]
        out[key] = {
            "suite": runs[0]["suite"], "reference": runs[0].get("reference"),
            "runs": len(runs), "failed_runs": len(runs) - len(ok),
            "error": next((r["error"] for r in runs if "error" in r), None),
            "rps": _med(ok, "rps"),
            "rps_min": min((r["rps"] for r in ok), default=None),
            "rps_max": max((r["rps"] for r in ok), default=None),
            "p50_ms": _med(ok, "p50_ms"), "p99_ms": _med(ok, "p99_ms"),
            "errors": sum(r["errors"] for r in ok),
            "cpu_us_per_req": _med(ok, "cpu_us_per_req"),
            "mock_cpu_us_per_req": _med(ok, "mock_cpu_us_per_req"),
            "box_busy_pct": _med(ok, "box_busy_pct"),
            "others_pct": _med(ok, "others_pct"),
            # per repetition, for ratios and differences taken rep by rep (_ratio, _cpu_added)
            "rps_by_rep": {r["rep"]: r["rps"] for r in ok},
            "cpu_by_rep": {r["rep"]: r["cpu_us_per_req"] for r in ok if r.get("cpu_us_per_req") is not None},
        }
    return out


def _paired(summary: dict[tuple[str, int, str], Record], key: tuple[str, int, str],
            other: tuple[str, int, str], field: str) -> list[tuple[float, float]]:
    mine, theirs = summary.get(key, {}).get(field) or {}, summary.get(other, {}).get(field) or {}
    return [(mine[rep], theirs[rep]) for rep in mine if rep in theirs and mine[rep] and theirs[rep]]


def _ratio(summary: dict[tuple[str, int, str], Record], key: tuple[str, int, str],
           other: tuple[str, int, str]) -> float | None:
    """req/s of ``key`` over ``other``: the median of the ratios of each repetition's two runs.
    A box whose speed drifts between repetitions (a shared host) moves both runs of a rep
    alike, so their ratio keeps still where a ratio of the two medians would not."""
    return median([a / b for a, b in _paired(summary, key, other, "rps_by_rep")])


def _cpu_added(summary: dict[tuple[str, int, str], Record], key: tuple[str, int, str],
               other: tuple[str, int, str]) -> float | None:
    """Gateway CPU us/req of ``key`` minus ``other``'s, rep by rep, the median difference."""
    return median([a - b for a, b in _paired(summary, key, other, "cpu_by_rep")])


def format_table(summary: dict[tuple[str, int, str], Record]) -> str:
    lines: list[str] = []
    scen_keys = sorted({(s["suite"], k[0], k[1]) for k, s in summary.items()},
                       key=lambda t: (("proxy", "ai", "translate").index(t[0]), t[1], t[2]))
    for suite, scenario, conns in scen_keys:
        lines += ["", f"### {suite} / {scenario}, {conns} connections",
                  "| target | req/s median [min-max] | p50 ms | p99 ms | errors | x direct "
                  "| x nginx | x ref | gateway CPU us/req | mock CPU us/req | box busy % (others) |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for (scen, c, target), s in summary.items():
            if (scen, c) != (scenario, conns):
                continue
            if s["rps"] is None:
                lines.append(f"| {target} | FAILED: {str(s['error'])[:100]} |||||||||")
                continue
            ref = s["reference"]
            x_ref = _ratio(summary, (scen, c, target), (ref[0], c, ref[1])) if ref else None
            cpu = None if target == "direct" else s["cpu_us_per_req"]
            bad = f" (+{s['failed_runs']} failed runs)" if s["failed_runs"] else ""
            lines.append(
                f"| {target} | {_fmt(s['rps'])} [{_fmt(s['rps_min'])}-{_fmt(s['rps_max'])}] "
                f"| {_fmt(s['p50_ms'], '.2f')} | {_fmt(s['p99_ms'], '.2f')} | {s['errors']}{bad} "
                f"| {_fmt(_ratio(summary, (scen, c, target), (scen, c, 'direct')), '.3f')} "
                f"| {_fmt(_ratio(summary, (scen, c, target), (scen, c, 'nginx')), '.3f')} "
                f"| {_fmt(x_ref, '.3f')} | {_fmt(cpu, ',.1f')} "
                f"| {_fmt(s['mock_cpu_us_per_req'], ',.1f')} | {_fmt(s['box_busy_pct'], '.0f')} ({_fmt(s['others_pct'], '.0f')}) |")
    return "\n".join(lines)


def target_checks(summary: dict[tuple[str, int, str], Record], extras: Record) -> list[str]:
    """The issues' targets, evaluated on what was measured (skipped when not measured)."""
    checks: list[str] = []

    def check(label: str, value: float | None, ok: bool | None, goal: str,
              spec: str = ",.3f") -> None:
        if value is not None and ok is not None:
            checks.append(f"- [{'PASS' if ok else 'MISS'}] {label}: {value:{spec}} (target {goal})")

    def get(scen: str, target: str, key: str, conns: int = 32) -> float | None:
        value = summary.get((scen, conns, target), {}).get(key)
        return float(value) if value is not None else None

    r = _ratio(summary, ("get_small", 32, "ferrogate"), ("get_small", 32, "nginx"))
    check("proxy c32 req/s vs nginx", r, r is not None and r >= 0.6, ">= 0.6")
    p_fg, p_ng = get("get_small", "ferrogate", "p99_ms"), get("get_small", "nginx", "p99_ms")
    if p_fg is not None and p_ng:
        check("proxy c32 p99 vs nginx", p_fg / p_ng, p_fg / p_ng <= 2.0, "<= 2.0")
    r = _ratio(summary, ("chat", 32, "ferrogate"), ("chat", 32, "nginx"))
    check("AI chat c32 req/s vs nginx", r, r is not None and r >= 0.3, ">= 0.3")
    for peer, goal in (("litellm", 100.0), ("portkey", 15.0)):
        r = _ratio(summary, ("chat", 32, "ferrogate"), ("chat", 32, peer))
        check(f"AI chat c32 req/s vs {peer}", r, r is not None and r >= goal, f">= {goal:g}")
    cpu = get("chat", "ferrogate", "cpu_us_per_req")
    check("AI chat c32 gateway CPU us/req", cpu, cpu is not None and cpu <= 60, "<= 60", ",.1f")
    # The 60 us goal was set on a box where nginx proxy_pass took 18 us per request; machines
    # differ by 2x, so the same goal as a multiple of nginx's CPU in this run is shown too.
    nginx_cpu = get("chat", "nginx", "cpu_us_per_req")
    if cpu is not None and nginx_cpu:
        check("AI chat c32 gateway CPU / nginx CPU (normalised)", cpu / nginx_cpu,
              cpu / nginx_cpu <= 60 / 18, "<= 3.33 = 60/18 of the reference run", ",.2f")
    for conns in (32, 256):
        # Governance off = chat_ungoverned: the same body shape, varying, to an alias of the
        # same provider model (the plain chat row neither renames the model nor varies its body).
        r = _ratio(summary, ("chat_governed", conns, "ferrogate"), ("chat_ungoverned", conns, "ferrogate"))
        check(f"AI chat c{conns} governed / governance off (req/s)", r, r is not None and r >= 0.9, ">= 0.9")
        added = _cpu_added(summary, ("chat_governed", conns, "ferrogate"), ("chat_ungoverned", conns, "ferrogate"))
        if added is not None:
            check(f"AI chat c{conns} governance gateway CPU us/req added", added, added <= 10, "<= 10", ",.1f")
    for scen in ("chat", "chat_stream"):  # request records (metering, metrics, logs) on vs off
        r = _ratio(summary, (scen, 32, "ferrogate"), (scen, 32, "fg-bare"))
        check(f"AI {scen} c32 records on / off (req/s)", r, r is not None and r >= 0.95, ">= 0.95")
        added = _cpu_added(summary, (scen, 32, "ferrogate"), (scen, 32, "fg-bare"))
        if added is not None:
            checks.append(f"- [info] AI {scen} c32 gateway CPU us/req added by records: {added:,.1f}")
    r = _ratio(summary, ("chat_stream", 32, "ferrogate"), ("chat_stream", 32, "nginx"))
    check("AI stream c32 req/s vs nginx", r, r is not None and r >= 0.8, ">= 0.8")
    for scen in ("openai_in_anthropic_out_stream", "anthropic_in_openai_out_stream"):
        r = _ratio(summary, (scen, 32, "ferrogate"), ("chat_stream", 32, "ferrogate"))
        check(f"{scen} vs untranslated stream", r, r is not None and r >= 0.7, ">= 0.7")
    over = extras.get("overhead", {}).get("ferrogate", {}).get("overhead_p99_ms")
    check("x-ferrogate-overhead-ms p99 at 1 connection", over, over is not None and over < 1.0,
          "< 1 ms")
    for name, res in extras.get("streams", {}).items():
        if "ok" in res:
            check(f"concurrent streams via {name} (ok of {res['count']})", float(res["ok"]),
                  res["ok"] == res["count"], "all end with their terminal event", ",.0f")
    return checks


def format_extras(extras: Record) -> str:
    lines: list[str] = []
    for name, res in extras.get("overhead", {}).items():
        if "error" in res:
            lines.append(f"- one connection, {name}: {res['error']}")
            continue
        lines.append(
            f"- one connection, {name}: {res['requests']} requests, {res['errors']} errors, "
            f"client p50/p99 {_fmt(res['client_p50_ms'], '.3f')}/{_fmt(res['client_p99_ms'], '.3f')} ms"
            + (f"; x-ferrogate-overhead-ms p50/p99/max {_fmt(res['overhead_p50_ms'], '.3f')}/"
               f"{_fmt(res['overhead_p99_ms'], '.3f')}/{_fmt(res['overhead_max_ms'], '.3f')} "
               f"(missing on {res['overhead_missing']})" if name.startswith("ferrogate") else ""))
    for name, res in extras.get("streams", {}).items():
        if "error" in res:
            lines.append(f"- concurrent streams, {name}: {res['error']}")
            continue
        lines.append(
            f"- {res['count']} concurrent streams via {name}: {res['ok']} ended with their "
            f"terminal event in {res['wall_s']:.2f} s (per stream p50/p99/max "
            f"{_fmt(res['stream_p50_s'], '.3f')}/{_fmt(res['stream_p99_s'], '.3f')}/"
            f"{_fmt(res['stream_max_s'], '.3f')} s); failures: {res['failures'] or 'none'}")
    return "\n".join(lines)


def write_json(payload: Record, results_dir: Path = RESULTS_DIR) -> Path:
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / f"{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(payload, indent=1, default=str))
    return path
