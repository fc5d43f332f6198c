"""Running wrk and reading its ``--latency`` text output."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

LUA_DIR = Path(__file__).parent / "lua"
POST_SCRIPT = LUA_DIR / "post_body.lua"
VARYING_POST_SCRIPT = LUA_DIR / "post_varying_body.lua"

_TIME_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_TIME = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(us|ms|s|m|h)$")


@dataclass(frozen=True, slots=True)
class WrkResult:
    requests: int
    duration_s: float
    rps: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int

    @property
    def errors(self) -> int:
        return self.non_2xx + self.socket_errors


def time_to_ms(text: str) -> float:
    """Convert a wrk duration such as ``245.12us``, ``4.30ms`` or ``1.02s`` to milliseconds."""
    match = _TIME.match(text.strip())
    if match is None:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(match.group(1)) * _TIME_UNITS_MS[match.group(2)]


def parse_wrk_output(text: str) -> WrkResult:
    """Read requests, rate, p50/p99 and error counts from ``wrk --latency`` output."""
    totals = re.search(r"^\s*(\d+) requests in ([0-9.]+(?:us|ms|s|m|h)),", text, re.M)
    rate = re.search(r"^Requests/sec:\s*([0-9.]+)", text, re.M)
    pct = dict(re.findall(r"^\s*(50|99)%\s+(\S+)\s*$", text, re.M))
    if totals is None or rate is None or "50" not in pct or "99" not in pct:
        raise ValueError("wrk output lacks totals, Requests/sec or the latency distribution "
                         "(was --latency given?)")
    non_2xx = re.search(r"^\s*Non-2xx or 3xx responses:\s*(\d+)", text, re.M)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    return WrkResult(
        requests=int(totals.group(1)),
        duration_s=time_to_ms(totals.group(2)) / 1000.0,
        rps=float(rate.group(1)),
        p50_ms=time_to_ms(pct["50"]),
        p99_ms=time_to_ms(pct["99"]),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(int(n) for n in sock.groups()) if sock else 0,
    )


def wrk_command(url: str, *, connections: int, duration_s: float, threads: int = 2,
                headers: Sequence[tuple[str, str]] = (), post: bool = False,
                vary_body: bool = False) -> list[str]:
    threads = max(1, min(threads, connections))
    argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration_s:g}s", "--latency",
            "--timeout", "10s"]
    for name, value in headers:
        argv += ["-H", f"{name}: {value}"]
    if post:
        argv += ["-s", str(VARYING_POST_SCRIPT if vary_body else POST_SCRIPT)]
    return [*argv, url]


def run_wrk(argv: Sequence[str], env: Mapping[str, str]) -> tuple[WrkResult, str]:
    """Run one wrk load; return the parsed result and the raw text (for the JSON record)."""
    duration = next((float(a[2:-1]) for a in argv if a.startswith("-d")), 10.0)
    done = subprocess.run(list(argv), env=dict(env), capture_output=True, text=True,
                          timeout=duration + 30, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"wrk rc={done.returncode}: {(done.stderr or done.stdout)[-400:]}")
    return parse_wrk_output(done.stdout), done.stdout
