"""Entry point: ``python -m benchmarks.run [--quick] [--suites proxy,ai,translate,...] [--peers]``.

Starts the nginx mock, nginx ``proxy_pass`` and FerroGate (plus LiteLLM/Portkey with
``--peers``), loads every case with wrk in interleaved repetitions (A B C, A B C, ...),
adds the one-connection latency and concurrent-streams checks, then runs the at-scale
suites (benchmarks/at_scale.py: paced token streams, overload, idle connections, leak
guard, scaling with cores; each on its own services), prints the tables and writes the raw
records to benchmarks/results/<timestamp>.json. Every process it starts is stopped in
``finally``; only 127.0.0.1 is used.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from benchmarks import at_scale, cpu, nginx, peers
from benchmarks.gateway import CLIENT_KEY, start_gateway
from benchmarks.httpwire import last_event
from benchmarks.otlp_collector import COLLECTORS, start_otlp_collector
from benchmarks.overhead import one_connection_latency
from benchmarks.payloads import request_bodies
from benchmarks.plan import SUITES, Case, Running, build_cases
from benchmarks.procs import LOOPBACK, Service, http_status, raw_request, stop_service
from benchmarks.redis_server import start_redis
from benchmarks.report import format_extras, format_table, summarise, target_checks, write_json
from benchmarks.scenario import raise_nofile
from benchmarks.streams import concurrent_streams
from benchmarks.wrk import run_wrk, wrk_command
from ferrogate import compiled


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="short smoke run: 3 s runs, 1 rep, 200 streams, 300 latency requests,"
                        " small at-scale suites")
    p.add_argument("--suites", default=",".join(SUITES + at_scale.SUITES),
                   help=f"comma list of {','.join(SUITES + at_scale.SUITES)} (default: all)")
    p.add_argument("--duration", type=float, help="seconds per wrk run (default 8; quick 3)")
    p.add_argument("--reps", type=int, help="interleaved repetitions (default 3; quick 1)")
    p.add_argument("--connections", default="32,256", help="comma list of wrk connection counts")
    p.add_argument("--threads", type=int, default=2, help="wrk threads")
    p.add_argument("--workers", type=int, default=2, help="FerroGate and nginx proxy workers")
    p.add_argument("--streams", type=int, help="concurrent SSE streams (default 1000; quick 200)")
    p.add_argument("--latency-requests", type=int,
                   help="sequential requests at one connection (default 2000; quick 300)")
    p.add_argument("--peers", action="store_true", help="also start LiteLLM and Portkey")
    p.add_argument("--counter-backend", choices=("local", "redis"), default="local",
                   help="FerroGate's limit counters (and cache): local shared memory, or a"
                        " redis-server the harness starts (cluster mode)")
    p.add_argument("--otlp", action="store_true",
                   help="FerroGate (the records-on rows) also exports OTLP traces, metrics and logs"
                        " to a collector the harness starts")
    p.add_argument("--otlp-collector", choices=COLLECTORS, default="rotel",
                   help="with --otlp: rotel (a real collector, decoding on the same cores) or discard"
                        " (nginx answering 200: the gateway's own cost)")
    p.add_argument("--allow-pure", action="store_true",
                   help="measure even when the gateway would run pure Python (a stale or missing"
                        " compiled build; by default the run stops and says to `make compiled`)")
    p.add_argument("--settle", type=float,
                   help="before each run, wait up to S seconds for the box to be < 25%% busy "
                        "(default 10; quick 0)")
    args = p.parse_args(argv)
    args.suites = [s for s in args.suites.split(",") if s]
    unknown = set(args.suites) - set(SUITES) - set(at_scale.SUITES)
    if unknown:
        p.error(f"unknown suites: {', '.join(sorted(unknown))}")
    args.connections = [int(c) for c in args.connections.split(",") if c]
    args.duration = args.duration or (3.0 if args.quick else 8.0)
    args.reps = args.reps or (1 if args.quick else 3)
    args.streams = args.streams or (200 if args.quick else 1000)
    args.latency_requests = args.latency_requests or (300 if args.quick else 2000)
    if args.settle is None:
        args.settle = 0.0 if args.quick else 10.0
    return args


def probe(case: Case, body: bytes | None) -> str | None:
    """One request before the load: None when it answers 200 (and the stream is complete)."""
    request = raw_request("POST" if body is not None else "GET", case.path, body=body or b"",
                          headers=case.headers)
    try:
        status, decoded = http_status(case.port, request, timeout=10)
    except OSError as exc:
        return f"{type(exc).__name__}: {exc}"
    if status != 200:
        return f"HTTP {status}: {decoded[:300]!r}"
    if case.terminal is not None and not last_event(decoded).startswith(case.terminal):
        return f"stream did not end with {case.terminal!r}: ...{decoded[-200:]!r}"
    return None


def load_once(case: Case, connections: int, args: argparse.Namespace, body_files: dict[str, Path],
              roots: Sequence[int], mock_pid: int, rep: int) -> dict[str, Any]:
    """One wrk run against one case, with CPU accounting around it."""
    argv = wrk_command(f"http://127.0.0.1:{case.port}{case.path}", connections=connections,
                       duration_s=args.duration, threads=args.threads, headers=case.headers,
                       post=case.body is not None, vary_body=case.vary_body)
    env = dict(os.environ)
    if case.body is not None:
        env["FG_BENCH_BODY_FILE"] = str(body_files[case.body])
    record: dict[str, Any] = {"suite": case.suite, "scenario": case.scenario,
                              "target": case.target, "connections": connections, "rep": rep,
                              "reference": case.reference}
    before, box0 = cpu.snapshot(roots), cpu.box_busy()
    wrk0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        result, raw = run_wrk(argv, env)
    except (RuntimeError, ValueError, subprocess.TimeoutExpired) as exc:
        record["error"] = str(exc)
        return record
    if result.requests == 0:  # wrk then prints a latency distribution of zeros
        record["error"] = f"no request completed in {args.duration:g} s"
        return record
    after, box1 = cpu.snapshot(roots), cpu.box_busy()
    wrk1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    wrk_ticks = round((wrk1.ru_utime + wrk1.ru_stime - wrk0.ru_utime - wrk0.ru_stime) * cpu.CLK_TCK)
    busy_pct, others_pct = cpu.box_shares(
        box0, box1, wrk_ticks + sum(after[r] - before.get(r, 0) for r in after))
    record.update(
        rps=result.rps, p50_ms=result.p50_ms, p99_ms=result.p99_ms, requests=result.requests,
        errors=result.errors, non_2xx=result.non_2xx, socket_errors=result.socket_errors,
        cpu_us_per_req=(cpu.us_per_request(before[case.cpu_root], after[case.cpu_root],
                                           result.requests) if case.cpu_root else None),
        mock_cpu_us_per_req=cpu.us_per_request(before[mock_pid], after[mock_pid],
                                               result.requests),
        box_busy_pct=busy_pct, others_pct=others_pct,
        wrk_output=raw,
    )
    return record


def tool_versions() -> dict[str, str]:
    def first_line(cmd: list[str]) -> str:
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=20, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"? ({exc})"
        text = (done.stdout + done.stderr).strip()
        return text.splitlines()[0] if text else "?"

    return {"nginx": first_line(["nginx", "-v"]), "wrk": first_line(["wrk", "-v"]),
            "python": platform.python_version(), "cpus": str(os.cpu_count()),
            "kernel": platform.release()}


def _start_optional(name: str, starter: Callable[[], Service], skipped: dict[str, str],
                    services: list[Service]) -> Service | None:
    try:
        service = starter()
    except Exception as exc:  # an optional service is reported, never fatal
        skipped[name] = f"{type(exc).__name__}: {str(exc)[:600]}"
        log(f"[skip] {name}: {skipped[name]}")
        return None
    services.append(service)
    log(f"[start] {name} pid={service.pid} port={service.port}")
    return service


def _gateway(work: Path, mock_port: int, args: argparse.Namespace, skipped: dict[str, str],
             services: list[Service]) -> tuple[Service | None, bool]:
    """FerroGate with AI routes when asked for; falls back to the proxy-only config."""
    want_ai = bool({"ai", "translate"} & set(args.suites))
    if want_ai:
        redis_url = None
        if args.counter_backend == "redis":
            redis = _start_optional("redis", lambda: start_redis(work / "redis"), skipped, services)
            if redis is None:
                return None, False
            redis_url = str(redis.extra["url"])
        otlp = None
        if args.otlp:
            collector = _start_optional(args.otlp_collector, lambda: start_otlp_collector(
                args.otlp_collector, work / "collector"), skipped, services)
            if collector is None:
                return None, False
            otlp = f"http://{LOOPBACK}:{collector.port}"
        gw = _start_optional("ferrogate (AI config)", lambda: start_gateway(
            work / "ferrogate-ai", mock_port, ai=True, workers=args.workers, redis_url=redis_url,
            otlp_endpoint=otlp), skipped, services)
        if gw is not None:
            return gw, True
    gw = _start_optional("ferrogate", lambda: start_gateway(
        work / "ferrogate", mock_port, ai=False, workers=args.workers), skipped, services)
    return gw, False


def _extras(run: Running, args: argparse.Namespace, bodies: dict[str, bytes]) -> dict[str, Any]:
    """One-connection latency and concurrent streams (each bounded in count and time)."""
    up_auth = [("Authorization", "Bearer sk-mock-upstream")]
    client_auth = [("Authorization", f"Bearer {CLIENT_KEY}")]
    extras: dict[str, Any] = {"overhead": {}, "streams": {}}
    if run.ferrogate is not None and run.ai:
        log("[latency] one connection: nginx, then ferrogate")
        extras["overhead"]["nginx"] = one_connection_latency(
            run.nginx.port, "/v1/chat/completions", bodies["chat"], count=args.latency_requests,
            headers=up_auth)
        extras["overhead"]["ferrogate"] = one_connection_latency(
            run.ferrogate.port, "/v1/chat/completions", bodies["chat"],
            count=args.latency_requests, headers=client_auth)
    targets = [("nginx", run.nginx.port, "/stream/v1/chat/completions", up_auth)]
    if run.ferrogate is not None:
        targets.append(("ferrogate proxy route", run.ferrogate.port,
                        "/stream/v1/chat/completions", up_auth))
        if run.ai:
            targets.append(("ferrogate AI route", run.ferrogate.port, "/v1/chat/completions",
                            client_auth))
    for name, port, path, headers in targets:
        log(f"[streams] {args.streams} concurrent streams via {name}")
        extras["streams"][name] = concurrent_streams(port, path, bodies["chat_stream"],
                                                     count=args.streams, headers=headers,
                                                     timeout_secs=60.0)
    return extras


@dataclass(slots=True)
class Outcome:
    """Everything a run produced, also when it was cut short."""

    records: list[dict[str, Any]] = field(default_factory=list)
    extras: dict[str, Any] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    interrupted: str | None = None
    at_scale: dict[str, Any] = field(default_factory=dict)


def _start_all(work: Path, args: argparse.Namespace, out: Outcome,
               services: list[Service]) -> Running:
    mock = nginx.start_mock(work / "mock")
    services.append(mock)
    proxy = nginx.start_proxy(work / "nginx", mock.port, workers=args.workers)
    services.append(proxy)
    log(f"[start] mock nginx port={mock.port}; nginx proxy_pass port={proxy.port}")
    gw, ai = _gateway(work, mock.port, args, out.skipped, services)
    bare = None
    if ai and "ai" in args.suites:  # the same gateway with request records off, for on vs off
        bare = _start_optional("ferrogate (records off)", lambda: start_gateway(
            work / "ferrogate-bare", mock.port, ai=True, workers=args.workers, records=False),
            out.skipped, services)
    litellm = portkey = None
    if args.peers and "ai" in args.suites:
        litellm = _start_optional("litellm", lambda: peers.start_litellm(
            work / "litellm", mock.port, workers=args.workers), out.skipped, services)
        portkey = _start_optional("portkey", lambda: peers.start_portkey(work / "portkey"),
                                  out.skipped, services)
    return Running(mock=mock, nginx=proxy, ferrogate=gw, ai=ai, litellm=litellm,
                   portkey=portkey, bare=bare)


def _measure(run: Running, args: argparse.Namespace, bodies: dict[str, bytes],
             body_files: dict[str, Path], roots: Sequence[int], out: Outcome) -> None:
    cases = []
    for case in build_cases(args.suites, run):
        problem = probe(case, bodies[case.body] if case.body else None)
        if problem:
            out.skipped[f"{case.scenario}/{case.target}"] = problem
            log(f"[skip] {case.scenario}/{case.target}: {problem}")
        else:
            cases.append(case)
    plan = [(case, conns) for case in cases
            for conns in (args.connections[:1] if case.suite == "translate"
                          else args.connections)]
    plan.sort(key=lambda p: (p[0].suite == "translate", _root_scenario(p[0], cases), p[1]))
    log(f"[plan] {len(plan)} runs x {args.reps} reps x {args.duration:g}s "
        f"= ~{len(plan) * args.reps * (args.duration + 0.5):.0f}s of load")
    for case in cases:  # warm pools and caches once, not measured
        load_once(case, args.connections[0], _warm(args), body_files, roots, run.mock.pid, 0)
    for rep in range(1, args.reps + 1):
        for case, conns in plan:  # interleaved: every target once per rep
            waited, pre_busy = (cpu.wait_for_quiet(args.settle) if args.settle > 0
                                else (0.0, None))
            rec = load_once(case, conns, args, body_files, roots, run.mock.pid, rep)
            rec.update(settle_s=round(waited, 2), busy_before_pct=pre_busy)
            out.records.append(rec)
            _log_record(rec, args.reps)
    out.extras = _extras(run, args, bodies)


def _root_scenario(case: Case, cases: Sequence[Case]) -> str:
    """The scenario whose runs this case's runs go beside in each repetition: its reference's,
    followed to the end (chat_governed -> chat_ungoverned -> chat), so the runs a ratio
    compares are run one after the other (report._ratio pairs them rep by rep)."""
    refs = {c.scenario: c.reference[0] for c in cases if c.reference is not None and c.suite != "translate"}
    scenario, seen = case.scenario, set()
    while scenario in refs and refs[scenario] != scenario and scenario not in seen:
        seen.add(scenario)
        scenario = refs[scenario]
    return scenario


def _log_record(rec: dict[str, Any], reps: int) -> None:
    where = f"[rep {rec['rep']}/{reps}] {rec['scenario']:32s} c{rec['connections']:<4d} " \
            f"{rec['target']:10s}"
    if "rps" not in rec:
        log(f"{where} ERROR {rec['error']}")
        return
    log(f"{where} {rec['rps']:10,.0f} req/s p50={rec['p50_ms']:.2f}ms "
        f"p99={rec['p99_ms']:.2f}ms err={rec['errors']} "
        f"cpu={rec['cpu_us_per_req'] or 0:.1f}us/req busy={rec['box_busy_pct'] or 0:.0f}% "
        f"others={rec['others_pct'] or 0:.0f}%")


def _print_report(args: argparse.Namespace, out: Outcome,
                  summary: dict[tuple[str, int, str], dict[str, Any]], checks: list[str]) -> None:
    print(f"FerroGate benchmark ({'quick, ' if args.quick else ''}{args.duration:g} s runs, "
          f"{args.reps} interleaved reps, wrk -t{args.threads}, medians; hot path {args.hot_path}; "
          f"{os.cpu_count()} CPUs "
          "shared with everything else on this box: figures are indicative)")
    if summary:
        print(format_table(summary))
    if out.extras:
        print("\n### latency and streams\n" + format_extras(out.extras))
    if out.at_scale:
        print(at_scale.describe(out.at_scale))
    if checks:
        print("\n### targets\n" + "\n".join(checks))
    if out.skipped:
        print("\n### skipped\n" + "\n".join(f"- {k}: {_gist(v)}"
                                              for k, v in out.skipped.items()))
    if out.interrupted:
        print(f"\nRun {out.interrupted}: partial results.")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("nginx") is None or shutil.which("wrk") is None:
        log("nginx and wrk are required (make system-deps installs them)")
        return 2
    hot_path = compiled.decide(compiled.PACKAGE_DIR, os.environ)
    if hot_path.mode is not compiled.Mode.COMPILED and not args.allow_pure:
        # The gateways started here decide the same way: their figures would be pure Python's.
        changed = f" ({', '.join(hot_path.changed[:3])} changed since the build)" if hot_path.changed else ""
        log(f"the gateway would run pure Python: compiled hot path {hot_path.mode.value}{changed}; "
            "run `make compiled` first, or pass --allow-pure")
        return 2
    args.hot_path = hot_path.mode.value
    t_start = time.monotonic()
    raise_nofile()  # the idle suite holds 10,000 connections; the services inherit the limit
    work = Path(tempfile.mkdtemp(prefix="ferrogate-bench-"))
    bodies = request_bodies()
    body_files = {name: work / f"{name}.json" for name in bodies}
    for name, data in bodies.items():
        body_files[name].write_bytes(data)
    services: list[Service] = []
    out = Outcome()
    try:
        if set(args.suites) & set(SUITES):
            run = _start_all(work, args, out, services)
            _measure(run, args, bodies, body_files, sorted({s.pid for s in services}), out)
    except KeyboardInterrupt:
        out.interrupted = "interrupted"
    except RuntimeError as exc:  # a required service (nginx) did not start
        out.interrupted = f"aborted: {exc}"
    finally:
        for service in reversed(services):
            stop_service(service)
        log(f"[stop] {len(services)} services stopped")
    try:  # each at-scale suite starts and stops its own services
        if out.interrupted is None:
            at_scale.run(args.suites, args, log, out.at_scale, out.skipped)
    except KeyboardInterrupt:
        out.interrupted = "interrupted"
    summary = summarise(out.records)
    checks = target_checks(summary, out.extras) + at_scale.checks(out.at_scale)
    _print_report(args, out, summary, checks)
    path = write_json({
        "args": dict(vars(args)), "versions": tool_versions(), "records": out.records,
        "extras": out.extras, "at_scale": out.at_scale, "skipped": out.skipped,
        "interrupted": out.interrupted,
        "summary": {f"{k[0]}|c{k[1]}|{k[2]}": v for k, v in summary.items()},
        "targets": checks, "elapsed_s": round(time.monotonic() - t_start, 1),
    })
    if out.skipped or out.interrupted:
        log(f"[logs] service logs kept in {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    log(f"[done] {time.monotonic() - t_start:.0f}s; raw results: {path}")
    return 0 if out.interrupted is None else 1


def _gist(problem: str) -> str:
    """First line plus the last non-empty line (a traceback's exception) of a problem."""
    lines = [ln.strip() for ln in problem.splitlines() if ln.strip()]
    if len(lines) <= 1:
        return lines[0] if lines else problem
    return f"{lines[0][:160]} ... {lines[-1][:200]}"


def _warm(args: argparse.Namespace) -> argparse.Namespace:
    return argparse.Namespace(**{**vars(args), "duration": 1.0})


def _on_sigterm(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # unwinds through main's finally: every service is stopped


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _on_sigterm)
    sys.exit(main())
