"""The C relay (``_sse_relay``) on socket pairs, driven by hand: chunked framing decoded across
any read boundary, whole events written as one chunk each, marker blocks through ``inspect``,
backpressure, and every way a stream ends."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ferrogate._fastpath import native_relay
from ferrogate.ai.passthrough import _find_usage_object_py

native = pytest.importorskip("ferrogate._fastpath._sse_relay")


class Rig:
    """An upstream socket pair and a client socket pair around one relay."""

    def __init__(
        self,
        max_event: int = 1 << 16,
        inspect: object = None,
        markers: tuple[bytes, ...] = (b"[DONE]",),  # an OpenAI chat stream's
        usage_object: bool = True,
        count: bytes = b"",
    ) -> None:
        self.up_peer, up = socket.socketpair()
        self.client_peer, client = socket.socketpair()
        for s in (up, client, self.up_peer, self.client_peer):
            s.setblocking(False)
        self.codes: list[int] = []
        self.inspected: list[bytes] = []

        def default_inspect(block: bytes) -> bytes:
            self.inspected.append(block)
            return block

        self.relay = native.SseRelay(
            up.detach(), client.detach(), max_event, inspect or default_inspect, self.codes.append, markers,
            usage_object=usage_object, count=count,
        )

    def feed(self, data: bytes) -> None:
        self.up_peer.sendall(data)
        self.relay.readable()

    def received(self) -> bytes:
        out = b""
        while True:
            try:
                got = self.client_peer.recv(1 << 20)
            except BlockingIOError:
                return out
            if not got:
                return out
            out += got

    def close(self) -> None:
        self.relay.close()
        self.up_peer.close()
        self.client_peer.close()


@pytest.fixture
def rig() -> Iterator[Rig]:
    r = Rig()
    try:
        yield r
    finally:
        r.close()


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


EVENT = b'data: {"choices":[{"delta":{"content":"hi"}}],"usage":null}\n\n'


def test_the_codes_python_uses_match_the_extension() -> None:
    for name in ("BLOCKED", "UNBLOCKED", "DONE", "UPSTREAM_EOF", "UPSTREAM_ERROR", "CLIENT_GONE",
                 "TOO_LARGE", "BAD_FRAMING", "INSPECT_FAILED"):
        assert getattr(native, name) == getattr(native_relay, name)


def test_a_whole_event_goes_out_as_one_chunk_without_inspection(rig: Rig) -> None:
    rig.feed(chunk(EVENT))
    assert rig.received() == chunk(EVENT)
    assert rig.inspected == [] and rig.codes == []
    assert rig.relay.bytes_out == len(EVENT)


def test_framing_split_at_every_byte_still_relays_each_event_once(rig: Rig) -> None:
    wire = chunk(EVENT) + chunk(EVENT[:10]) + chunk(EVENT[10:]) + b"5;ext=1\r\n" + b"data:" + b"\r\n" + chunk(b" x\n\n")
    for i in range(len(wire)):
        rig.feed(wire[i : i + 1])
    out = rig.received()
    assert out == chunk(EVENT) + chunk(EVENT) + chunk(b"data: x\n\n")


def test_crlf_events_are_found(rig: Rig) -> None:
    rig.feed(chunk(b"data: a\r\n\r\ndata: b\r\n"))
    assert rig.received() == chunk(b"data: a\r\n\r\n")
    assert rig.relay.pending() == b"data: b\r\n"


def test_a_usage_object_and_done_go_through_inspect(rig: Rig) -> None:
    usage = b'data: {"choices":[],"usage": {"prompt_tokens":1}}\n\n'
    rig.feed(chunk(EVENT + usage))
    rig.feed(chunk(b"data: [DONE]\n\n") + b"0\r\n\r\n")
    assert rig.inspected == [EVENT + usage, b"data: [DONE]\n\n"]  # one block per read
    assert rig.codes == [native.DONE]


def test_a_null_usage_on_every_chunk_is_not_inspected(rig: Rig) -> None:
    rig.feed(chunk(EVENT.replace(b"null", b" null")) + chunk(b'data: {"usage" :\n null}\n\n'))
    assert rig.inspected == []


def test_a_streams_own_markers_decide_what_is_inspected() -> None:
    # A Responses stream: its terminal event goes to Python, a "usage" object elsewhere does not.
    completed = b'event: response.completed\ndata: {"response":{"usage": {"input_tokens":1}}}\n\n'
    delta = b'event: response.output_text.delta\ndata: {"delta":"hi","usage": {"x":1}}\n\n'
    r = Rig(markers=(b"response.completed", b"response.failed"), usage_object=False)
    try:
        r.feed(chunk(delta))
        r.feed(chunk(completed))
        assert r.inspected == [completed]
        assert r.received() == chunk(delta) + chunk(completed)
    finally:
        r.close()


def test_the_counted_substring_is_counted_in_blocks_not_inspected_only() -> None:
    r = Rig(markers=(b"response.completed",), usage_object=False, count=b"data:")
    try:
        r.feed(chunk(b"event: a\ndata: 1\n\nevent: a\ndata: 2\n\n"))
        r.feed(chunk(b"event: a\ndata: 3\n\nevent: a\ndata: 4"))  # the last one is unended
        r.feed(chunk(b"event: response.completed\ndata: {}\n\n"))  # this block goes to inspect
        assert r.relay.counted == 3
    finally:
        r.close()


def test_markers_must_be_a_tuple_of_non_empty_bytes() -> None:
    for markers in ((b"",), ("text",), [b"[DONE]"]):
        a, b = socket.socketpair()
        with a, b, pytest.raises(TypeError):
            native.SseRelay(a.fileno(), b.fileno(), 100, bytes, print, markers)


def test_inspect_may_change_or_drop_what_is_written() -> None:
    r = Rig(inspect=lambda block: b"")
    try:
        r.feed(chunk(b"data: [DONE]\n\n"))
        assert r.received() == b""
        assert r.relay.bytes_out == 0
    finally:
        r.close()


def test_an_inspect_answer_that_is_not_bytes_stops_the_relay() -> None:
    r = Rig(inspect=lambda block: None)
    try:
        r.feed(chunk(b"data: [DONE]\n\n"))
        codes = r.codes
    finally:
        r.close()
    assert codes == [native.INSPECT_FAILED]


def test_what_inspect_raises_is_kept_for_python_to_raise() -> None:
    def refuse(block: bytes) -> bytes:
        raise ValueError("not this one")

    r = Rig(inspect=refuse)
    try:
        r.feed(chunk(b"data: [DONE]\n\n"))
        assert r.codes == [native.INSPECT_FAILED]
        assert isinstance(r.relay.failure, ValueError) and str(r.relay.failure) == "not this one"
    finally:
        r.close()


def test_trailers_after_the_last_chunk_end_the_stream(rig: Rig) -> None:
    rig.feed(chunk(EVENT) + b"0\r\nx-trailer: 1\r\n\r\n")
    assert rig.codes == [native.DONE]


def test_upstream_eof_before_the_last_chunk_is_reported(rig: Rig) -> None:
    rig.feed(chunk(EVENT))
    rig.up_peer.shutdown(socket.SHUT_WR)
    rig.relay.readable()
    assert rig.codes == [native.UPSTREAM_EOF]


@pytest.mark.parametrize("wire", [b"zz\r\n", b"\r\n", b"5\r\nabcdeXY", b"5\n", b"1234567890abc\r\n"])
def test_broken_framing_is_reported(rig: Rig, wire: bytes) -> None:
    rig.feed(wire)
    assert rig.codes == [native.BAD_FRAMING]


def test_bytes_after_the_end_of_the_message_are_broken_framing(rig: Rig) -> None:
    rig.feed(b"0\r\n\r\nHTTP/1.1 200 OK\r\n")
    assert rig.codes == [native.BAD_FRAMING]


def test_an_event_growing_past_the_limit_is_refused() -> None:
    r = Rig(max_event=100)
    try:
        r.feed(chunk(b"data: " + b"x" * 200))
        assert r.codes == [native.TOO_LARGE]
    finally:
        r.close()


def test_a_full_client_socket_blocks_then_drains_in_order(rig: Rig) -> None:
    rig.client_peer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    big = b"data: " + b"y" * 60000 + b"\n\n"
    sent = 0
    while native.BLOCKED not in rig.codes:
        rig.feed(chunk(big))
        sent += 1
    rig.feed(chunk(EVENT))  # not read while blocked: it stays in the upstream socket
    got = b""
    while native.UNBLOCKED not in rig.codes:
        got += rig.received()
        rig.relay.writable()
    rig.relay.readable()  # reading again picks up the event left waiting
    got += rig.received()
    assert got == chunk(big) * sent + chunk(EVENT)


def test_a_client_gone_is_reported(rig: Rig) -> None:
    rig.client_peer.close()
    rig.feed(chunk(EVENT))
    assert rig.codes == [native.CLIENT_GONE]
    assert rig.relay.error != 0


def test_reads_move_the_last_read_clock(rig: Rig) -> None:
    before = rig.relay.last_read
    rig.feed(chunk(EVENT))
    assert rig.relay.last_read >= before


_PIECES = [b'"usage"', b":", b" ", b"\n", b"{", b"null", b"data: ", b'{"a":1}', b"x", b"\r\n"]


def _join_pieces(indexes: list[int]) -> bytes:
    return b"".join(_PIECES[i] for i in indexes)


_BLOCKS = st.lists(st.integers(0, len(_PIECES) - 1), max_size=40).map(_join_pieces)


@given(_BLOCKS, st.integers(-2, 200))
def test_the_c_usage_finder_agrees_with_the_python_one(block: bytes, start: int) -> None:
    assert native.find_usage_object(block, start) == _find_usage_object_py(block, max(start, 0))


def test_the_usage_finder_skips_null_usage_and_finds_an_object() -> None:
    block = b'data: {"usage":null}\n\ndata: {"usage" :\n {"prompt_tokens":1}}\n\n'
    assert native.find_usage_object(block, 0) == block.index(b'"usage" :')
    assert native.find_usage_object(block, block.index(b'"usage" :') + 1) == -1


_EVENT_PIECES = [b"[MARK]", b"[MARX", b"data;", b"[MAR", b"MARK]", b"[", b"data:", b"dat", b"a:", b"d", b"x", b'"usage":', b"{", b"null", b" "]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(st.sampled_from(_EVENT_PIECES), max_size=12).map(b"".join), min_size=1, max_size=6))
def test_a_block_goes_to_python_when_it_holds_a_marker_or_usage_object_and_is_counted_otherwise(
    contents: list[bytes],
) -> None:
    blocks = [b"data: " + content + b"\n\n" for content in contents]  # one event a read
    r = Rig(markers=(b"[MARK]",), count=b"data:")
    try:
        for block in blocks:
            r.feed(chunk(block))
        decided = [b for b in blocks if b"[MARK]" in b or _find_usage_object_py(b, 0) != -1]
        assert r.inspected == decided
        assert r.relay.counted == sum(b.count(b"data:") for b in blocks if b not in decided)
        assert r.received() == b"".join(chunk(b) for b in blocks)
    finally:
        r.close()
