"""FlowControl (pause reasons, drain) and the precomputed wire bytes."""

from __future__ import annotations

import asyncio

import pytest

from ferrogate._fastpath.flow import PAUSE_BODY, PAUSE_PIPELINE, FlowControl
from ferrogate._fastpath.wire import STATUS_LINE, DateHeader, chunk, header_lines, status_line
from tests.fastpath.conftest import MockTransport


def make_flow() -> tuple[FlowControl, MockTransport]:
    transport = MockTransport()
    return FlowControl(transport), transport  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_reading_resumes_only_when_every_reason_is_gone() -> None:
    flow, transport = make_flow()
    flow.pause_reading(PAUSE_BODY)
    flow.pause_reading(PAUSE_PIPELINE)
    flow.resume_reading(PAUSE_BODY)
    assert transport.read_paused and flow.reading_paused
    flow.resume_reading(PAUSE_PIPELINE)
    assert not transport.read_paused and not flow.reading_paused


@pytest.mark.anyio
async def test_pause_and_resume_are_idempotent() -> None:
    flow, transport = make_flow()
    flow.resume_reading(PAUSE_BODY)  # nothing paused: no effect
    assert not transport.read_paused
    flow.pause_reading(PAUSE_BODY)
    flow.pause_reading(PAUSE_BODY)
    flow.resume_reading(PAUSE_BODY)
    assert not transport.read_paused


@pytest.mark.anyio
async def test_drain_returns_at_once_when_writing_is_not_paused() -> None:
    flow, _ = make_flow()
    await asyncio.wait_for(flow.drain(), 1)


@pytest.mark.anyio
async def test_resume_writing_releases_every_drainer_and_a_cancelled_one_does_not_hurt() -> None:
    flow, _ = make_flow()
    flow.pause_writing()
    first = asyncio.create_task(flow.drain())
    second = asyncio.create_task(flow.drain())
    third = asyncio.create_task(flow.drain())
    await asyncio.sleep(0)
    third.cancel()
    await asyncio.sleep(0)
    assert not first.done() and not second.done()
    flow.resume_writing()
    await asyncio.wait_for(asyncio.gather(first, second), 1)
    assert third.cancelled()


def test_status_lines_are_precomputed_for_every_code() -> None:
    assert STATUS_LINE[200] == b"HTTP/1.1 200 OK\r\n"
    assert STATUS_LINE[431] == b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    assert STATUS_LINE[599] == b"HTTP/1.1 599 \r\n"
    assert status_line(999) == b"HTTP/1.1 999 \r\n"


def test_date_header_block_has_date_and_server() -> None:
    block = DateHeader().block
    assert block.startswith(b"date: ") and block.endswith(b" GMT\r\nserver: ferrogate\r\n")


def test_header_lines_drop_server_owned_names_and_report_close() -> None:
    lines, close = header_lines([(b"X-A", b"1"), (b"Transfer-Encoding", b"chunked"), (b"connection", b"Close")])
    assert lines == b"X-A: 1\r\n"
    assert close


def test_chunk_framing() -> None:
    assert chunk(b"hello world!") == b"c\r\nhello world!\r\n"
