"""Leak guard: bursts of mixed requests, and every worker's RSS after each burst.

A gateway that keeps a little of every request (a buffer, a parser, a task, a record)
grows until it is restarted. FerroGate (2 workers, AI and reverse-proxy routes over the
nginx mock; a paced upstream for streams that a client leaves) gets ``--bursts`` bursts of
``--requests`` requests from ``--concurrency`` keep-alive connections, in a fixed mix of
every 20 requests:

- 6 chat completions (200), 5 streamed chat completions (200, ending with ``[DONE]``),
  4 reverse-proxied ``GET /`` (200);
- 2 unknown models (404), 2 bodies that are not JSON (400);
- 1 client that disconnects mid-stream (a new connection, a stream of 5 paced events at
  50/s, closed after the first event).

After each burst (and a 1 s pause) it reads each worker's ``VmRSS`` and the control process's
(pids from the supervisor's log, so a respawn shows as a new pid). Target: every worker's RSS
after the last burst within 10 MB of after the first.

    .venv/bin/python -m benchmarks.leak_guard --bursts 10 --requests 20000
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks import nginx
from benchmarks.gateway import CLIENT_KEY, parse_ready_line, render_config
from benchmarks.paced_upstream import start_upstream
from benchmarks.procs import LOOPBACK, Service, start_service, stop_service
from benchmarks.scenario import (
    check_line,
    control_pid,
    raise_nofile,
    rss_kb,
    run_loop,
    worker_pids,
    write_result,
)

GOAL_KB = 10 * 1024
_CHAT = b'{"model":"%b","messages":[{"role":"user","content":"Say hello."}]%b}'


def _post(body: bytes, path: bytes = b"/v1/chat/completions") -> bytes:
    return (
        b"POST %b HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer %b\r\ncontent-type: application/json\r\n"
        b"content-length: %d\r\n\r\n%b" % (path, CLIENT_KEY.encode(), len(body), body)
    )


# kind -> (request, expected status, a stream that must end with [DONE])
KINDS: dict[str, tuple[bytes, int, bool]] = {
    "chat": (_post(_CHAT % (b"gpt-4o-mini", b"")), 200, False),
    "stream": (_post(_CHAT % (b"gpt-4o-mini-stream", b',"stream":true')), 200, True),
    "proxy": (b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n", 200, False),
    "unknown_model": (_post(_CHAT % (b"no-such-model", b"")), 404, False),
    "bad_json": (_post(b'{"model": "gpt-4o-mini", "messages": [}'), 400, False),
}
DISCONNECT = _post(_CHAT % (b"gpt-4o-mini-paced", b',"stream":true'))
MIX = (
    "chat",
    "stream",
    "proxy",
    "chat",
    "unknown_model",
    "stream",
    "chat",
    "proxy",
    "bad_json",
    "stream",
    "chat",
    "disconnect",
    "proxy",
    "stream",
    "chat",
    "unknown_model",
    "proxy",
    "stream",
    "chat",
    "bad_json",
)


async def _response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """(status, body, keep-alive) of one HTTP/1.1 response."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    lower = head.lower()
    body = b""
    if b"transfer-encoding: chunked" in lower:
        while True:
            size = int((await reader.readline()).split(b";")[0], 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                break
            body += chunk[:-2]
    else:
        at = lower.find(b"content-length:")
        if at >= 0:
            body = await reader.readexactly(int(lower[at + 15 :].split(b"\r\n", 1)[0]))
    return status, body, b"connection: close" not in lower


async def _disconnect(port: int) -> str:
    reader, writer = await asyncio.open_connection(LOOPBACK, port)
    try:
        writer.write(DISCONNECT)
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        if head[9:12] != b"200":
            return f"disconnect: HTTP {head[9:12].decode()}"
        await asyncio.wait_for(reader.readuntil(b"data: "), 10)  # the first event began
        return "ok"
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError) as exc:
        return f"disconnect: {type(exc).__name__}"
    finally:
        writer.transport.abort()  # gone mid-stream, without a goodbye


