"""Scaling with cores: FerroGate's throughput with 1 worker and with 2, under CPU-bound load.

Two FerroGate instances (``--workers 1`` and ``--workers 2``, the AI config of the main
harness over the nginx mock) get the same wrk load (``-t1 -c64``, one wrk thread to leave the gateway what it can take, interleaved: every
scenario at 1 then 2 workers, once per repetition): ``get_small`` (the proxy suite's
``GET /``) and ``chat`` (the AI suite's non-streaming chat completion). Reported per
scenario: req/s (median over the reps) at 1 and 2 workers, their ratio, the gateway's CPU µs
per request and how busy the box was. On a 2-core box wrk and the mock share the cores with
the gateway, so the ratio's ceiling is below 2: compare it with nginx's, which the main
harness's tables show at 2 workers.

    .venv/bin/python -m benchmarks.scaling --duration 5 --reps 2
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks import cpu
from benchmarks.gateway import CLIENT_KEY, start_gateway
from benchmarks.nginx import start_mock
from benchmarks.payloads import request_bodies
from benchmarks.procs import Service, stop_service
from benchmarks.scenario import write_result
from benchmarks.stats import median
from benchmarks.wrk import run_wrk, wrk_command

# scenario -> (path, request body name or None for GET)
SCENARIOS: dict[str, tuple[str, str | None]] = {
    "get_small": ("/", None),
    "chat": ("/v1/chat/completions", "chat"),
}
WORKER_COUNTS = (1, 2)


def _load(
    gateway: Service, scenario: str, body_file: Path | None, connections: int, duration: float
) -> dict[str, Any]:
    path, body = SCENARIOS[scenario]
    argv = wrk_command(
        f"http://127.0.0.1:{gateway.port}{path}",
        connections=connections,
        duration_s=duration,
        threads=1,
        headers=[("Authorization", f"Bearer {CLIENT_KEY}")],
        post=body is not None,
    )
    env = dict(os.environ)
    if body_file is not None:
        env["FG_BENCH_BODY_FILE"] = str(body_file)
    before, box0 = cpu.snapshot([gateway.pid]), cpu.box_busy()
    try:
        result, _ = run_wrk(argv, env)
    except (RuntimeError, ValueError) as exc:
        return {"error": str(exc)}
    after, box1 = cpu.snapshot([gateway.pid]), cpu.box_busy()
    busy, _ = cpu.box_shares(box0, box1, 0)
    return {
        "rps": result.rps,
        "p99_ms": result.p99_ms,
        "errors": result.errors,
        "box_busy_pct": busy,
        "cpu_us_per_req": cpu.us_per_request(
            before[gateway.pid], after[gateway.pid], result.requests
        ),
    }


def measure(
    *,
    scenarios: list[str],
    duration: float,
    reps: int,
    connections: int,
    settle: float = 0.0,
    log: Any = None,
) -> dict[str, Any]:
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="fg-scaling-") as tmp:
        work = Path(tmp)
        services: list[Service] = []
        try:
            mock = start_mock(work / "mock")
            services.append(mock)
            gateways = {}
            for n in WORKER_COUNTS:
                gateways[n] = start_gateway(work / f"ferrogate-{n}", mock.port, ai=True, workers=n)
                services.append(gateways[n])
            bodies = request_bodies()
            files = {}
            for name in {b for _, b in SCENARIOS.values() if b}:
                files[name] = work / f"{name}.json"
                files[name].write_bytes(bodies[name])
            for scenario in scenarios:  # warm-up, not measured
                for n in WORKER_COUNTS:
                    body = SCENARIOS[scenario][1]
                    _load(gateways[n], scenario, files[body] if body else None, connections, 1.0)
            for rep in range(1, reps + 1):
                for scenario in scenarios:
                    for n in WORKER_COUNTS:
                        if settle > 0:
                            cpu.wait_for_quiet(settle)
                        body = SCENARIOS[scenario][1]
                        rec = _load(
                            gateways[n],
                            scenario,
                            files[body] if body else None,
                            connections,
                            duration,
                        )
                        runs.append({"scenario": scenario, "workers": n, "rep": rep, **rec})
                        if log:
                            log(
                                f"[scaling] rep {rep}/{reps} {scenario} {n} worker(s): "
                                f"{rec.get('rps', 0):,.0f} req/s {rec.get('error', '')}"
                            )
        finally:
            for service in reversed(services):
                stop_service(service)
    return {
        "scenarios": scenarios,
        "duration": duration,
        "reps": reps,
        "connections": connections,
        "summary": summarise(runs, scenarios),
        "runs": runs,
    }


def summarise(runs: list[dict[str, Any]], scenarios: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for scenario in scenarios:
        row: dict[str, Any] = {}
        for n in WORKER_COUNTS:
            ok = [r for r in runs if r["scenario"] == scenario and r["workers"] == n and "rps" in r]
            row[str(n)] = {
                key: median([r[key] for r in ok if r.get(key) is not None])
                for key in ("rps", "p99_ms", "cpu_us_per_req", "box_busy_pct")
            }
            row[str(n)]["errors"] = sum(r["errors"] for r in ok)
        one, two = row["1"]["rps"], row["2"]["rps"]
        row["ratio"] = two / one if one and two else None
        out[scenario] = row
    return out


def _f(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _cores(row: dict[str, Any]) -> float | None:
    """CPU the gateway used, in cores: req/s x CPU per request."""
    if row["rps"] is None or row["cpu_us_per_req"] is None:
        return None
    return float(row["rps"] * row["cpu_us_per_req"] / 1e6)


def describe(results: dict[str, Any]) -> str:
    lines = [
        f"wrk -t1 -c{results['connections']}, {results['duration']:g} s runs, {results['reps']} reps, medians",
        "| scenario | req/s 1 worker | req/s 2 workers | 2 / 1 | CPU us/req 1 / 2 | gateway cores used 1 / 2 "
        "| p99 ms 1 / 2 | errors | box busy % 1 / 2 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for scenario, row in results["summary"].items():
        a, b = row["1"], row["2"]
        lines.append(
            f"| {scenario} | {_f(a['rps'], ',.0f')} | {_f(b['rps'], ',.0f')} | {_f(row['ratio'], '.2f')} "
            f"| {_f(a['cpu_us_per_req'], '.1f')} / {_f(b['cpu_us_per_req'], '.1f')} "
            f"| {_f(_cores(a), '.2f')} / {_f(_cores(b), '.2f')} "
            f"| {_f(a['p99_ms'], '.2f')} / {_f(b['p99_ms'], '.2f')} | {a['errors'] + b['errors']} "
            f"| {_f(a['box_busy_pct'], '.0f')} / {_f(b['box_busy_pct'], '.0f')} |"
        )
    return "\n".join(lines)


def checks(results: dict[str, Any]) -> list[str]:
    return [
        f"- [info] scaling {scenario}: req/s with 2 workers / 1 worker: {_f(row['ratio'], '.2f')} "
        f"({os.cpu_count()} CPUs shared with wrk and the mock)"
        for scenario, row in results["summary"].items()
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--scenarios", default=",".join(SCENARIOS), help="comma list of get_small,chat"
    )
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per wrk run")
    parser.add_argument("--reps", type=int, default=2, help="interleaved repetitions")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections")
    parser.add_argument(
        "--settle",
        type=float,
        default=5.0,
        help="before each run wait up to S s for the box to be < 25%% busy",
    )
    args = parser.parse_args(argv)
    scenarios = [s for s in args.scenarios.split(",") if s]
    if set(scenarios) - set(SCENARIOS):
        parser.error(f"unknown scenarios: {sorted(set(scenarios) - set(SCENARIOS))}")
    results = measure(
        scenarios=scenarios,
        duration=args.duration,
        reps=args.reps,
        connections=args.connections,
        settle=args.settle,
        log=lambda m: print(m, file=sys.stderr, flush=True),
    )
    print(describe(results))
    lines = checks(results)
    print("\n### targets\n" + "\n".join(lines))
    path = write_result("scaling", {"args": vars(args), "results": results, "targets": lines})
    print(f"(raw results: {path})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
