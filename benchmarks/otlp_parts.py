"""CPU each part of the OTLP export spends per request record, in process.

With ``telemetry.otlp_endpoint`` set, each record costs a worker its share of the batch's
GenAI histogram sums, and the control process's exporter thread a log record and the
request's spans. With ``_otlp_fields`` built, they are written straight from the worker's
msgpack (the "batch" row: what the exporter runs); the rows after it are the parts of the
way without it, or for a record the C reader leaves: the decode, then each record's log
record and spans (C from the decoded record, then the Python writers). Records like the
chat benchmark's, traced, each with one attempt:

    .venv/bin/python -m benchmarks.otlp_parts
    .venv/bin/python -m benchmarks.otlp_parts --records 20000 --rounds 9
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable

from ferrogate.ipc.record_summary import encode_blob
from ferrogate.ipc.request_records import AttemptRecord, RequestRecord
from ferrogate.observability import otlp_proto as pb
from ferrogate.observability.otlp_batch import new_items, write_blob
from ferrogate.observability.otlp_logs import log_message, log_message_py
from ferrogate.observability.otlp_metrics import GenAiBatch
from ferrogate.observability.otlp_spans import span_messages, span_messages_py

BATCH = 500  # a worker's batch (record_queue.BATCH_RECORDS)


def traced_records(count: int, rng: random.Random) -> list[RequestRecord]:
    """``count`` chat records with a trace, one attempt span, provider usage and a cost."""
    return [
        RequestRecord(
            f"evt-{i:012d}", 1.7e9 + i * 1e-4, f"req-{i:012d}", "chat", 200, 1.9 + i % 7, 0.21, None,
            f"{rng.getrandbits(128):032x}", f"{rng.getrandbits(64):016x}", None, "bench", None, None, None,
            "gpt-4o-mini", "mock-openai", "gpt-4o-mini", 1, None, None, False, False, None, 19, 9, 0, 0, "provider",
            8_550_000, 0, (AttemptRecord("mock-openai", "gpt-4o-mini", 0.2, 1.6, 200, None,
                                         f"{rng.getrandbits(64):016x}"),), None, True,
        )
        for i in range(count)
    ]


def per_record(job: Callable[[], object], count: int, rounds: int) -> float:
    """The fastest of ``rounds`` runs of ``job``, in microseconds per record."""
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        job()
        best = min(best, time.perf_counter() - started)
    return best / count * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--records", type=int, default=10_000)
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    records = traced_records(args.records, random.Random(7))
    blobs = [encode_blob(records[i:i + BATCH]) for i in range(0, len(records), BATCH)]
    now = time.time_ns()
    memo = pb.Memo()
    logs, spans = new_items(), new_items()

    def batches() -> None:  # as the exporter runs them: items kept from one request to the next
        for blob in blobs:
            write_blob(blob, now, logs, spans, memo, memo)
            if logs.count >= 1024:
                logs.take(b"", b"")
                spans.take(b"", b"")
        logs.take(b"", b"")
        spans.take(b"", b"")

    parts: list[tuple[str, Callable[[], object]]] = [
        ("worker: GenAI sums", lambda: [GenAiBatch().observe(records[i:i + BATCH])
                                        for i in range(0, len(records), BATCH)]),
        ("control: batch (logs and spans)", batches),
        ("control: decode", lambda: [b.records() for b in blobs]),
        ("control: log record", lambda: [log_message(r, now, memo) for r in records]),
        ("control: log record (Python)", lambda: [log_message_py(r, now, memo) for r in records]),
        ("control: spans", lambda: [span_messages(r, memo) for r in records]),
        ("control: spans (Python)", lambda: [span_messages_py(r, memo) for r in records]),
    ]
    for name, job in parts:
        print(f"{name:32} {per_record(job, len(records), args.rounds):6.2f} us/record")


if __name__ == "__main__":
    main()
