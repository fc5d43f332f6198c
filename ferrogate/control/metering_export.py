"""The metering export: every metering event POSTed to ``metering.export_endpoint``, at least once.

The outbox is the store's metering events after the export's place
(``RecordStore.outbox``): an event leaves it only when the receiver answered 2xx to a
POST that carried it, so an outage of the receiver, or a gateway restart while one
lasts, loses nothing. A retried POST can deliver an event twice: receivers
deduplicate by ``event_id``.

Each POST is one JSON object, ``{"events": [MeteringEvent, ...]}`` (oldest first, at
most ``BATCH_EVENTS``), with ``Content-Type: application/json``, ``Idempotency-Key``
(a hash of its event ids) and, with ``metering.export_token_env``,
``Authorization: Bearer <token>`` (never logged). A failed POST (refused, no answer
within ``POST_TIMEOUT_SECS``, any status but 2xx) is sent again, the same batch with
the same key, after an exponential backoff with jitter; a 4xx other than 408/429 is
logged as an error every time (the receiver or its token needs fixing), and still
kept. The export wakes when the store wrote new events, else looks every ``IDLE_SECS``.

Backoff from 0.2 s doubling to 10 s: a blip costs well under a second of delay, and
during an outage each node sends the receiver one small POST per 10 s, which no
receiver notices, while a recovered one gets its events within 10 s.

The store is read and written on the records thread (``RecordSink.run``), where the
POST body and its key are built too; the loop only sends bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import random
from collections.abc import Mapping
from typing import NamedTuple
from urllib.parse import urlsplit

import msgspec

from ferrogate._fastpath.pool import PoolSet
from ferrogate._fastpath.upstream_deadlines import Timeouts
from ferrogate.config.model import Metering
from ferrogate.control.record_sink import RecordSink
from ferrogate.errors import GatewayError, shown_url
from ferrogate.store.request_records import RecordStore

_log = logging.getLogger("ferrogate.control.metering")

BATCH_EVENTS = 500
POST_TIMEOUT_SECS = 10.0
IDLE_SECS = 5.0
BACKOFF_FIRST_SECS = 0.2
BACKOFF_MAX_SECS = 10.0
MAX_ANSWER_BYTES = 64 * 1024  # what is read of the receiver's answer (to reuse the connection)


class _EventId(msgspec.Struct):
    event_id: str


_ids = msgspec.json.Decoder(_EventId)


class Batch(NamedTuple):
    """One POST: its body, its key, the outbox place of its last event, how many events it holds."""

    last: int
    events: int
    body: bytes
    key: str


def next_batch(store: RecordStore, limit: int) -> tuple[Batch | None, int]:
    """The oldest ``limit`` events as one POST, and how many wait in all (records thread)."""
    rows = store.outbox(limit)
    if not rows:
        return None, 0
    events = [body for _, body in rows]
    body = b'{"events":[' + b",".join(events) + b"]}"
    digest = hashlib.sha256(b"\n".join(_ids.decode(e).event_id.encode() for e in events))
    return Batch(rows[-1][0], len(rows), body, digest.hexdigest()[:32]), store.outbox_size()


def acknowledge(store: RecordStore, last: int) -> None:
    store.outbox_done(last)


class MeteringExport:
    """Sends the outbox to the receiver; counts what it sent and what failed (for /metrics)."""

    __slots__ = (
        "_backoff", "_failing", "_headers", "_origin", "_pools", "_sink", "_target", "_task", "_timeouts",
        "_url", "_wake", "backoff_first", "backoff_max", "batch_events", "failures", "idle_secs", "outbox",
        "post_timeout", "sent",
    )

    def __init__(
        self,
        settings: Metering,
        env: Mapping[str, str],
        sink: RecordSink,
        *,
        batch_events: int = BATCH_EVENTS,
        post_timeout: float = POST_TIMEOUT_SECS,
        backoff_first: float = BACKOFF_FIRST_SECS,
        backoff_max: float = BACKOFF_MAX_SECS,
        idle_secs: float = IDLE_SECS,
    ) -> None:
        if settings.export_endpoint is None:
            raise ValueError("the metering export needs metering.export_endpoint")
        self._url = settings.export_endpoint
        parts = urlsplit(self._url)
        self._origin = shown_url(f"{parts.scheme}://{parts.netloc}")  # user:password@ is not sent
        self._target = ((parts.path or "/") + (f"?{parts.query}" if parts.query else "")).encode()
        headers = [(b"content-type", b"application/json"), (b"user-agent", b"ferrogate-metering")]
        token = env.get(settings.export_token_env) if settings.export_token_env else None
        if token:
            headers.append((b"authorization", b"Bearer " + token.encode()))
        self._headers = headers
        self._sink = sink
        self.batch_events = batch_events
        self.post_timeout = post_timeout
        self.backoff_first = backoff_first
        self.backoff_max = backoff_max
        self.idle_secs = idle_secs
        # Receivers often close idle connections after ~5 s; a stale one is retried by the pool.
        self._pools = PoolSet(max_idle=1, keepalive_secs=4.0)
        self._timeouts = Timeouts(connect=post_timeout, first_byte=post_timeout, total=post_timeout)
        self._wake = asyncio.Event()
        self._backoff = backoff_first
        self._failing = 0  # failed tries in a row
        self._task: asyncio.Task[None] | None = None
        self.sent = 0  # events the receiver took
        self.failures = 0  # tries that failed (POSTs, or reading the outbox)
        self.outbox = 0  # events waiting, as last seen

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="metering-export")

    def wake(self) -> None:
        """New events are in the store (``RecordSink.on_events``, on the loop)."""
        self._wake.set()

    async def stop(self) -> None:
        """Stop now: a POST in flight is abandoned (its events stay in the outbox and go after
        the next start)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
            except Exception:  # a bug must not stop the rest of the shutdown
                _log.exception("the metering export failed")
        self._pools.close()

    async def _run(self) -> None:
        while True:
            self._wake.clear()  # before reading: events written after the read wake the wait
            try:
                batch, self.outbox = await self._sink.run(lambda: next_batch(self._sink.store, self.batch_events))
            except Exception as exc:  # the store is busy or broken: try again later, loudly
                self._failed(f"cannot read the outbox: {exc!r}", logging.ERROR)
                await self._pause()
                continue
            if batch is None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.idle_secs)
                continue
            await self._deliver(batch)

    async def _deliver(self, batch: Batch) -> None:
        """POST ``batch`` until the receiver takes it, then move the export's place past it."""
        while (failure := await self._post(batch)) is not None:
            self._failed(*failure)
            await self._pause()
        if self._failing:
            _log.info("metering export to %s works again after %d failed tries", shown_url(self._url), self._failing)
        self._failing = 0
        self._backoff = self.backoff_first
        self.sent += batch.events
        self.outbox = max(0, self.outbox - batch.events)
        while True:  # the receiver has the events: only a cancel (shutdown) skips recording it
            try:
                await self._sink.run(lambda: acknowledge(self._sink.store, batch.last))
                return
            except Exception as exc:
                self._failed(f"cannot record the delivered events: {exc!r}", logging.ERROR)
                await self._pause()

    async def _post(self, batch: Batch) -> tuple[str, int] | None:
        """None when the receiver answered 2xx; else why not, and how loud to say it."""
        headers = [*self._headers, (b"idempotency-key", batch.key.encode())]
        status = 0
        try:
            async with asyncio.timeout(self.post_timeout):
                response = await self._pools.request(self._origin, b"POST", self._target, headers, batch.body, self._timeouts)
                status = response.status
                try:
                    await response.read(MAX_ANSWER_BYTES)
                finally:
                    response.close()
        except TimeoutError:
            if not 200 <= status < 300:
                return f"no answer within {self.post_timeout:g} s", logging.WARNING
        except Exception as exc:  # refused, reset, TLS, a bad answer: all a failed try
            if not 200 <= status < 300:
                return _reason(exc), logging.WARNING
        if 200 <= status < 300:
            return None
        if 400 <= status < 500 and status not in (408, 429):
            return f"answered {status}: the receiver refuses the events (they are kept and sent again)", logging.ERROR
        return f"answered {status}", logging.WARNING

    def _failed(self, reason: str, level: int) -> None:
        """Count a failed try; say the first of a run of failures (and every refusal) out loud."""
        self.failures += 1
        self._failing += 1
        if level < logging.ERROR and self._failing > 1:
            level = logging.DEBUG
        _log.log(level, "metering export to %s failed: %s; retrying with backoff (%d events waiting)",
                 shown_url(self._url), reason, self.outbox)

    async def _pause(self) -> None:
        """Wait the backoff with jitter (half to all of it), then double it up to the cap."""
        delay = self._backoff * (0.5 + random.random() / 2)
        self._backoff = min(self._backoff * 2, self.backoff_max)
        await asyncio.sleep(delay)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, GatewayError):
        return exc.message
    return str(exc) or type(exc).__name__
