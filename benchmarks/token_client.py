"""The token-stream load client: one lean uvloop process holding many paced SSE streams.

Started by :mod:`benchmarks.token_streams` (through :class:`ClientGroup`) once per core,
each with its share of the streams. It opens every connection first and prints
``ready OPENED FAILED``; on ``go`` (a line on stdin) it sends the request on all of them and
reads with raw asyncio protocols:
one clock read per socket read, and per event only the parse of its send time (the
upstream writes ``time.time_ns()`` at the start of each event's text) and one histogram
increment (10 µs buckets below 100 ms, 1 ms above). ``--api`` names the wire format read
(:data:`MARKS`): where an event's text starts (chat ``"content":"``, Responses
``"delta":"``, Anthropic Messages ``"text_delta","text":"``) and the terminal event that
makes a stream complete (``data: [DONE]``, ``event: response.completed``,
``event: message_stop``). At the end (all streams over, or ``--timeout``) it writes JSON to
``--result-file`` (streams, completed, failures, events, its own CPU seconds and wall time
since ``go``, and the latency histogram) and prints ``done``. (A file, not stdout: a large
histogram written to an unbuffered pipe can be cut short.)

    .venv/bin/python -m benchmarks.token_client --port P --streams 500 --request-file F --result-file R [--api responses]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import resource
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks.procs import LOOPBACK, Service, stop_service
from benchmarks.scenario import raise_nofile, run_loop

# Per API: what precedes a token event's text (its send time), and the terminal event.
MARKS: dict[str, tuple[bytes, bytes]] = {
    "chat": (b'"content":"', b"data: [DONE]"),
    "responses": (b'"delta":"', b"event: response.completed"),
    "messages": (b'"text_delta","text":"', b"event: message_stop"),
}
_MARK, _DONE = MARKS["chat"]  # set by use_api before any stream opens
_MARK_LEN = len(_MARK)
# Bytes kept across reads, so a mark or [DONE] cut in two is found in the next read (only
# from past the last event timed, so none is counted twice).
_KEEP = max(_MARK_LEN, len(_DONE)) - 1
_DONE_NAME = "[DONE]"
_FINE_US = 100_000  # below: 10 µs buckets; above: 1 ms buckets


def use_api(api: str) -> None:
    """Read ``api``'s wire format: its text mark and terminal event (module constants, so the
    per-read code is the same for every API)."""
    global _MARK, _MARK_LEN, _DONE, _KEEP, _DONE_NAME
    _MARK, _DONE = MARKS[api]
    _MARK_LEN = len(_MARK)
    _KEEP = max(_MARK_LEN, len(_DONE)) - 1
    _DONE_NAME = _DONE.split(b" ", 1)[1].decode()


def bucket_ms(key: int) -> float:
    """The latency (ms) a histogram key stands for (its bucket's middle)."""
    if key < _FINE_US // 10:
        return (key * 10 + 5) / 1000.0
    return (key - _FINE_US // 10) + 0.5


def hist_percentile(hist: dict[int, int], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of a merged histogram, in ms."""
    total = sum(hist.values())
    if total == 0:
        return None
    rank = max(1, -(-int(q * total) // 100))
    seen = 0
    for key in sorted(hist):
        seen += hist[key]
        if seen >= rank:
            return bucket_ms(key)
    return bucket_ms(max(hist))


class _Shared:
    __slots__ = ("completed", "events", "failures", "finished", "first_hist", "hist", "left")

    def __init__(self, finished: asyncio.Future[None]) -> None:
        self.hist: dict[int, int] = {}
        self.first_hist: dict[int, int] = {}  # each stream's first timed event (also in hist)
        self.events = 0
        self.completed = 0
        self.left = 0
        self.failures: Counter[str] = Counter()
        self.finished = finished


class _Stream(asyncio.Protocol):
    __slots__ = ("done", "head", "shared", "tail", "timed", "transport")

    def __init__(self, shared: _Shared) -> None:
        self.shared = shared
        self.transport: asyncio.Transport | None = None
        self.tail = b""
        self.head = False
        self.done = False
        self.timed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no asyncio.Transport
        self.shared.left += 1

    def data_received(self, data: bytes) -> None:
        now = time.time_ns()
        if not self.head:
            self.head = True
            if not data.startswith(b"HTTP/1.1 200"):
                self.shared.failures[f"HTTP {data[9:12].decode('latin-1')}"] += 1
                self.done = True  # counted as a failure above, not as an early close
                assert self.transport is not None
                self.transport.close()
                return
        if self.tail:
            data = self.tail + data
        shared, hist, find = self.shared, self.shared.hist, data.find
        pos = 0
        while True:
            at = find(_MARK, pos)
            if at < 0:
                break
            start = at + _MARK_LEN
            space = find(b" ", start)
            if space < 0:  # the send time is cut by this read: finish it with the next one
                self.tail = data[at:]
                return
            pos = space
            try:
                us = (now - int(data[start:space])) // 1000
            except ValueError:  # an event a relay split across transfer chunks: not timed
                continue
            key = (us if us > 0 else 0) // 10 if us < _FINE_US else _FINE_US // 10 + us // 1000
            hist[key] = hist.get(key, 0) + 1
            if not self.timed:
                self.timed = True
                shared.first_hist[key] = shared.first_hist.get(key, 0) + 1
            shared.events += 1
        if find(_DONE, max(0, pos - _KEEP)) >= 0:
            shared.completed += 1
            self.done = True
            assert self.transport is not None
            self.transport.close()
            return
        self.tail = data[max(pos, len(data) - _KEEP) :]

    def connection_lost(self, exc: Exception | None) -> None:
        shared = self.shared
        if not self.done:
            reason = f"closed before {_DONE_NAME}" if exc is None else type(exc).__name__
            shared.failures[reason] += 1
        shared.left -= 1
        if shared.left == 0 and not shared.finished.done():
            shared.finished.set_result(None)


async def _client(port: int, streams: int, request: bytes, timeout: float) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    shared = _Shared(loop.create_future())
    gate = asyncio.Semaphore(256)  # connects in flight: stays under the listeners' backlogs

    async def open_one() -> asyncio.BaseTransport | None:
        async with gate:
            try:
                transport, _ = await loop.create_connection(lambda: _Stream(shared), LOOPBACK, port)
            except OSError as exc:
                shared.failures[f"connect: {type(exc).__name__}"] += 1
                return None
        return transport

    opened = [
        t for t in await asyncio.gather(*(open_one() for _ in range(streams))) if t is not None
    ]
    print(f"ready {len(opened)} {streams - len(opened)}", flush=True)
    line = await loop.run_in_executor(None, sys.stdin.readline)
    if line.strip() != "go":
        for transport in opened:
            transport.close()
        return {"error": f"expected go, got {line!r}"}
    gc.disable()  # nothing per event is a container: keep collector pauses out of the timings
    usage0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
    for transport in opened:
        transport.write(request)  # type: ignore[attr-defined]
    if opened:
        try:
            await asyncio.wait_for(asyncio.shield(shared.finished), timeout)
        except TimeoutError:
            shared.failures["stalled past the deadline"] += shared.left
            for transport in opened:
                transport.abort()  # type: ignore[attr-defined]
    usage1, wall = resource.getrusage(resource.RUSAGE_SELF), time.monotonic() - t0
    gc.enable()
    return {
        "streams": streams,
        "opened": len(opened),
        "completed": shared.completed,
        "events": shared.events,
        "failures": dict(shared.failures),
        "cpu_s": usage1.ru_utime + usage1.ru_stime - usage0.ru_utime - usage0.ru_stime,
        "wall_s": wall,
        "hist": {str(k): v for k, v in shared.hist.items()},
        "first_hist": {str(k): v for k, v in shared.first_hist.items()},
    }


class ClientGroup:
    """The driving side: ``clients`` client processes (own process groups) sharing ``streams``."""

    def __init__(
        self,
        work: Path,
        port: int,
        request: bytes,
        streams: int,
        clients: int,
        timeout: float,
        api: str = "chat",
    ) -> None:
        work.mkdir(parents=True, exist_ok=True)
        self.work = work
        (work / "request.http").write_bytes(request)
        self.procs: list[Service] = []
        shares = [streams // clients + (i < streams % clients) for i in range(clients)]
        for i, share in enumerate(s for s in shares if s > 0):
            argv = [sys.executable, "-m", "benchmarks.token_client", "--port", str(port)]
            argv += ["--streams", str(share), "--request-file", str(work / "request.http")]
            argv += ["--result-file", str(work / f"result-{i}.json")]
            if api != "chat":
                argv += ["--api", api]
            log = work / f"client-{i}.log"
            with open(log, "wb") as err:
                proc = subprocess.Popen(
                    [*argv, "--timeout", str(timeout)],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=err,
                    start_new_session=True,
                )
            self.procs.append(Service(f"client-{i}", proc, log))

    def _line(self, service: Service) -> str:
        assert service.proc.stdout is not None
        return service.proc.stdout.readline().decode()

    def wait_ready(self) -> None:
        """Every client has tried every connection (each bounds its own connects)."""
        for service in self.procs:
            line = self._line(service)
            if not line.startswith("ready"):
                raise RuntimeError(f"{service.name} did not connect: {line!r} {service.log_tail()}")

    def go(self) -> None:
        for service in self.procs:
            assert service.proc.stdin is not None
            service.proc.stdin.write(b"go\n")
            service.proc.stdin.flush()

    def collect(self) -> list[dict[str, Any]]:
        """Each client's result (each gives up by itself at its ``--timeout``)."""
        outs = []
        for i, service in enumerate(self.procs):
            line = self._line(service)
            if line.strip() != "done":
                raise RuntimeError(f"{service.name} gave no result: {line!r} {service.log_tail()}")
            outs.append(json.loads((self.work / f"result-{i}.json").read_text()))
        return outs

    def stop(self) -> None:
        for service in self.procs:
            stop_service(service, grace_secs=5)


def merge(outs: list[dict[str, Any]]) -> dict[str, Any]:
    """The clients' results as one: summed counts, merged histogram and failures."""
    hist: dict[int, int] = {}
    first: dict[int, int] = {}
    failures: Counter[str] = Counter()
    for out in outs:
        for key, count in out["hist"].items():
            hist[int(key)] = hist.get(int(key), 0) + count
        for key, count in out["first_hist"].items():
            first[int(key)] = first.get(int(key), 0) + count
        failures.update(out["failures"])
    return {
        "hist": hist,
        "first_hist": first,
        "failures": dict(failures),
        "events": sum(o["events"] for o in outs),
        "completed": sum(o["completed"] for o in outs),
        "cpu_s": sum(o["cpu_s"] for o in outs),
        "busiest_pct": max((100 * o["cpu_s"] / max(o["wall_s"], 1e-9) for o in outs), default=0.0),
        "wall_s": max((o["wall_s"] for o in outs), default=0.0),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--streams", type=int, required=True, help="streams this process holds")
    parser.add_argument(
        "--request-file", type=Path, required=True, help="the raw HTTP request to send"
    )
    parser.add_argument("--result-file", type=Path, required=True, help="where the result goes")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds from go to giving up")
    parser.add_argument(
        "--api", choices=tuple(MARKS), default="chat", help="the wire format of the streams read"
    )
    args = parser.parse_args(argv)
    use_api(args.api)
    raise_nofile()
    result = run_loop(
        _client(args.port, args.streams, args.request_file.read_bytes(), args.timeout)
    )
    args.result_file.write_text(json.dumps(result))
    print("done", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
