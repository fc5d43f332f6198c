"""A paced SSE upstream: every request gets a stream of small token events at a fixed rate.

Real LLM answers are streams of small events spread over seconds. This server (its own uvloop
process) answers every POST on a connection (keep-alive) with ``--events`` token events of
~220 bytes at ``--rate`` events per second, in the wire format of the API the request path
names (one HTTP chunk per event):

- ``.../chat/completions`` (and any other path): OpenAI chat chunk events, then a finish
  chunk, a usage chunk and ``data: [DONE]`` (these three in one chunk);
- ``.../responses``: OpenAI Responses typed events, ``response.created``, the
  ``response.output_text.delta`` events, then ``response.completed`` with the usage;
- ``.../messages``: Anthropic Messages events, ``message_start`` and
  ``content_block_start``, the ``content_block_delta`` (``text_delta``) events, then
  ``content_block_stop``, ``message_delta`` with the usage and ``message_stop``.

A GET gets a small plain answer (readiness probes). Each token event's text starts with its
send time (``time.time_ns()``, taken when that event is written) and a space, so a client
can time the path from here to itself; every API's events are padded to the chat event's
size. Streams are spread over ``slots`` phase groups, so ticks do not all land together; a
stream whose connection went away is dropped at its next tick.

    .venv/bin/python -m benchmarks.paced_upstream --port-file F --events 100 --rate 10
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import cast

from benchmarks.procs import LOOPBACK, Service, start_service, stop_service
from benchmarks.scenario import run_loop

_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
    b"transfer-encoding: chunked\r\n\r\n"
)
_PAD = b"x" * 40  # brings an event to ~150 bytes, like a real chunk with a few tokens
_EVENT = (
    b'data: {"id":"chatcmpl-tok","object":"chat.completion.chunk","created":0,"model":"gpt-4o-mini",'
    b'"choices":[{"index":0,"delta":{"content":"%d %b"},"finish_reason":null}]}\n\n'
)
_TAIL = (
    b'data: {"id":"chatcmpl-tok","object":"chat.completion.chunk","created":0,"model":"gpt-4o-mini",'
    b'"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
    b'data: {"id":"chatcmpl-tok","object":"chat.completion.chunk","created":0,"model":"gpt-4o-mini",'
    b'"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":100,"total_tokens":112}}\n\n'
    b"data: [DONE]\n\n"
)
_PROBE_ANSWER = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 3\r\n\r\nok\n"
_LAST = b"%x\r\n%b\r\n0\r\n\r\n" % (len(_TAIL), _TAIL)

APIS = ("chat", "responses", "messages")

_STAMP = 10**18  # a send time as wide as time.time_ns()'s (19 digits)
_EVENT_SIZE = len(_EVENT % (_STAMP, _PAD))  # every API's token event is padded to this size

# OpenAI Responses: typed events (``event:`` line and a ``type`` field), numbered in sequence.
_RESP = b'"id":"resp_tok","object":"response","created_at":0,"model":"gpt-4o-mini"'
_RESP_CREATED = (
    b'event: response.created\ndata: {"type":"response.created","sequence_number":0,'
    b'"response":{' + _RESP + b',"status":"in_progress","output":[],"usage":null}}\n\n'
)
_RESP_DELTA = (
    b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta",'
    b'"sequence_number":%d,"item_id":"msg_tok","output_index":0,"content_index":0,'
    b'"delta":"%d %b","logprobs":[]}\n\n'
)
_RESP_COMPLETED = (
    b'event: response.completed\ndata: {"type":"response.completed","sequence_number":%d,'
    b'"response":{' + _RESP + b',"status":"completed","output":[],'
    b'"usage":{"input_tokens":12,"output_tokens":%d,"total_tokens":%d}}}\n\n'
)
_RESP_PAD = b"x" * (_EVENT_SIZE - len(_RESP_DELTA % (10, _STAMP, b"")))

# Anthropic Messages: the events a text answer streams, in order.
_MSG_START = (
    b'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_tok",'
    b'"type":"message","role":"assistant","model":"claude-bench","content":[],'
    b'"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":12,"output_tokens":1}}}\n\n'
)
_MSG_BLOCK_START = (
    b'event: content_block_start\ndata: {"type":"content_block_start","index":0,'
    b'"content_block":{"type":"text","text":""}}\n\n'
)
_MSG_DELTA = (
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
    b'"delta":{"type":"text_delta","text":"%d %b"}}\n\n'
)
_MSG_BLOCK_STOP = b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n'
_MSG_END = (
    b'event: message_delta\ndata: {"type":"message_delta",'
    b'"delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":%d}}\n\n'
)
_MSG_STOP = b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
_MSG_PAD = b"x" * (_EVENT_SIZE - len(_MSG_DELTA % (_STAMP, b"")))


def _chunk(payload: bytes) -> bytes:
    return b"%x\r\n%b\r\n" % (len(payload), payload)


def event_chunk(sent_ns: int, seq: int = 0) -> bytes:
    """One chat event as one HTTP chunk; its content starts with ``sent_ns`` and a space."""
    payload = _EVENT % (sent_ns, _PAD)
    return b"%x\r\n%b\r\n" % (len(payload), payload)


def responses_chunk(sent_ns: int, seq: int) -> bytes:
    """One ``response.output_text.delta`` (the ``seq``-th token event, from 0) as one chunk."""
    payload = _RESP_DELTA % (seq + 1, sent_ns, _RESP_PAD)  # response.created is number 0
    return b"%x\r\n%b\r\n" % (len(payload), payload)


def messages_chunk(sent_ns: int, seq: int) -> bytes:
    """One ``content_block_delta`` (``text_delta``) as one chunk."""
    payload = _MSG_DELTA % (sent_ns, _MSG_PAD)
    return b"%x\r\n%b\r\n" % (len(payload), payload)


class Wire:
    """One API's stream: what goes with the response head, each token event, the end."""

    __slots__ = ("event", "first", "last")

    def __init__(self, first: bytes, event: Callable[[int, int], bytes], last: bytes) -> None:
        self.first = first  # the response head and the opening events
        self.event = event  # (send time ns, token event index) -> one chunk
        self.last = last  # the closing events and the last chunk


