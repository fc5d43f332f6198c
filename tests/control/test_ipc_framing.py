"""IPC messages: every type round-trips, and framing survives any byte split."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from decimal import Decimal

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from msgspec.structs import astuple

from ferrogate import ipc
from ferrogate.config.model import ApiKey, Config, GatewayProfile, Limits, Policy, Tenant
from ferrogate.ipc.request_records import AttemptRecord, RequestRecord
from ferrogate.observability.record_queue import RecordQueue
from ferrogate.observability.request_tally import RequestTally

from .helpers import run

SAMPLES: list[ipc.Message] = [
    ipc.WorkerHello(pid=101, slot=0, generation=1, started_at=1.5, config_revision="abc"),
    ipc.WorkerState(pid=101, state=ipc.WorkerPhase.READY),
    ipc.Heartbeat(pid=101, ts=2.0, inflight=3, connections=7, responses={200: 5, 404: 1}, streams=2),
    RecordQueue(RequestTally()).pack(
        [
            astuple(RequestRecord(
                event_id="e1", at=1.5, request_id="req_1", endpoint="chat", status=200, duration_ms=3.0,
                overhead_ms=0.1, key_id="k", model="m", provider="p", input_tokens=5, output_tokens=2,
                cost_pico=70, usage_source="provider", attempt_log=(AttemptRecord("p", "pm", 0.05, 2.5, 200),),
            ))
        ],
        101,
    ),
    ipc.ProviderHealth(
        pid=101,
        ts=2.0,
        targets=[
            ipc.TargetHealthSample(
                provider="openai",
                provider_model="gpt-4o",
                state="open",
                consecutive_failures=5,
                successes=40,
                failures=6,
                failure_rate=0.59,
                latency_ewma_ms=812.5,
                opened_at=1.0,
                retry_at=31.0,
            )
        ],
    ),
    ipc.DrainState(draining=True),
    ipc.SharedStateCatchUp(catching_up=True),
    ipc.AdminObjects(
        revision=7,
        api_keys=[ApiKey(id="k", key_hash="hmac-sha256:" + "0" * 64, monthly_cost_budget_usd=Decimal("2.5"))],
        tenants=[Tenant(id="t", daily_token_budget=5)],
        policies=[Policy(name="p", models=["m*"])],
        gateway_configs=[GatewayProfile(id="g", revision=3)],
    ),
    ipc.SupervisorHello(pid=1, generation=1),
    ipc.SupervisorStatus(
        pid=1,
        generation=1,
        started_at=0.5,
        phase="running",
        config_revision="abc",
        config_path="/etc/ferrogate/Caddyfile",
        expected_workers=2,
        workers=[ipc.WorkerSlotInfo(slot=0, pid=101, generation=1, state=ipc.WorkerPhase.READY, started_at=1.5)],
        draining=True,
        last_reload=ipc.ReloadOutcome(ok=False, revision="abc", errors=["x:1:1: bad"], seq=2, at=3.0),
    ),
    ipc.ReloadRequest(id=9),
    ipc.ReloadVerdict(id=9, valid=False, revision="", previous_revision="abc", errors=["x.toml:1:1: bad"]),
    ipc.ReloadResult(
        id=9, outcome=ipc.ReloadOutcome(ok=False, revision="def", errors=["x.toml:1:1: bad"])
    ),
    ipc.UpgradeRequest(id=10),
    ipc.UpgradeResult(id=10, ok=True, message="started"),
    ipc.ErrorReply(id=11, code="not_implemented", message="later"),
    ipc.ToolCatalog(revision=3, tools=b'[{"name":"kit-add"}]'),
    ipc.ToolCallRequest(id=12, name="kit-add", arguments=b'{"a":1}', request_id="req_1", key_id="k", session_id=None),
    ipc.ToolCallReply(id=12, status=504, code="tool_timeout", message="slow", session_id="ts_1", duration_ms=1.5),
    ipc.TlsCertificatesRenewed(serial="1f"),
    ipc.ToolSessionNote(session_id="ts_" + "0" * 24, request_id="req_2", key_id=None, model="m", provider="p",
                        prompt_tokens=3, completion_tokens=4, duration_ms=2.5, finish_reason="tool_calls",
                        tool_calls=["kit-add"]),
]


def test_sample_list_covers_every_message_type() -> None:
    assert {type(m) for m in SAMPLES} == set(ipc.Message.__args__)  # type: ignore[attr-defined]


@pytest.mark.parametrize("msg", SAMPLES, ids=lambda m: type(m).__name__)
def test_every_message_type_round_trips_through_one_frame(msg: ipc.Message) -> None:
    frame = ipc.encode(msg)
    assert int.from_bytes(frame[:4], "big") == len(frame) - 4
    assert ipc.FrameDecoder().feed(frame) == [msg]


def test_frames_carry_the_type_tag_not_a_string_protocol() -> None:
    payload = ipc.encode(ipc.WorkerState(pid=5, state=ipc.WorkerPhase.DRAINING))[4:]
    assert msgspec.msgpack.decode(payload) == {"type": "WorkerState", "pid": 5, "state": "draining"}


def test_an_unknown_lifecycle_state_is_rejected() -> None:
    payload = msgspec.msgpack.encode({"type": "WorkerState", "pid": 5, "state": "sleeping"})
    with pytest.raises(ipc.FrameError):
        ipc.decode_payload(payload)


def test_an_oversized_frame_header_is_rejected_before_buffering_the_body() -> None:
    decoder = ipc.FrameDecoder(max_frame_bytes=1024)
    with pytest.raises(ipc.FrameError, match="exceeds"):
        decoder.feed((4096).to_bytes(4, "big") + b"x")


def test_garbage_payload_is_a_frame_error() -> None:
    with pytest.raises(ipc.FrameError):
        ipc.FrameDecoder().feed((3).to_bytes(4, "big") + b"\xc1\xc1\xc1")


# --------------------------------------------------------------------------- property: arbitrary splits

_names = st.text(min_size=0, max_size=12)
_ints = st.integers(min_value=0, max_value=2**31)
_floats = st.floats(allow_nan=False, allow_infinity=False)
_states = st.sampled_from(list(ipc.WorkerPhase))

_messages = st.one_of(
    st.builds(
        ipc.WorkerHello,
        pid=_ints,
        slot=_ints,
        generation=_ints,
        started_at=_floats,
        config_revision=_names,
    ),
    st.builds(ipc.WorkerState, pid=_ints, state=_states),
    st.builds(ipc.Heartbeat, pid=_ints, ts=_floats, inflight=_ints, connections=_ints),
    st.builds(ipc.DrainState, draining=st.booleans()),
    st.builds(ipc.SharedStateCatchUp, catching_up=st.booleans()),
    st.builds(ipc.UpgradeRequest, id=_ints),
    st.builds(
        ipc.SupervisorStatus,
        pid=_ints,
        generation=_ints,
        started_at=_floats,
        phase=st.sampled_from(["starting", "running", "reloading", "upgrading", "stopping"]),
        config_revision=_names,
        config_path=_names,
        expected_workers=_ints,
        workers=st.lists(
            st.builds(
                ipc.WorkerSlotInfo,
                slot=_ints,
                pid=_ints,
                generation=_ints,
                state=_states,
                started_at=_floats,
                restarts=_ints,
                last_exit_code=st.none() | st.integers(-64, 255),
            ),
            max_size=4,
        ),
    ),
)


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces, start = [], 0
    for p in points:
        pieces.append(data[start:p])
        start = p
    pieces.append(data[start:])
    return pieces


@settings(max_examples=150, deadline=None)
@given(
    msgs=st.lists(_messages, min_size=1, max_size=6),
    cuts=st.lists(st.integers(0, 10_000), max_size=12),
)
def test_incremental_decoder_reassembles_messages_from_any_split(
    msgs: list[ipc.Message], cuts: list[int]
) -> None:
    stream = b"".join(ipc.encode(m) for m in msgs)
    decoder = ipc.FrameDecoder()
    out: list[ipc.Message] = []
    for piece in _split(stream, cuts):
        out.extend(decoder.feed(piece))
    assert out == msgs
    assert decoder.pending_bytes == 0


@settings(max_examples=60, deadline=None)
@given(
    msgs=st.lists(_messages, min_size=1, max_size=4),
    cuts=st.lists(st.integers(0, 10_000), max_size=8),
)
def test_stream_reader_reads_messages_from_any_split(
    msgs: list[ipc.Message], cuts: list[int]
) -> None:
    stream = b"".join(ipc.encode(m) for m in msgs)

    async def scenario() -> list[ipc.Message]:
        reader = asyncio.StreamReader()
        for piece in _split(stream, cuts):
            reader.feed_data(piece)
        reader.feed_eof()
        out = []
        while (msg := await ipc.read_message(reader)) is not None:
            out.append(msg)
        return out

    assert run(scenario()) == msgs


def test_stream_reader_reports_a_frame_torn_by_eof() -> None:
    frame = ipc.encode(ipc.Heartbeat(pid=1, ts=0.0, inflight=0, connections=0))

    async def scenario() -> None:
        reader = asyncio.StreamReader()
        reader.feed_data(frame[:-2])
        reader.feed_eof()
        with pytest.raises(ipc.FrameError):
            await ipc.read_message(reader)

    run(scenario())


def test_blocking_helpers_exchange_messages_over_a_socketpair() -> None:
    left, right = socket.socketpair()
    with left, right:
        for msg in SAMPLES:
            ipc.send_blocking(left, msg)
        left.shutdown(socket.SHUT_WR)
        received = []
        while (msg := ipc.recv_blocking(right)) is not None:
            received.append(msg)
    assert received == SAMPLES


# --------------------------------------------------------------------------- config identity and import hygiene


def test_config_revision_is_stable_for_equal_configs_and_changes_with_content() -> None:
    assert ipc.config_revision(Config()) == ipc.config_revision(Config())
    assert ipc.config_revision(Config()) != ipc.config_revision(
        Config(limits=Limits(max_body_bytes=1))
    )


def test_importing_ipc_does_not_load_the_control_process_or_supervisor() -> None:
    code = (
        "import sys, ferrogate.ipc; "
        "bad = [m for m in sys.modules if m.startswith(('ferrogate.control', 'ferrogate.supervisor'))]; "
        "print(bad)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    assert out.strip() == "[]"
