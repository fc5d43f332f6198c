"""The raw request corpus, through the protocol (MockTransport) and through a live server."""

from __future__ import annotations

from typing import Any

import pytest

from ferrogate._fastpath.api import Exchange, Handler
from tests.fastpath.conftest import (
    exchange_over,
    make_conn,
    parse_responses,
    read_until_closed,
    serve,
)
from tests.fastpath.corpus import Case, check_request, load, methods_of

pytestmark = pytest.mark.anyio

VALID = load("valid")
INVALID = load("invalid")


def recorder(log: list[dict[str, Any]]) -> Handler:
    async def handler(exchange: Exchange) -> None:
        body = await exchange.read_body()
        req = exchange.request
        log.append(
            {
                "method": req.method,
                "target": req.target,
                "path": req.path,
                "query": req.query,
                "version": req.http_version,
                "keep_alive": req.keep_alive,
                "headers": list(req.headers),
                "body": body,
                "content_length": req.content_length,
                "chunked": req.chunked,
            }
        )
        exchange.respond(200, [(b"content-type", b"text/plain")], b"ok")

    return handler


def test_corpus_is_not_empty() -> None:
    assert len(VALID) >= 15 and len(INVALID) >= 30


@pytest.mark.parametrize("case", VALID, ids=lambda c: c.name)
async def test_valid_request_is_parsed_as_expected(case: Case) -> None:
    log: list[dict[str, Any]] = []
    conn = make_conn(recorder(log))
    conn.feed(case.raw)
    await conn.settle()
    expected = case.expect["request"]
    responses = parse_responses(conn.transport.take(), methods_of(case), eof=conn.transport.closed)
    assert [r.status for r in responses] == [200] * len(expected)
    assert len(log) == len(expected)
    for seen, want in zip(log, expected, strict=True):
        check_request(seen, want)


@pytest.mark.parametrize("case", INVALID, ids=lambda c: c.name)
async def test_invalid_request_gets_its_error_and_the_connection_closes(case: Case) -> None:
    log: list[dict[str, Any]] = []
    conn = make_conn(recorder(log))
    conn.feed(case.raw)
    await conn.settle()
    before = int(case.expect.get("answered_before", 0))
    responses = parse_responses(conn.transport.take(), ["GET"] * (before + 1))
    assert [r.status for r in responses] == [200] * before + [case.expect["status"]]
    last = responses[-1]
    assert last.headers[b"content-type"] == b"application/json"
    assert last.headers[b"connection"] == b"close"
    assert b'"error"' in last.body
    assert len(log) == before
    assert conn.transport.eof_written or conn.transport.closed


@pytest.mark.parametrize("case", INVALID, ids=lambda c: c.name)
async def test_invalid_request_over_a_real_socket_is_answered_then_closed(case: Case) -> None:
    async with serve(recorder([])) as live:
        reader, writer = await live.open()
        try:
            writer.write(case.raw)
            data = await read_until_closed(reader)  # EOF from the server, or a timeout failure
        finally:
            writer.close()
        before = int(case.expect.get("answered_before", 0))
        responses = parse_responses(data, ["GET"] * (before + 1))
        assert [r.status for r in responses] == [200] * before + [case.expect["status"]]


@pytest.mark.parametrize("case", VALID, ids=lambda c: c.name)
async def test_valid_request_over_a_real_socket(case: Case) -> None:
    log: list[dict[str, Any]] = []
    async with serve(recorder(log)) as live:
        responses, _ = await exchange_over(live, case.raw, methods_of(case))
        assert [r.status for r in responses] == [200] * len(case.expect["request"])
        for seen, want in zip(log, case.expect["request"], strict=True):
            check_request(seen, want)