def wires(events: int) -> dict[str, Wire]:
    """Every API's stream of ``events`` token events."""
    end = b"0\r\n\r\n"
    return {
        "chat": Wire(_HEAD, event_chunk, _LAST),
        "responses": Wire(
            _HEAD + _chunk(_RESP_CREATED),
            responses_chunk,
            _chunk(_RESP_COMPLETED % (events + 1, events, 12 + events)) + end,
        ),
        "messages": Wire(
            _HEAD + _chunk(_MSG_START) + _chunk(_MSG_BLOCK_START),
            messages_chunk,
            _chunk(_MSG_BLOCK_STOP) + _chunk(_MSG_END % events) + _chunk(_MSG_STOP) + end,
        ),
    }


def api_for_path(path: bytes) -> str:
    """The API a request path names: ``.../responses``, ``.../messages``, else chat."""
    path = path.split(b"?", 1)[0].rstrip(b"/")
    if path.endswith(b"/responses"):
        return "responses"
    if path.endswith(b"/messages"):
        return "messages"
    return "chat"


class _Upstream(asyncio.Protocol):
    """Answers each request on the connection with one paced stream (keep-alive)."""

    def __init__(self, board: _Board) -> None:
        self.board = board
        self.buf = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(
            asyncio.Transport, transport
        )  # uvloop's is no asyncio.Transport subclass

    def data_received(self, data: bytes) -> None:
        self.buf += data
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return
        length = 0
        for line in self.buf[:end].lower().split(b"\r\n"):
            if line.startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        if len(self.buf) < end + 4 + length:
            return
        request_line = self.buf[: self.buf.find(b"\r\n")].split(b" ")
        self.buf = self.buf[end + 4 + length :]
        assert self.transport is not None
        if request_line[0] == b"GET":  # a readiness probe (nginx's start): a small answer
            self.transport.write(_PROBE_ANSWER)
            return
        wire = self.board.wires[api_for_path(request_line[1] if len(request_line) > 1 else b"")]
        self.transport.write(wire.first)
        self.board.add(self.transport, wire)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


class _Board:
    """Every open stream, in ``slots`` phase groups; one tick writes one event to one group."""

    def __init__(self, events: int, rate: float, slots: int = 10) -> None:
        self.events = events
        self.interval = 1.0 / rate
        self.wires = wires(events)
        self.slots: list[list[list[object]]] = [[] for _ in range(slots)]
        self.next_slot = 0

    def add(self, transport: asyncio.Transport, wire: Wire) -> None:
        self.slots[self.next_slot].append([transport, 0, wire])
        self.next_slot = (self.next_slot + 1) % len(self.slots)

    async def run(self) -> None:
        tick = self.interval / len(self.slots)
        loop = asyncio.get_running_loop()
        at = loop.time()
        i = 0
        clock = time.time_ns
        while True:
            at += tick
            await asyncio.sleep(max(0.0, at - loop.time()))
            index = i % len(self.slots)
            i += 1
            keep = []
            for entry in self.slots[index]:
                transport, sent = cast(asyncio.Transport, entry[0]), cast(int, entry[1])
                if transport.is_closing():
                    continue
                wire = cast(Wire, entry[2])
                if sent < self.events:
                    transport.write(wire.event(clock(), sent))
                    entry[1] = sent + 1
                    keep.append(entry)
                else:
                    transport.write(wire.last)
            self.slots[index] = keep


async def _serve(port_file: Path, events: int, rate: float) -> None:
    board = _Board(events, rate)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Upstream(board), LOOPBACK, 0, backlog=8192)
    port_file.write_text(str(server.sockets[0].getsockname()[1]))
    await board.run()


def start_upstream(
    workdir: Path, events: int, rate: float, name: str = "paced-upstream"
) -> Service:
    """Start the paced upstream in its own process group; bounded wait for its port."""
    workdir.mkdir(parents=True, exist_ok=True)
    port_file = workdir / f"{name}.port"
    argv = [
        sys.executable,
        "-m",
        "benchmarks.paced_upstream",
        "--port-file",
        str(port_file),
        "--events",
        str(events),
        "--rate",
        str(rate),
    ]
    service = start_service(name, argv, workdir)
    deadline = time.monotonic() + 15
    while not port_file.exists() or not port_file.read_text():
        if service.proc.poll() is not None or time.monotonic() > deadline:
            stop_service(service)
            raise RuntimeError(f"the paced upstream did not start: {service.log_tail()}")
        time.sleep(0.02)
    service.port = int(port_file.read_text())
    return service


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--port-file", type=Path, required=True, help="where to write the port")
    parser.add_argument("--events", type=int, default=100, help="events per stream")
    parser.add_argument("--rate", type=float, default=10.0, help="events per second per stream")
    args = parser.parse_args(argv)
    run_loop(_serve(args.port_file, args.events, args.rate))
    return 0


if __name__ == "__main__":
    sys.exit(main())
