"""Slow token streams at scale: many concurrent streams of paced small events, through a target.

Real LLM answers are streams of small SSE events spread over seconds; a gateway holds
thousands at once. A paced upstream (:mod:`benchmarks.paced_upstream`, its own uvloop
process) answers every request with ``--events`` OpenAI chunk events (~220 bytes, each
stamped with its send time) at ``--rate`` events per second per stream, then a usage chunk
and ``[DONE]``. Lean client processes (:mod:`benchmarks.token_client`, one per core by
default) open ``--streams`` streams through each target in turn: the upstream directly,
nginx ``proxy_pass`` (buffering off) and FerroGate (2 workers, AI route), and this reports
per target:

- CPU µs per relayed event: the target's process tree utime + stime over the run / events;
- event latency p50/p99 (receipt time - the upstream's stamped send time) and what the
  target adds over direct; and the p99 of each stream's first event apart from the rest
  (every client sends all its requests at once, so first events meet a target still taking
  the other streams' requests);
- streams that ended with ``[DONE]`` (the API's terminal event; and why the others did not);
- RSS per open stream: the tree's RSS with every stream open, less before, / streams (each
  target first serves a warm-up of ``WARMUP_STREAMS`` streams, so what a process sets up
  once on its first requests (lazy imports, pools, caches) is not counted as per stream);
- the client's own CPU (µs per event, and the busiest client process's share of a core:
  near 100 % the client, not the target, is the limit).

``--overload 1000,2000,3000`` steps the stream count up (every target at each step) to the
load the box cannot keep up with, for event latency at the same offered load.

``--api`` picks the API streamed (every target, the same pacing and event size):

- ``chat`` (the default): ``POST /v1/chat/completions``, chunk events ended by ``[DONE]``;
- ``responses``: ``POST /v1/responses`` (``"input": "hi"``), the Responses API's typed
  events, ``response.output_text.delta`` timed, complete at ``response.completed``;
  FerroGate's model has the ``responses`` capability, so its openai-compatible provider
  gets ``/responses`` and the stream is relayed unchanged;
- ``messages``: ``POST /v1/messages`` (``anthropic-version``, ``x-api-key``), Anthropic's
  events, ``content_block_delta`` timed, complete at ``message_stop``; FerroGate's model
  is served by an ``anthropic`` provider, so the stream passes through unchanged.

    .venv/bin/python -m benchmarks.token_streams --streams 1000 --events 100 --rate 10
    .venv/bin/python -m benchmarks.token_streams --overload 1000,2000,3000
    .venv/bin/python -m benchmarks.token_streams --streams 1000 --events 100 --api messages
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import cpu
from benchmarks.gateway import CLIENT_KEY, start_gateway
from benchmarks.paced_upstream import start_upstream
from benchmarks.procs import Service, stop_service
from benchmarks.scenario import (
    check_line,
    raise_nofile,
    start_wide_proxy,
    tree_rss_kb,
    write_result,
)
from benchmarks.token_client import MARKS, ClientGroup, hist_percentile, merge

TARGETS = ("direct", "nginx", "ferrogate")
APIS = tuple(MARKS)  # chat, responses, messages

# Per API: the path, the model asked of the upstream (direct, nginx) and of FerroGate.
_API_MODELS = {
    "chat": ("/v1/chat/completions", "gpt-4o-mini", "gpt-4o-mini-stream"),
    "responses": ("/v1/responses", "gpt-4o-mini", "gpt-4o-mini-responses-stream"),
    "messages": ("/v1/messages", "claude-bench", "claude-bench-stream"),
}

WARMUP_STREAMS = 20  # few next to the thousand measured: their freed memory is reused by few



def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v:.0f}"


def later_events(hist: dict[int, int], first: dict[int, int]) -> dict[int, int]:
    """The histogram without each stream's first event: the relay of streams already flowing,
    apart from the burst of their starts."""
    return {key: count - first.get(key, 0) for key, count in hist.items() if count > first.get(key, 0)}


def _minus(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


@dataclass
class Result:
    target: str
    streams: int
    completed: int
    events: int
    expected_events: int
    p50_ms: float | None
    p99_ms: float | None
    cpu_us_per_event: float | None
    rss_kb_per_stream: float
    client_cpu_us_per_event: float | None
    client_busiest_pct: float
    wall_s: float
    ideal_s: float
    box_busy_pct: float | None
    failures: dict[str, int] = field(default_factory=dict)
    first_p99_ms: float | None = None  # each stream's first event (sent while streams still start)
    later_p99_ms: float | None = None  # every event after each stream's first

    def line(self, direct: Result | None) -> str:
        def ms(v: float | None) -> str:
            return "-" if v is None else f"{v:.2f}"

        added = ""
        if direct is not None and self.target != "direct":
            a50, a99 = _minus(self.p50_ms, direct.p50_ms), _minus(self.p99_ms, direct.p99_ms)
            if a50 is not None and a99 is not None:
                added = f" (added {a50:+.2f}/{a99:+.2f})"
        fails = f" failures {self.failures}" if self.failures else ""
        return (
            f"| {self.target} | {self.streams} | {self.completed} | {self.events}/{self.expected_events} "
            f"| {ms(self.cpu_us_per_event)} | {ms(self.p50_ms)}/{ms(self.p99_ms)}{added} "
            f"| {ms(self.first_p99_ms)}/{ms(self.later_p99_ms)} "
            f"| {self.rss_kb_per_stream:.1f} | {ms(self.client_cpu_us_per_event)} "
            f"({self.client_busiest_pct:.0f} %) | {self.wall_s:.1f} ({self.ideal_s:g}) "
            f"| {_pct(self.box_busy_pct)} |{fails}"
        )


HEADER = (
    "| target | streams | complete | events | CPU us/event | latency p50/p99 ms (added over direct) "
    "| p99 ms first event / later events | RSS KB/stream | client CPU us/event (busiest process) "
    "| run s (paced) | box busy % |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|"
)


def _request(model: str, key: str | None, api: str = "chat", prompt_bytes: int = 0) -> bytes:
    """The raw streaming request of ``api`` for ``model``; ``key``: FerroGate's client key;
    ``prompt_bytes``: the user's text is that long (a real prompt), else ``hi``."""
    path = _API_MODELS[api][0].encode()
    text = b"x" * prompt_bytes if prompt_bytes > 0 else b"hi"
    if api == "responses":
        body = b'{"model":"%b","input":"%b","stream":true}' % (model.encode(), text)
    elif api == "messages":
        body = (
            b'{"model":"%b","max_tokens":1000,"messages":[{"role":"user","content":"%b"}],'
            b'"stream":true}' % (model.encode(), text)
        )
    else:
        body = (
            b'{"model":"%b","stream":true,"messages":[{"role":"user","content":"%b"}]}'
            % (model.encode(), text)
        )
    if api == "messages":  # as Anthropic's clients send them
        auth = b"anthropic-version: 2023-06-01\r\n"
        auth += b"x-api-key: %b\r\n" % key.encode() if key else b""
    else:
        auth = b"authorization: Bearer %b\r\n" % key.encode() if key else b""
    return (
        b"POST %b HTTP/1.1\r\nhost: bench\r\ncontent-type: application/json\r\n"
        b"%bcontent-length: %d\r\n\r\n%b" % (path, auth, len(body), body)
    )