async def _burst(port: int, requests: int, concurrency: int, offset: int) -> Counter[str]:
    outcomes: Counter[str] = Counter()

    async def connection(slot: int) -> None:
        reader: asyncio.StreamReader | None = None
        writer: asyncio.StreamWriter | None = None
        for i in range(slot, requests, concurrency):
            kind = MIX[(offset + i) % len(MIX)]
            if kind == "disconnect":
                outcomes[f"disconnect {await _disconnect(port)}"] += 1
                continue
            request, expected, stream = KINDS[kind]
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(LOOPBACK, port)
                assert reader is not None
                writer.write(request)
                status, body, keep = await asyncio.wait_for(_response(reader), 30)
            except (OSError, asyncio.IncompleteReadError, ValueError, TimeoutError) as exc:
                outcomes[f"{kind} {type(exc).__name__}"] += 1
                if writer is not None:
                    writer.close()
                writer = None
                continue
            good = status == expected and (not stream or body.rstrip().endswith(b"data: [DONE]"))
            outcomes[f"{kind} {'ok' if good else f'HTTP {status}'}"] += 1
            if not keep:
                writer.close()
                writer = None
        if writer is not None:
            writer.close()

    await asyncio.gather(*(connection(s) for s in range(concurrency)))
    return outcomes


def _config(work: Path, mock_port: int, paced_port: int) -> str:
    return render_config(work, mock_port, ai=True, governed=False) + "\n".join(
        [
            "",
            "[[providers]]",
            'name = "paced"',
            'kind = "openai-compatible"',
            f'base_url = "http://{LOOPBACK}:{paced_port}/v1"',
            'api_key = "sk-mock-upstream"',
            "",
            "[[models]]",
            'name = "gpt-4o-mini-paced"',
            'provider = "paced"',
            'provider_model = "gpt-4o-mini"',
            "",
        ]
    )


def start_custom_gateway(
    work: Path, config: str, workers: int, deadline_secs: float = 30.0
) -> Service:
    """``ferrogate run`` on ``config`` (as :func:`benchmarks.gateway.start_gateway`)."""
    work.mkdir(parents=True, exist_ok=True)
    (work / "ferrogate.toml").write_text(config)
    service = start_service(
        "ferrogate",
        [
            sys.executable,
            "-m",
            "ferrogate",
            "run",
            "--config",
            str(work / "ferrogate.toml"),
            "--workers",
            str(workers),
        ],
        work,
        env={"PYTHONUNBUFFERED": "1"},
        cwd=work,
    )
    deadline = time.monotonic() + deadline_secs
    while (ports := parse_ready_line(service.log_tail(limit=1 << 20))) is None:
        if service.proc.poll() is not None or time.monotonic() > deadline:
            stop_service(service)
            raise RuntimeError(f"ferrogate did not start: {service.log_tail()}")
        time.sleep(0.05)
    service.port = ports.public
    return service


def measure(
    *, bursts: int, requests: int, concurrency: int, workers: int = 2, log: Any = None
) -> dict[str, Any]:
    raise_nofile()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="fg-leak-") as tmp:
        work = Path(tmp)
        services: list[Service] = []
        try:
            mock = nginx.start_mock(work / "mock")
            services.append(mock)
            paced = start_upstream(work / "paced", events=5, rate=50)
            services.append(paced)
            gateway = start_custom_gateway(
                work / "ferrogate", _config(work / "ferrogate", mock.port, paced.port), workers
            )
            services.append(gateway)
            for burst in range(1, bursts + 1):
                t0 = time.monotonic()
                outcomes = run_loop(_burst(gateway.port, requests, concurrency, burst))
                wall = time.monotonic() - t0
                time.sleep(1.0)  # the closes, the records' flush and the upstream streams settle
                pids = worker_pids(gateway)
                control = control_pid(gateway)
                rows.append(
                    {
                        "burst": burst,
                        "requests": requests,
                        "wall_s": round(wall, 2),
                        "outcomes": dict(outcomes),
                        "workers": {
                            str(slot): {"pid": pid, "rss_kb": rss_kb(pid)}
                            for slot, pid in pids.items()
                        },
                        "control": {"pid": control, "rss_kb": rss_kb(control) if control else None},
                    }
                )
                if log:
                    log(
                        f"[leak] burst {burst}/{bursts}: {requests / wall:,.0f} req/s; "
                        + ", ".join(
                            f"worker {s} {v['rss_kb'] or 0:,} KB"
                            for s, v in rows[-1]["workers"].items()
                        )
                    )
        finally:
            for service in reversed(services):
                stop_service(service)
    return {
        "bursts": bursts,
        "requests": requests,
        "concurrency": concurrency,
        "workers": workers,
        "rows": rows,
    }


