"""Where a loaded gateway's CPU goes, process by process: supervisor, control, each worker,
and the OTLP collector when there is one.

The wrk rows of ``benchmarks.run`` give a whole gateway's CPU per request; on a shared
2-core box that figure moves by a third between runs, and it cannot say whether a change
to the control process (records, metering, OTLP) helped. This starts the nginx mock, a
FerroGate with the AI config (2 workers, records on unless ``--no-records``) and, with
``--otlp``, a collector (rotel, or with ``--otlp-collector discard`` an nginx answering 200);
runs wrk against chat completions (streamed with ``--scenario chat_stream``); and prints each
process's CPU per request served. The OpenTelemetry variables of the environment reach the gateway:

    .venv/bin/python -m benchmarks.process_cpu --otlp
    OTEL_TRACES_SAMPLER=parentbased_traceidratio OTEL_TRACES_SAMPLER_ARG=0.01 \\
    OTEL_LOGS_EXPORTER=none .venv/bin/python -m benchmarks.process_cpu --otlp

Run it A B A B against a worktree of the other build (``PYTHONPATH=<worktree>``).
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from benchmarks.cpu import read_all_stats, tree_ticks, us_per_request
from benchmarks.gateway import CLIENT_KEY, start_gateway
from benchmarks.nginx import start_mock
from benchmarks.otlp_collector import COLLECTORS, start_otlp_collector
from benchmarks.payloads import request_bodies
from benchmarks.procs import LOOPBACK, Service, stop_service
from benchmarks.wrk import run_wrk, wrk_command


def descendants(root: int) -> list[int]:
    """``root`` and every process below it, parents first."""
    children: dict[int, list[int]] = {}
    for st in read_all_stats():
        children.setdefault(st.ppid, []).append(st.pid)
    out, todo = [], [root]
    while todo:
        pid = todo.pop(0)
        out.append(pid)
        todo.extend(sorted(children.get(pid, [])))
    return out


def ticks(pids: list[int], collector: int | None) -> list[int]:
    """Each of ``pids``' CPU ticks so far, then the collector's with its children's (nginx's
    worker, say)."""
    stats = read_all_stats()
    by_pid = {st.pid: st.ticks for st in stats}
    return [by_pid.get(pid, 0) for pid in pids] + ([tree_ticks(stats, collector)] if collector is not None else [])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--otlp", action="store_true", help="export OTLP to a collector the harness starts")
    ap.add_argument("--otlp-collector", choices=COLLECTORS, default="rotel",
                    help="with --otlp: rotel (a real collector) or discard (nginx answering 200)")
    ap.add_argument("--no-records", action="store_true",
                    help="telemetry.request_records = false (the fg-bare row: no records, metering or metrics)")
    ap.add_argument("--scenario", choices=("chat", "chat_stream"), default="chat",
                    help="the request wrk sends: a chat completion, or the same streamed")
    ap.add_argument("--duration", type=float, default=6.0, help="seconds of wrk load")
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--runs", type=int, default=1,
                    help="wrk loads in a row against the same gateway (does its cost grow with what it stored?)")
    args = ap.parse_args()
    services: list[Service] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        try:
            mock = start_mock(work / "mock")
            services.append(mock)
            collector = None
            if args.otlp:
                collector = start_otlp_collector(args.otlp_collector, work / "collector")
                services.append(collector)
            otlp = f"http://{LOOPBACK}:{collector.port}" if collector is not None else None
            gateway = start_gateway(work / "gw", mock.port, ai=True, workers=2, otlp_endpoint=otlp,
                                    records=not args.no_records)
            services.append(gateway)
            body = work / "chat.json"
            body.write_bytes(request_bodies()[args.scenario])
            tree = descendants(gateway.pid)  # supervisor, control, then the workers
            names = ["supervisor", "control"] + [f"worker {i}" for i in range(1, len(tree) - 1)]
            collector_pid = collector.pid if collector is not None else None
            names += ["collector"] if collector is not None else []
            for run in range(1, args.runs + 1):
                before = ticks(tree, collector_pid)
                result, _ = run_wrk(
                    wrk_command(f"http://{LOOPBACK}:{gateway.port}/v1/chat/completions",
                                connections=args.connections, duration_s=args.duration,
                                headers=(("Authorization", f"Bearer {CLIENT_KEY}"),), post=True),
                    dict(os.environ, FG_BENCH_BODY_FILE=str(body)),
                )
                after = ticks(tree, collector_pid)
                print(f"run {run}/{args.runs}, {args.scenario} c{args.connections}: {result.rps:,.0f} req/s, "
                      f"{result.requests:,} requests, {result.errors} errors", flush=True)
                for name, was, now in zip(names, before, after, strict=True):
                    print(f"{name:12} {us_per_request(was, now, result.requests) or 0.0:7.2f} us/request", flush=True)
        finally:
            for service in reversed(services):
                stop_service(service)


if __name__ == "__main__":
    main()
