"""Worker app factories for process tests, loaded through ``FERROGATE_APP_FACTORY``.

Each is ``factory(config, worker_state) -> Handler``. They let supervisor tests
control what a worker does (stream slowly, fail to boot) without depending on
the router or an upstream.
"""

from __future__ import annotations

import asyncio
import os
import time

import orjson

from ferrogate._fastpath.api import Exchange, Handler
from ferrogate.app import WorkerState, build_app
from ferrogate.config.model import Config

SLOW_CHUNKS = 6
SLOW_INTERVAL_SECS = 0.25
HANG_SECS = 30.0


def slow_stream(config: Config, state: WorkerState) -> Handler:
    """``/slow`` streams SLOW_CHUNKS chunks SLOW_INTERVAL_SECS apart; ``/whoami`` says which
    worker and config answered; everything else goes to the real app."""
    inner = build_app(config, state)

    async def app(exchange: Exchange) -> None:
        path = exchange.request.path
        if path == b"/slow":
            exchange.start_response(200, [(b"content-type", b"text/plain")])
            for i in range(SLOW_CHUNKS):
                exchange.write(b"chunk-%d\n" % i)
                await exchange.drain()
                await asyncio.sleep(SLOW_INTERVAL_SECS)
            exchange.end()
            return
        if path == b"/hang":
            time.sleep(HANG_SECS)  # blocks the event loop: no heartbeat while it lasts
            exchange.respond(200, [], b"woke up")
            return
        if path == b"/whoami":
            body = orjson.dumps(
                {
                    "pid": state.pid,
                    "slot": state.slot,
                    "generation": state.generation,
                    "revision": state.revision,
                    "service_name": config.telemetry.service_name,
                }
            )
            exchange.respond(200, [(b"content-type", b"application/json")], body)
            return
        await inner(exchange)

    return app


def fail_to_boot(config: Config, state: WorkerState) -> Handler:
    raise RuntimeError("this worker is built to fail at boot")


def die_at_boot(config: Config, state: WorkerState) -> Handler:
    """A worker that dies hard (not a clean boot error) before it can ack READY."""
    os._exit(7)


def slow_stream_unless_boom(config: Config, state: WorkerState) -> Handler:
    """Like :func:`slow_stream`, but a worker whose config names the service "boom" fails
    to boot: a config that validates yet cannot run (to exercise reload roll-back)."""
    if config.telemetry.service_name == "boom":
        raise RuntimeError("this config cannot boot a worker")
    return slow_stream(config, state)