def run_target(
    target: str,
    port: int,
    root: int,
    request: bytes,
    work: Path,
    *,
    streams: int,
    events: int,
    rate: float,
    clients: int,
    api: str = "chat",
) -> Result:
    """One measured run: connect everything, go, RSS with all streams open, collect."""
    group = ClientGroup(work, port, request, streams, clients, timeout=events / rate + 60, api=api)
    try:
        group.wait_ready()
        rss_before, ticks0, box0 = tree_rss_kb(root), cpu.snapshot([root])[root], cpu.box_busy()
        group.go()
        time.sleep(min(events / rate / 2, 5.0))  # every stream open and flowing
        rss_open = tree_rss_kb(root)
        out = merge(group.collect())
        ticks1, box1 = cpu.snapshot([root])[root], cpu.box_busy()
    finally:
        group.stop()
    total = out["events"]
    return Result(
        target=target,
        streams=streams,
        completed=out["completed"],
        events=total,
        expected_events=streams * events,
        p50_ms=hist_percentile(out["hist"], 50),
        p99_ms=hist_percentile(out["hist"], 99),
        cpu_us_per_event=cpu.us_per_request(ticks0, ticks1, total),
        rss_kb_per_stream=max(0.0, (rss_open - rss_before) / streams),
        client_cpu_us_per_event=out["cpu_s"] * 1e6 / total if total else None,
        client_busiest_pct=out["busiest_pct"],
        wall_s=out["wall_s"],
        ideal_s=events / rate,
        box_busy_pct=cpu.box_shares(box0, box1, 0)[0],
        failures=out["failures"],
        first_p99_ms=hist_percentile(out["first_hist"], 99),
        later_p99_ms=hist_percentile(later_events(out["hist"], out["first_hist"]), 99),
    )