def _unexpected(outcomes: dict[str, int]) -> int:
    return sum(n for k, n in outcomes.items() if not k.endswith(" ok"))


def describe(results: dict[str, Any]) -> str:
    slots = sorted({s for r in results["rows"] for s in r["workers"]}, key=int)
    lines = [
        f"{results['bursts']} bursts x {results['requests']} mixed requests, {results['concurrency']} connections",
        "| burst | req/s | unexpected | "
        + " | ".join(f"worker {s} pid: RSS MB" for s in slots)
        + " | control process pid: RSS MB |",
        "|---|---|---|" + "---|" * (len(slots) + 1),
    ]
    total: Counter[str] = Counter()
    for r in results["rows"]:
        total.update(r["outcomes"])
        cells = [
            f"{r['workers'][s]['pid']}: {(r['workers'][s]['rss_kb'] or 0) / 1024:.1f}"
            if s in r["workers"]
            else "-"
            for s in slots
        ]
        control = r["control"]
        cells.append(f"{control['pid']}: {(control['rss_kb'] or 0) / 1024:.1f}")
        lines.append(
            f"| {r['burst']} | {r['requests'] / r['wall_s']:,.0f} | {_unexpected(r['outcomes'])} | "
            + " | ".join(cells)
            + " |"
        )
    lines.append(
        "outcomes over all bursts: " + ", ".join(f"{k} {v}" for k, v in sorted(total.items()))
    )
    return "\n".join(lines)


def checks(results: dict[str, Any]) -> list[str]:
    rows = results["rows"]
    if len(rows) < 2:
        return []
    out: list[str | None] = []
    first, last = rows[0]["workers"], rows[-1]["workers"]
    for slot, end in last.items():
        start = first.get(slot)
        if start is None or start["pid"] != end["pid"]:
            out.append(
                f"- [MISS] leak guard worker {slot}: respawned during the run (pid "
                f"{start['pid'] if start else '?'} -> {end['pid']})"
            )
            continue
        if start["rss_kb"] is None or end["rss_kb"] is None:
            continue
        grown = (end["rss_kb"] - start["rss_kb"]) / 1024
        out.append(
            check_line(
                f"leak guard worker {slot}: RSS MB after burst {len(rows)} - after burst 1",
                grown,
                grown <= GOAL_KB / 1024,
                "<= 10",
            )
        )
    c0, c1 = rows[0]["control"], rows[-1]["control"]
    if c0["pid"] == c1["pid"] and c0["rss_kb"] is not None and c1["rss_kb"] is not None:
        out.append(
            f"- [info] leak guard control process: RSS MB after burst {len(rows)} - after burst 1: "
            f"{(c1['rss_kb'] - c0['rss_kb']) / 1024:.2f}"
        )
    bad = sum(_unexpected(r["outcomes"]) for r in rows)
    out.append(check_line("leak guard: unexpected answers", float(bad), bad == 0, "0", ",.0f"))
    return [line for line in out if line]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--bursts", type=int, default=10)
    parser.add_argument("--requests", type=int, default=20000, help="requests per burst")
    parser.add_argument("--concurrency", type=int, default=32, help="keep-alive client connections")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    results = measure(
        bursts=args.bursts,
        requests=args.requests,
        concurrency=args.concurrency,
        workers=args.workers,
        log=lambda m: print(m, file=sys.stderr, flush=True),
    )
    print(describe(results))
    lines = checks(results)
    print("\n### targets\n" + "\n".join(lines))
    path = write_result("leak-guard", {"args": vars(args), "results": results, "targets": lines})
    print(f"(raw results: {path})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
