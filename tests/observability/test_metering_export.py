"""The metering export in-process: a real record sink on a SQLite file sends its outbox to a
receiver on a thread, which takes, fails, refuses, hangs, goes down and comes back."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import msgspec
import pytest
from msgspec.structs import astuple

from ferrogate.config.model import Config, Metering
from ferrogate.control.metering_export import MeteringExport
from ferrogate.control.record_sink import RecordSink
from ferrogate.ipc.request_records import RequestRecord
from ferrogate.observability.gateway_metrics import GatewayMetrics
from ferrogate.observability.record_queue import RecordQueue
from ferrogate.observability.request_tally import RequestTally
from ferrogate.store.record_views import metering_event
from tests.control.helpers import run, until
from tests.fastpath.test_tls import self_signed
from tests.observability.test_gateway_metrics import scrape, value
from tests.support.metering_receiver import MeteringReceiver

TOKEN = "receiver-token-never-logged-0451"
ENV = {"FG_EXPORT_TOKEN": TOKEN}
FAST = {"backoff_first": 0.01, "backoff_max": 0.05, "post_timeout": 0.5, "idle_secs": 60.0}


def record(n: int) -> RequestRecord:
    return RequestRecord(
        event_id=f"evt_{n}", at=1_764_900_000.0 + n, request_id=f"req_{n}", endpoint="chat", status=200,
        duration_ms=2.0, overhead_ms=0.1, key_id="k", model="m", provider="p", input_tokens=10,
        output_tokens=5, usage_source="provider", cost_pico=1000,
    )


def ids(first: int, last: int) -> list[str]:
    return [f"evt_{n}" for n in range(first, last + 1)]


@pytest.fixture
def receiver() -> Iterator[MeteringReceiver]:
    with MeteringReceiver().start() as r:
        yield r


@contextlib.asynccontextmanager
async def exporting(path: Path, url: str, **options: float) -> AsyncIterator[tuple[RecordSink, MeteringExport]]:
    """A record sink on ``path`` and its export to ``url``, wired as the control process wires them."""
    metering = Metering(export_enabled=True, export_endpoint=url, export_token_env="FG_EXPORT_TOKEN")
    sink = RecordSink(msgspec.structs.replace(Config(), metering=metering), str(path / "state.db"), GatewayMetrics([], []))
    await sink.start()
    export = MeteringExport(metering, ENV, sink, **{**FAST, **options})  # type: ignore[arg-type]
    sink.on_events = export.wake
    export.start()
    try:
        yield sink, export
    finally:
        await export.stop()
        await sink.stop()


async def write(sink: RecordSink, first: int, last: int) -> None:
    sink.accept(RecordQueue(RequestTally()).pack([astuple(record(n)) for n in range(first, last + 1)], 1))
    await sink.flush()


async def outbox_size(sink: RecordSink) -> int:
    return await sink.run(sink.store.outbox_size)


def test_events_go_as_one_json_object_with_the_token_and_an_idempotency_key(tmp_path: Path, receiver: MeteringReceiver) -> None:
    async def scenario() -> None:
        async with exporting(tmp_path, receiver.url) as (sink, _):
            await write(sink, 1, 3)
            await until(lambda: len(receiver.posts) == 1, 5, "one POST")

    run(scenario())
    post = receiver.posts[0]
    assert post.event_ids == ids(1, 3)
    assert post.headers["content-type"] == "application/json"
    assert post.headers["authorization"] == f"Bearer {TOKEN}"
    assert post.headers["idempotency-key"] == hashlib.sha256(b"evt_1\nevt_2\nevt_3").hexdigest()[:32]


def test_what_the_receiver_took_leaves_the_outbox(tmp_path: Path, receiver: MeteringReceiver) -> None:
    async def scenario() -> tuple[int, int, int]:
        async with exporting(tmp_path, receiver.url) as (sink, export):
            await write(sink, 1, 4)
            await until(lambda: export.sent == 4, 5, "four events sent")
            return await outbox_size(sink), export.outbox, export.failures

    assert run(scenario()) == (0, 0, 0)
    assert receiver.event_ids == ids(1, 4)


def test_new_events_wake_the_export_without_waiting_for_its_poll(tmp_path: Path, receiver: MeteringReceiver) -> None:
    async def scenario() -> None:
        async with exporting(tmp_path, receiver.url, idle_secs=60.0) as (sink, export):
            await write(sink, 1, 1)
            await until(lambda: export.sent == 1, 5, "the first event sent")
            await write(sink, 2, 2)
            await until(lambda: export.sent == 2, 5, "the second event sent long before the 60 s poll")

    run(scenario(), timeout=15)
    assert receiver.event_ids == ids(1, 2)


def test_more_events_than_a_batch_go_in_several_posts_oldest_first(tmp_path: Path, receiver: MeteringReceiver) -> None:
    async def scenario() -> None:
        async with exporting(tmp_path, receiver.url, batch_events=3) as (sink, export):
            await write(sink, 1, 7)
            await until(lambda: export.sent == 7, 5, "seven events sent")

    run(scenario())
    assert [p.event_ids for p in receiver.posts] == [ids(1, 3), ids(4, 6), ids(7, 7)]


def test_a_failed_post_is_sent_again_with_the_same_events_and_key(tmp_path: Path, receiver: MeteringReceiver) -> None:
    receiver.plan = [500, 429, 503]

    async def scenario() -> int:
        async with exporting(tmp_path, receiver.url) as (sink, export):
            await write(sink, 1, 2)
            await until(lambda: export.sent == 2, 5, "the events sent after three failures")
            return export.failures

    assert run(scenario()) == 3
    assert receiver.answered() == [500, 429, 503, 200]
    assert {tuple(p.event_ids) for p in receiver.posts} == {tuple(ids(1, 2))}
    assert len({p.headers["idempotency-key"] for p in receiver.posts}) == 1
    assert receiver.event_ids == ids(1, 2)


def test_a_post_without_an_answer_times_out_and_is_sent_again(tmp_path: Path, receiver: MeteringReceiver) -> None:
    receiver.plan = ["hang"]

    async def scenario() -> float:
        async with exporting(tmp_path, receiver.url, post_timeout=0.3) as (sink, export):
            await write(sink, 1, 2)
            started = time.monotonic()
            await until(lambda: export.sent == 2, 5, "the events sent after the hung POST")
            return time.monotonic() - started

    took = run(scenario())
    assert receiver.answered() == ["hang", 200]
    assert 0.3 <= took < 3.0


def test_events_whose_answer_was_lost_are_delivered_again(tmp_path: Path, receiver: MeteringReceiver) -> None:
    receiver.plan = ["lost"]

    async def scenario() -> None:
        async with exporting(tmp_path, receiver.url, post_timeout=0.3) as (sink, export):
            await write(sink, 1, 2)
            await until(lambda: export.sent == 2, 5, "the events sent again")

    run(scenario())
    assert receiver.event_ids == ids(1, 2) + ids(1, 2)  # at least once: the receiver deduplicates
    assert receiver.duplicates() == 2


def test_a_refusal_is_logged_as_an_error_and_its_events_are_kept(
    tmp_path: Path, receiver: MeteringReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.plan = [400, 401]
    caplog.set_level(logging.INFO, logger="ferrogate.control.metering")

    async def scenario() -> None:
        async with exporting(tmp_path, receiver.url) as (sink, export):
            await write(sink, 1, 2)
            await until(lambda: export.sent == 2, 5, "the events sent once the receiver accepts them")

    run(scenario())
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 2 and "answered 400" in errors[0] and "answered 401" in errors[1]
    assert receiver.event_ids == ids(1, 2)


def test_events_wait_while_the_receiver_is_down_and_go_when_it_is_back(tmp_path: Path, receiver: MeteringReceiver) -> None:
    receiver.stop()

    async def scenario() -> tuple[int, int]:
        async with exporting(tmp_path, receiver.url) as (sink, export):
            await write(sink, 1, 5)
            await until(lambda: export.failures >= 3, 5, "refused connections")
            waiting = await outbox_size(sink), export.outbox
            receiver.start()
            await until(lambda: export.sent == 5, 5, "the events sent to the receiver back on its port")
            return waiting

    assert run(scenario()) == (5, 5)
    assert receiver.event_ids == ids(1, 5)


def test_stopping_during_a_post_keeps_its_events_for_the_next_start(tmp_path: Path, receiver: MeteringReceiver) -> None:
    receiver.plan = ["hang"]

    async def first_run() -> tuple[float, int]:
        async with exporting(tmp_path, receiver.url, post_timeout=30.0) as (sink, export):
            await write(sink, 1, 3)
            await until(lambda: len(receiver.posts) == 1, 5, "the POST that hangs")
            started = time.monotonic()
            await export.stop()
            return time.monotonic() - started, await outbox_size(sink)

    async def second_run() -> None:
        async with exporting(tmp_path, receiver.url) as (_, export):
            await until(lambda: export.sent == 3, 5, "the kept events sent after the restart")

    stopped_in, waiting = run(first_run())
    assert stopped_in < 1.0 and waiting == 3
    run(second_run())
    assert receiver.event_ids == ids(1, 3)


def test_the_token_is_never_logged(tmp_path: Path, receiver: MeteringReceiver, caplog: pytest.LogCaptureFixture) -> None:
    receiver.plan = [500, 401, "hang"]
    caplog.set_level(logging.DEBUG)

    async def scenario() -> None:
        async with exporting(tmp_path, receiver.url, post_timeout=0.2) as (sink, export):
            await write(sink, 1, 1)
            await until(lambda: export.sent == 1, 5, "the event sent after the failures")

    run(scenario())
    assert len([r for r in caplog.records if r.name == "ferrogate.control.metering"]) >= 3
    assert TOKEN not in caplog.text


def test_the_export_counts_are_in_the_metrics(tmp_path: Path, receiver: MeteringReceiver) -> None:
    receiver.plan = [500]

    async def scenario() -> GatewayMetrics:
        async with exporting(tmp_path, receiver.url) as (sink, export):
            sink.metrics.export_stats = lambda: (export.sent, export.failures, export.outbox)
            await write(sink, 1, 4)
            await until(lambda: export.sent == 4, 5, "four events sent")
            return sink.metrics

    samples = scrape(run(scenario()))
    assert value(samples, "ferrogate_metering_exported_total") == 4
    assert value(samples, "ferrogate_metering_export_failures_total") == 1
    assert ("ferrogate_metering_outbox_events", ()) in samples
    assert value(samples, "ferrogate_metering_outbox_events") == 0


def test_the_body_is_an_events_array_of_metering_events(tmp_path: Path, receiver: MeteringReceiver) -> None:
    async def scenario() -> None:
        async with exporting(tmp_path, receiver.url) as (sink, export):
            await write(sink, 1, 2)
            await until(lambda: export.sent == 2, 5, "the events sent")

    run(scenario())
    body = json.loads(receiver.posts[0].body)
    assert list(body) == ["events"]
    assert body["events"] == [msgspec.to_builtins(metering_event(record(n))) for n in (1, 2)]


def test_an_https_receiver_is_sent_to_when_its_certificate_is_trusted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cert, key = self_signed(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the system's trusted certificates, for this test

    async def scenario(url: str) -> None:
        async with exporting(tmp_path, url) as (sink, export):
            await write(sink, 1, 2)
            await until(lambda: export.sent == 2, 5, "the events sent over TLS")

    with MeteringReceiver(tls=(cert, key)).start() as https:
        run(scenario(https.url))
    assert https.event_ids == ids(1, 2)


def test_an_https_receiver_whose_certificate_is_not_trusted_gets_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    caplog.set_level(logging.WARNING, logger="ferrogate.control.metering")

    async def scenario(url: str) -> None:
        async with exporting(tmp_path, url) as (sink, export):
            await write(sink, 1, 2)
            await until(lambda: export.failures >= 2, 5, "refused TLS handshakes")

    with MeteringReceiver(tls=self_signed(tmp_path)).start() as https:
        run(scenario(https.url))
    assert https.posts == []
    assert "TLS verification" in caplog.text