def _start_target(
    target: str, work: Path, upstream: Service, workers: int, streams: int, api: str = "chat",
    prompt_bytes: int = 0,
) -> tuple[Service | None, bytes]:
    _, upstream_model, gateway_model = _API_MODELS[api]
    if target == "direct":
        return None, _request(upstream_model, None, api, prompt_bytes)
    if target == "nginx":
        proxy = start_wide_proxy(work / "nginx", upstream.port, workers, 2 * streams)
        return proxy, _request(upstream_model, None, api, prompt_bytes)
    if target == "ferrogate":
        gateway = start_gateway(
            work / "ferrogate",
            upstream.port,
            ai=True,
            workers=workers,
            responses=api == "responses",
        )
        return gateway, _request(gateway_model, CLIENT_KEY, api, prompt_bytes)
    raise ValueError(f"unknown target {target!r}")


def measure(
    *,
    steps: list[int],
    events: int,
    rate: float,
    targets: list[str],
    clients: int,
    workers: int = 2,
    settle: float = 0.0,
    log: Any = None,
    api: str = "chat",
    prompt_bytes: int = 0,
) -> dict[str, Any]:
    """Every target at every stream count of ``steps`` (interleaved per step), streams of
    ``api`` (asked with a prompt of ``prompt_bytes``); services started once and stopped in
    ``finally``."""
    if api not in _API_MODELS:
        raise ValueError(f"unknown api {api!r}")
    raise_nofile()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="fg-tokens-") as tmp:
        work = Path(tmp)
        upstream = start_upstream(work / "upstream", events, rate)
        services: list[Service] = [upstream]
        try:
            started = {}
            for target in targets:
                service, request = _start_target(target, work, upstream, workers, max(steps), api,
                                                 prompt_bytes)
                if service is not None:
                    services.append(service)
                started[target] = (service or upstream, request)
            for target in targets:  # unmeasured: the first requests' one-time set-up
                service, request = started[target]
                if log:
                    log(f"[token streams] warm-up: {WARMUP_STREAMS} streams via {target}")
                run_target(target, service.port, service.pid, request, work / f"{target}-warm-up",
                           streams=min(WARMUP_STREAMS, min(steps)), events=events, rate=rate, clients=1,
                           api=api)
                time.sleep(1.0)
            for step in steps:
                for target in targets:
                    service, request = started[target]
                    if settle > 0:
                        cpu.wait_for_quiet(settle)
                    if log:
                        log(
                            f"[token streams] {step} streams x {events} {_api_label(api)}events "
                            f"via {target}"
                        )
                    result = run_target(
                        target,
                        service.port,
                        service.pid,
                        request,
                        work / f"{target}-{step}",
                        streams=step,
                        events=events,
                        rate=rate,
                        clients=clients,
                        api=api,
                    )
                    rows.append(asdict(result))
                    time.sleep(1.0)  # the closes settle before the next run
        finally:
            for service in reversed(services):
                stop_service(service)
    return {
        "api": api,
        "steps": steps,
        "events": events,
        "rate": rate,
        "clients": clients,
        "workers": workers,
        "rows": rows,
    }


def _api_label(api: str) -> str:
    """``""`` for chat (as before ``--api``), else e.g. ``"responses "``."""
    return "" if api == "chat" else f"{api} "


def _row(results: dict[str, Any], step: int, target: str) -> Result | None:
    for row in results["rows"]:
        if row["streams"] == step and row["target"] == target:
            return Result(**row)
    return None


def describe(results: dict[str, Any]) -> str:
    api = results.get("api", "chat")
    lines = [
        f"API {api} ({_API_MODELS[api][0]}): "
        f"{results['events']} events per stream at {results['rate']:g}/s, "
        f"{results['clients']} client processes; latency = receipt - the upstream's send stamp",
        HEADER,
    ]
    for step in results["steps"]:
        direct = _row(results, step, "direct")
        for row in results["rows"]:
            if row["streams"] == step:
                lines.append(Result(**row).line(direct))
    if any(r["client_busiest_pct"] > 90 for r in results["rows"]):
        lines.append(
            "(a client process above 90 % of a core: those rows may show the client's limit)"
        )
    return "\n".join(lines)


