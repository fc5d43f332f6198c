"""Where an AI request's instructions go, phase by phase: callgrind's inclusive counts.

Runs ``benchmarks.ai_server_hotpath`` under ``valgrind --tool=callgrind`` with a small and
a large request count (as ``benchmarks.instructions`` does), keeps both outputs, and reads
``callgrind_annotate --inclusive=yes`` for the functions of the server's steps and the
pipeline's phases: each row is the difference of its counts over the difference in
requests, start-up cancelled out. Inclusive counts nest (``dispatch`` holds the attempt,
which holds the pool's send; ``serve`` holds them all), so the rows do not add up; the
total is the whole process's. The fake transports' ``write`` is the harness's own Python,
counted inside the rows that write (the exchange's ``respond``, the upstream's ``send``).

Reads the compiled build's symbols (``make compiled``): pure Python has no per-function rows.

    .venv/bin/python -m benchmarks.phase_instructions chat chat_traced
    .venv/bin/python -m benchmarks.phase_instructions chat_stream --no-records
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

# (label, a regex over callgrind's function names): the mypyc symbols of the hot path.
ROWS: tuple[tuple[str, str], ...] = (
    ("server: a request's bytes read (HttpProtocol.data_received)", r"CPyDef_http1___HttpProtocol___data_received \["),
    ("  its head parsed (on_headers_complete)", r"CPyDef_http1___HttpProtocol___on_headers_complete \["),
    ("server: the app's coroutine (serve)", r"CPyDef_http1____serve_HttpProtocol_gen_____mypyc_generator_helper__ \["),
    ("pipeline: run (all phases, account)", r"CPyDef_run___run_gen_____mypyc_generator_helper__ \["),
    ("  authenticate", r"CPyDef_authenticate___authenticate \["),
    ("  parse", r"CPyDef_parse___parse \["),
    ("  govern", r"CPyDef_govern___govern \["),
    ("  select", r"CPyDef_select___select \["),
    ("  admit", r"CPyDef_admit___admit \["),
    ("  cache_lookup", r"CPyDef_cache_lookup___cache_lookup \["),
    ("  dispatch", r"CPyDef_dispatch___dispatch_gen_____mypyc_generator_helper__ \["),
    ("    an attempt (Dispatcher._attempt)", r"CPyDef_dispatch____attempt_Dispatcher_gen_____mypyc_generator_helper__ \["),
    ("      the pool's send", r"CPyDef_pool___send_UpstreamPool_gen_____mypyc_generator_helper__ \["),
    ("    relay_json", r"CPyDef_relay___relay_json \["),
    ("    relay_stream", r"CPyDef_relay___relay_stream_gen_____mypyc_generator_helper__ \["),
    ("      the answer written (HttpExchange.respond)", r"CPyDef_exchange___HttpExchange___respond \["),
    ("  account", r"CPyDef_account___account \["),
    ("    build_record", r"CPyDef_record___build_record \["),
    ("    the record queued (RecordQueue.__call__)", r"CPyDef_record_queue___RecordQueue_____call__ \["),
    ("records: batches packed (RecordQueue.pack)", r"CPyDef_record_queue___RecordQueue___pack \["),
    ("tracing: continue_trace", r"CPyDef_trace_context___Tracer___continue_trace \["),
    ("tracing: span_id", r"CPyDef_trace_context___Tracer___span_id \["),
    ("tracing: with_traceparent", r"CPyDef_trace_context___with_traceparent \["),
    ("upstream: the answer's bytes read (UpstreamConnection.data_received)",
     r"CPyDef_upstream___UpstreamConnection___data_received \["),
)
_COLLECTED = re.compile(r"Collected\s*:\s*(\d+)")
_LINE = re.compile(r"^\s*([\d,]+)\s+(?:\([^)]*\)\s+)?(\S.*)$")


def inclusive_counts(out_file: Path) -> dict[str, int]:
    """Function name -> inclusive instructions, from callgrind_annotate's function table."""
    text = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", str(out_file)],
                          capture_output=True, text=True, check=True).stdout
    return function_table(text)


def function_table(text: str) -> dict[str, int]:
    """The rows of the first ``file:function`` table of callgrind_annotate's output."""
    counts: dict[str, int] = {}
    in_table = False
    for line in text.splitlines():
        if "file:function" in line:
            in_table = True
            continue
        if not in_table:
            continue
        if not line.strip():
            if counts:
                break
            continue
        found = _LINE.match(line)
        if found:
            counts[found.group(2).strip()] = int(found.group(1).replace(",", ""))
    return counts


def profile(scenario: str, requests: int, conns: int, extra: list[str], out_file: Path) -> int:
    """Run the harness under callgrind; the total instructions it counted."""
    cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out_file}", sys.executable,
           "-m", "benchmarks.ai_server_hotpath", scenario, "-n", str(requests), "--conns", str(conns),
           "--rounds", "1", *extra]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    found = _COLLECTED.search(done.stderr)
    if found is None:
        raise RuntimeError("callgrind printed no instruction count:\n" + done.stderr[-2000:])
    return int(found.group(1))


def row_total(counts: dict[str, int], pattern: str) -> int:
    """The largest inclusive count among the names ``pattern`` matches (a function also
    listed under a recursion suffix, ``'2``, is the same calls counted again)."""
    rx = re.compile(pattern)
    return max((n for name, n in counts.items() if rx.search(name)), default=0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("scenarios", nargs="*", default=["chat"])
    ap.add_argument("--small", type=int, default=320)
    ap.add_argument("--large", type=int, default=1920)
    ap.add_argument("--conns", type=int, default=8)
    ap.add_argument("--no-records", action="store_true", help="without the record queue")
    args = ap.parse_args()
    if shutil.which("valgrind") is None or shutil.which("callgrind_annotate") is None:
        sys.exit("valgrind is not installed (apt-get install valgrind)")
    extra = ["--no-records"] if args.no_records else []
    span = args.large - args.small
    with tempfile.TemporaryDirectory(prefix="fg-phases-") as tmp:
        for scenario in args.scenarios:
            small_file, large_file = Path(tmp) / f"{scenario}.small", Path(tmp) / f"{scenario}.large"
            small = profile(scenario, args.small, args.conns, extra, small_file)
            large = profile(scenario, args.large, args.conns, extra, large_file)
            before, after = inclusive_counts(small_file), inclusive_counts(large_file)
            print(f"{scenario}{' (records off)' if extra else ''}: {(large - small) / span:,.0f} instructions/request")
            for label, pattern in ROWS:
                per = (row_total(after, pattern) - row_total(before, pattern)) / span
                if per > 0:
                    print(f"  {label:72s} {per:9,.0f}")


if __name__ == "__main__":
    main()
