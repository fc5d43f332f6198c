"""Requests/s of the fast-path HTTP/1.1 server alone: one process, a trivial respond().

Runs the server in this process (uvloop) on 127.0.0.1:0 and loads it with
``wrk -t1 -c32 -d5s`` started as a subprocess; prints wrk's summary and the figure.

    .venv/bin/python -m benchmarks.fastpath_server [--connections 32] [--duration 5] [--pipeline N]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import re
import resource
import shutil
import socket
import sys
import tempfile

import uvloop

from ferrogate._fastpath.api import Exchange
from ferrogate._fastpath.server import HttpServer
from ferrogate.config.model import Limits

_BODY = b'{"ok":true}'
_HEADERS = [(b"content-type", b"application/json")]

# wrk script that sends N requests per write (HTTP pipelining).
_PIPELINE_LUA = """
init = function(args)
  local r = {}
  for i = 1, %d do r[i] = wrk.format(nil, "/") end
  req = table.concat(r)
end
request = function() return req end
"""


async def _handler(exchange: Exchange) -> None:
    exchange.respond(200, _HEADERS, _BODY)


async def _run(connections: int, duration: int, pipeline: int) -> float:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    sock.setblocking(False)
    port = sock.getsockname()[1]
    server = HttpServer(_handler, Limits())
    await server.start(sock)
    gc.freeze()  # as a worker does once it serves (ferrogate/worker.py)
    args = [wrk, "-t1", f"-c{connections}", f"-d{duration}s", "--latency", f"http://127.0.0.1:{port}/"]
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        if pipeline > 1:
            script.write(_PIPELINE_LUA % pipeline)
            script.flush()
            args[1:1] = ["-s", script.name]
        cpu_before = _cpu_secs()
        proc = await asyncio.create_subprocess_exec(*args, stdout=asyncio.subprocess.PIPE)
        try:
            out, _ = await proc.communicate()
            cpu = _cpu_secs() - cpu_before
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    await server.shutdown(1.0)
    text = out.decode()
    print(text)
    match = re.search(r"Requests/sec:\s+([\d.]+)", text)
    rps = float(match.group(1)) if match else 0.0
    total = re.search(r"(\d+) requests in", text)
    # Server CPU per request is steadier than req/s on a shared machine.
    per_request = 1e6 * cpu / int(total.group(1)) if total and int(total.group(1)) else 0.0
    print(
        f"fastpath_server: {rps:.0f} req/s, {per_request:.1f} server CPU-µs/request "
        f"(1 process, c={connections}, pipeline={pipeline})"
    )
    return rps


def _cpu_secs() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)  # this process only: wrk is a child
    return usage.ru_utime + usage.ru_stime


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--pipeline", type=int, default=1)
    ns = parser.parse_args(argv)
    rps = uvloop.run(_run(ns.connections, ns.duration, ns.pipeline))
    return 0 if rps > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
