"""The metering export: every metering event POSTed to ``metering.export_endpoint``, at least once.

The outbox is the store's metering events after the export's place
(``RecordStore.outbox``): an event stays there until the receiver answered 2xx to a
POST that carried it, so an outage of the receiver, or a restart of the gateway
while one lasts, loses nothing. A retried POST can deliver an event twice: receivers
deduplicate by ``event_id``.

Each POST is one JSON object, ``{"events": [MeteringEvent, ...]}`` (oldest first, at
most ``BATCH_EVENTS``), with ``Content-Type: application/json``, ``Idempotency-Key``
(a hash of its event ids: a retry of the same batch carries the same key) and, with
``metering.export_token_env``, ``Authorization: Bearer <token>`` (never logged). Any
answer but 2xx, a refused connection or a POST that takes longer than
``POST_TIMEOUT_SECS`` is retried after an exponential backoff with jitter. It wakes
when the store wrote new events, else looks every ``IDLE_SECS``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import random
from collections.abc import Mapping
from functools import partial
from urllib.parse import urlsplit

from ferrogate._fastpath.pool import PoolSet
from ferrogate._fastpath.upstream_deadlines import Timeouts
from ferrogate.config.model import Metering
from ferrogate.control.record_sink import RecordSink
from ferrogate.errors import GatewayError, shown_url

_log = logging.getLogger("ferrogate.control.metering")

BATCH_EVENTS = 500
POST_TIMEOUT_SECS = 10.0
IDLE_SECS = 5.0
BACKOFF_FIRST_SECS = 0.2
BACKOFF_MAX_SECS = 10.0


class MeteringExport:
    """Sends the outbox to the receiver; counts what it sent and what failed (for /metrics)."""

    __slots__ = (
        "_backoff", "_headers", "_origin", "_pools", "_sink", "_target", "_task", "_timeouts", "_url", "_wake",
        "failures", "outbox", "sent",
    )

    def __init__(self, settings: Metering, env: Mapping[str, str], sink: RecordSink) -> None:
        assert settings.export_endpoint is not None
        self._url = settings.export_endpoint
        parts = urlsplit(self._url)
        self._origin = f"{parts.scheme}://{parts.netloc}"
        self._target = ((parts.path or "/") + (f"?{parts.query}" if parts.query else "")).encode()
        headers = [(b"content-type", b"application/json"), (b"user-agent", b"ferrogate-metering")]
        token = env.get(settings.export_token_env) if settings.export_token_env else None
        if token:
            headers.append((b"authorization", b"Bearer " + token.encode()))
        self._headers = headers
        self._sink = sink
        self._pools = PoolSet(max_idle=2)
        self._timeouts = Timeouts(connect=5.0, first_byte=POST_TIMEOUT_SECS, total=POST_TIMEOUT_SECS)
        self._wake = asyncio.Event()
        self._backoff = BACKOFF_FIRST_SECS
        self._task: asyncio.Task[None] | None = None
        self.sent = 0  # events the receiver took
        self.failures = 0  # POSTs that failed
        self.outbox = 0  # events waiting, as last seen

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="metering-export")

    def wake(self) -> None:
        """New events are in the store."""
        self._wake.set()

    async def stop(self) -> None:
        """Stop now: a POST in flight is abandoned (its events stay in the outbox and go after
        the next start)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._pools.close()

    async def _run(self) -> None:
        while True:
            store = self._sink.store
            batch = await self._sink.run(partial(store.outbox, BATCH_EVENTS))
            if not batch:
                self.outbox = 0
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), IDLE_SECS)
                continue
            if await self._post([body for _, body in batch]):
                last = batch[-1][0]
                await self._sink.run(partial(store.outbox_done, last))
                self.sent += len(batch)
                self._backoff = BACKOFF_FIRST_SECS
            else:
                self.failures += 1
                self.outbox = await self._sink.run(store.outbox_size)
                delay = self._backoff * (0.5 + random.random() / 2)
                self._backoff = min(self._backoff * 2, BACKOFF_MAX_SECS)
                await asyncio.sleep(delay)

    async def _post(self, events: list[bytes]) -> bool:
        body = b'{"events":[' + b",".join(events) + b"]}"
        key = hashlib.sha256(b"\n".join(_event_id(e) for e in events)).hexdigest()[:32]
        headers = [*self._headers, (b"idempotency-key", key.encode())]
        try:
            response = await self._pools.request(self._origin, b"POST", self._target, headers, body, self._timeouts)
            try:
                await response.read(64 * 1024)
            finally:
                response.close()
        except (TimeoutError, OSError, GatewayError) as exc:
            _log.warning("metering export to %s failed: %s; retrying", shown_url(self._url), _reason(exc))
            return False
        if 200 <= response.status < 300:
            return True
        level = logging.ERROR if 400 <= response.status < 500 and response.status not in (408, 429) else logging.WARNING
        _log.log(level, "metering export to %s answered %d; retrying", shown_url(self._url), response.status)
        return False


def _event_id(body: bytes) -> bytes:
    start = body.find(b'"event_id":"') + 12
    return body[start : body.find(b'"', start)]


def _reason(exc: BaseException) -> str:
    if isinstance(exc, GatewayError):
        return exc.message
    return str(exc) or type(exc).__name__