def checks(results: dict[str, Any], *, overload: bool) -> list[str]:
    """The issue's targets: paced (CPU vs nginx, added p99, completion, RSS per stream) or,
    with ``overload``, FerroGate's p50 within 2x nginx's at each offered load."""
    out: list[str | None] = []
    api = results.get("api", "chat")
    for step in results["steps"]:
        fg, ng, direct = (_row(results, step, t) for t in ("ferrogate", "nginx", "direct"))
        if fg is None:
            continue
        at = f"{step} streams" + ("" if api == "chat" else f" ({api})")
        if overload:
            if ng is not None and fg.p50_ms is not None and ng.p50_ms:
                out.append(
                    check_line(
                        f"overload {at}: FerroGate event p50 / nginx p50",
                        fg.p50_ms / ng.p50_ms,
                        fg.p50_ms / ng.p50_ms <= 2.0,
                        "<= 2.0",
                    )
                )
            out.append(
                f"- [info] overload {at}: streams complete FerroGate {fg.completed}/{step}"
                + (f", nginx {ng.completed}/{step}" if ng else "")
            )
            continue
        if ng is not None and fg.cpu_us_per_event is not None and ng.cpu_us_per_event:
            ratio = fg.cpu_us_per_event / ng.cpu_us_per_event
            out.append(
                check_line(
                    f"token streams {at}: CPU per relayed event / nginx's",
                    ratio,
                    ratio <= 1.2,
                    "<= 1.2",
                )
            )
        if direct is not None and fg.p99_ms is not None and direct.p99_ms is not None:
            added = fg.p99_ms - direct.p99_ms
            out.append(
                check_line(
                    f"token streams {at}: added event latency p99 ms", added, added <= 0.5, "<= 0.5"
                )
            )
            if fg.later_p99_ms is not None and direct.later_p99_ms is not None:
                later = f"- [info] token streams {at}: after each stream's first event, added p99 ms "
                later += f"FerroGate {fg.later_p99_ms - direct.later_p99_ms:+.2f}"
                if ng is not None and ng.later_p99_ms is not None:
                    later += f", nginx {ng.later_p99_ms - direct.later_p99_ms:+.2f}"
                out.append(later)
        out.append(
            check_line(
                f"token streams {at}: streams complete",
                float(fg.completed),
                fg.completed == step,
                f"all {step}",
                ",.0f",
            )
        )
        out.append(
            check_line(
                f"token streams {at}: RSS KB per open stream",
                fg.rss_kb_per_stream,
                fg.rss_kb_per_stream <= 10,
                "<= 10",
                ",.1f",
            )
        )
    return [line for line in out if line]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--streams", type=int, default=1000, help="concurrent streams per target")
    parser.add_argument("--events", type=int, default=100, help="events per stream")
    parser.add_argument("--rate", type=float, default=10.0, help="events per second per stream")
    parser.add_argument(
        "--overload",
        metavar="N,N,...",
        help="step the stream count (e.g. 1000,2000,3000) instead of --streams",
    )
    parser.add_argument(
        "--targets", default=",".join(TARGETS), help="comma list of direct,nginx,ferrogate"
    )
    parser.add_argument("--clients", type=int, default=os.cpu_count() or 1, help="client processes")
    parser.add_argument("--workers", type=int, default=2, help="nginx and FerroGate workers")
    parser.add_argument(
        "--api",
        choices=APIS,
        default="chat",
        help="the API streamed: chat completions, Responses or Anthropic Messages",
    )
    parser.add_argument(
        "--prompt-bytes",
        type=int,
        default=0,
        help="the prompt's length in bytes (a real prompt: what an open stream may keep); default: 'hi'",
    )
    parser.add_argument(
        "--settle",
        type=float,
        default=5.0,
        help="before each run wait up to S s for the box to be < 25%% busy",
    )
    args = parser.parse_args(argv)
    targets = [t for t in args.targets.split(",") if t]
    if set(targets) - set(TARGETS):
        parser.error(f"unknown targets: {sorted(set(targets) - set(TARGETS))}")
    steps = [int(s) for s in args.overload.split(",")] if args.overload else [args.streams]
    results = measure(
        steps=steps,
        events=args.events,
        rate=args.rate,
        targets=targets,
        clients=args.clients,
        workers=args.workers,
        settle=args.settle,
        log=lambda m: print(m, file=sys.stderr, flush=True),
        api=args.api,
        prompt_bytes=args.prompt_bytes,
    )
    print(describe(results))
    lines = checks(results, overload=bool(args.overload))
    if lines:
        print("\n### targets\n" + "\n".join(lines))
    name = "token-streams-overload" if args.overload else "token-streams"
    path = write_result(
        name if args.api == "chat" else f"{name}-{args.api}",
        {"args": vars(args), "results": results, "targets": lines},
    )
    print(f"({os.cpu_count()} CPUs shared by client, upstream and target; raw results: {path})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
