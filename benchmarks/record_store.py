"""CPU the control process spends storing request records, per record, in process.

The control process writes what the workers send every quarter second: one
transaction holding the request-log batch, the metering-event batch and the usage
rows, then retention. This times ``RecordStore.write_batch`` on a file store already
filled to its retention (the steady state of a busy gateway: every write deletes as
many old records as it adds), with the records a chat benchmark makes (every one
bills), so a change to the store's layout can be judged without wrk and the noise of
a shared box:

    .venv/bin/python -m benchmarks.record_store
    .venv/bin/python -m benchmarks.record_store --batch 1000 --keep-logs 20000
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from ferrogate.ipc.record_summary import encode_blob
from ferrogate.ipc.request_records import AttemptRecord, RequestRecord
from ferrogate.ipc.usage_sums import usage_rows
from ferrogate.store.database import open_store
from ferrogate.store.request_records import RecordStore


def chat_records(count: int, start: float, first_id: int) -> list[RequestRecord]:
    """``count`` records like the chat benchmark's: one attempt, provider usage, a cost."""
    return [
        RequestRecord(
            f"evt-{first_id + i:012d}", start + i * 1e-4, f"req-{first_id + i:012d}", "chat", 200, 1.9, 0.21, 1.2,
            None, None, None, "bench", None, None, None, "gpt-4o-mini", "mock-openai", "gpt-4o-mini", 1,
            None, None, False, False, None, 19, 9, 0, 0, "provider", 8_550_000, 0,
            (AttemptRecord("mock-openai", "gpt-4o-mini", 0.2, 1.6, 200),), None,
        )
        for i in range(count)
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batch", type=int, default=3000, help="records per write (13,000 req/s x 0.25 s ~ 3,000)")
    ap.add_argument("--writes", type=int, default=60, help="timed writes")
    ap.add_argument("--keep-logs", type=int, default=100_000, help="[storage] request_log_retention_records")
    ap.add_argument("--keep-events", type=int, default=150_000,
                    help="[storage] billing_event_retention_records (the default 1,000,000 takes long to fill)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = RecordStore(open_store(str(Path(tmp) / "state.db")), keep_logs=args.keep_logs,
                            keep_events=args.keep_events, export=False)
        made = 0
        now = time.time()

        def write() -> None:
            nonlocal made
            records = chat_records(args.batch, now + made * 1e-4, made)
            made += args.batch
            store.write(records)

        while made < max(args.keep_logs, args.keep_events) + args.batch:  # fill to retention
            write()
        # Encoding happens in the workers: time only what the control process does.
        batches = []
        for _ in range(args.writes):
            records = chat_records(args.batch, now + made * 1e-4, made)
            made += args.batch
            batches.append((encode_blob(records), None, usage_rows(records)))  # all bill: as the sink sends them
        cpu = time.process_time()
        wall = time.perf_counter()
        for logs, events, usage in batches:
            store.write_batch(logs, events, usage)
        cpu = time.process_time() - cpu
        wall = time.perf_counter() - wall
        size = sum(f.stat().st_size for f in Path(tmp).iterdir())
        store.conn.close()
    n = args.writes * args.batch
    print(f"write_batch: {cpu / n * 1e6:.2f} µs CPU/record ({wall / n * 1e6:.2f} µs wall), "
          f"{args.batch} records/write, store files {size / 1e6:.0f} MB")


if __name__ == "__main__":
    main()
