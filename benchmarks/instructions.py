"""Machine instructions per AI request, counted by callgrind: a figure that does not drift.

Runs ``benchmarks.ai_server_hotpath`` (one round, in process, fake transports) under
``valgrind --tool=callgrind`` twice, with a small and a large request count, and divides
the difference in executed instructions by the difference in requests: start-up, imports
and config compilation cancel out. Compare two checkouts with the same interpreter::

    .venv/bin/python -m benchmarks.instructions chat chat_stream
    PYTHONPATH=/path/to/other/checkout .venv/bin/python -m benchmarks.instructions chat

Run it on the build you mean to measure (``make compiled``; FERROGATE_PURE=1 for pure).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys

_COLLECTED = re.compile(rb"Collected\s*:\s*(\d+)")


def instructions(scenario: str, requests: int, conns: int) -> int:
    """Total instructions callgrind counted for one run of ``requests`` requests."""
    cmd = [
        "valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
        sys.executable, "-m", "benchmarks.ai_server_hotpath", scenario,
        "-n", str(requests), "--conns", str(conns), "--rounds", "1",
    ]
    done = subprocess.run(cmd, capture_output=True, check=True)
    found = _COLLECTED.search(done.stderr)
    if found is None:
        raise RuntimeError("callgrind printed no instruction count:\n" + done.stderr.decode(errors="replace")[-2000:])
    return int(found.group(1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("scenarios", nargs="*", default=["chat", "chat_stream"])
    ap.add_argument("--small", type=int, default=320)
    ap.add_argument("--large", type=int, default=1920)
    ap.add_argument("--conns", type=int, default=8)
    args = ap.parse_args()
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed (apt-get install valgrind)")
    for scenario in args.scenarios:
        small = instructions(scenario, args.small, args.conns)
        large = instructions(scenario, args.large, args.conns)
        per = (large - small) / (args.large - args.small)
        print(f"{scenario:14s} {per:10.0f} instructions/request")


if __name__ == "__main__":
    main()
