"""Typed messages between workers, the control process and the supervisor.

Every message is a frozen msgspec Struct in one tagged union (:data:`Message`),
encoded as msgpack and framed with a 4-byte big-endian length prefix. Nothing
is ever a string to split: the receiver decodes straight into the union and
dispatches on the type (``match msg: case Heartbeat(): ...``).

Who sends what:

* worker → control: :class:`WorkerHello` first on every connection, then
  :class:`WorkerState` on each lifecycle change, :class:`Heartbeat` about once a
  second (with :class:`ProviderHealth` when its breakers changed),
  :class:`MetricsBatch` (reserved) and the leased governance calls.
* control → worker: :class:`DrainState` broadcasts and replies to requests.
* supervisor → control: :class:`SupervisorHello` first, then a full
  :class:`SupervisorStatus` snapshot whenever its worker table changes. Workers
  cannot report their own death, so the supervisor's table is authoritative for
  which workers exist; worker messages only enrich it.
* control → supervisor: :class:`ReloadRequest` (admin ``config/reload``) and
  :class:`UpgradeRequest`; the supervisor answers with :class:`ReloadResult` /
  :class:`UpgradeResult` carrying the same ``id``.

Requests carry an ``id`` chosen by the sender; the reply carries the same
``id`` (or an :class:`ErrorReply`). Hot-path state that must agree across
workers is *leased* in batches (see :class:`LeaseRequest`) so a request never
waits on a round trip to the control process.

The framing helpers come in three flavours: an incremental
:class:`FrameDecoder` (any byte split; for the supervisor's non-blocking loop),
asyncio stream helpers, and blocking-socket helpers. :class:`ControlClient`
is the worker's asyncio connection to the control process.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import socket
import struct
from collections import deque
from collections.abc import Callable
from typing import Literal, overload

import msgspec

from ferrogate.config.model import Config

_log = logging.getLogger("ferrogate.ipc")

# --------------------------------------------------------------------------- lifecycle vocabularies

WorkerLifecycle = Literal["starting", "ready", "draining", "exited"]
"""A worker's lifecycle as every process names it (``ready`` is the worker's own ack)."""

ADMIN_FORWARD_MARK = b"x-ferrogate-admin-forward"
"""Header a worker sets (overwriting any the client sent) on ``/admin`` requests it forwards
from the public port; the control process applies the public port's rules to them. A
caller that sets it itself only gets those stricter rules."""

WORKER_LIFECYCLE_ORDER: dict[str, int] = {"starting": 0, "ready": 1, "draining": 2, "exited": 3}
"""Lifecycle states only move forward; merging two views keeps the later one."""

SupervisorPhase = Literal["starting", "running", "reloading", "upgrading", "stopping"]

LeaseKind = Literal["requests", "tokens"]


class _Msg(msgspec.Struct, frozen=True, kw_only=True, tag=True, tag_field="type"):
    """Base of every IPC message; the tag is the class name."""


# --------------------------------------------------------------------------- worker → control


class WorkerHello(_Msg, frozen=True):
    """First frame on a worker's connection (re-sent after every reconnect)."""

    pid: int
    slot: int
    generation: int
    started_at: float  # wall clock (time.time()) when the worker process started
    config_revision: str


class WorkerState(_Msg, frozen=True):
    pid: int
    state: WorkerLifecycle


class Heartbeat(_Msg, frozen=True):
    pid: int
    ts: float  # wall clock when sent
    inflight: int
    connections: int


BreakerStateName = Literal["closed", "open", "half_open"]
"""A circuit breaker's state as :class:`ferrogate.ai.health.TargetStatus` names it."""


class TargetHealthSample(msgspec.Struct, frozen=True, kw_only=True, array_like=True):
    """One (provider, provider_model) breaker as one worker sees it.

    ``array_like`` because a worker sends one per target it has routed to. Times
    are wall clock (``time.time()``), converted by the worker from its monotonic
    breaker clock, so the control process can age them against its own clock.
    """

    provider: str
    provider_model: str
    state: BreakerStateName
    consecutive_failures: int
    successes: int
    failures: int
    failure_rate: float  # the worker's failure-rate EWMA over outcomes, 0..1
    latency_ewma_ms: float | None = None  # None until a request succeeded
    opened_at: float | None = None  # when the breaker last opened (open / half_open only)
    retry_at: float | None = None  # when an open breaker lets a probe through


class ProviderHealth(_Msg, frozen=True):
    """A worker's breaker and latency state for every target it has used.

    Sent next to a :class:`Heartbeat`, but only when the state changed since the
    last report or the connection to control is new (a fresh control process
    knows nothing); each report replaces the worker's previous one whole.
    """

    pid: int
    ts: float  # wall clock when sent
    targets: list[TargetHealthSample] = []


class CounterSample(msgspec.Struct, frozen=True, kw_only=True, array_like=True):
    """One metric delta. ``name`` comes from :mod:`ferrogate.observability.names`."""

    name: str
    labels: tuple[str, ...] = ()
    value: float = 0.0


class MetricsBatch(_Msg, frozen=True):
    """Reserved for the metrics issue: counter deltas accumulated since the last batch."""

    pid: int
    ts: float
    samples: list[CounterSample] = []


# --------------------------------------------------------------------------- leases (governance; shape only)


class LeaseAsk(msgspec.Struct, frozen=True, kw_only=True):
    """Ask for ``amount`` units of a shared budget identified by ``key``.

    ``key`` names a limit bucket (e.g. ``"rpm:key_123"`` or ``"tokens:tenant_a:2026-11"``);
    the governance issue defines the key grammar.
    """

    key: str
    kind: LeaseKind
    amount: int


class LeaseRequest(_Msg, frozen=True):
    """A batch of asks, sent ahead of need. Reply: :class:`LeaseGrant`.

    The protocol the governance issue implements on this shape:

    * A worker keeps a local allowance per bucket. The hot path only spends
      from it (no IPC); a background task asks for the next block when an
      allowance drops below a low-water mark, batching every bucket that is
      low into one request.
    * Control grants at most what the shared bucket holds (``granted`` may be
      less than asked, or 0) and never more than a block, so a worker cannot
      starve the others; a grant lapses at ``expires_at`` (the window end).
    * Token budgets work the same way: a request reserves its estimated tokens
      from the allowance and settles the real count locally; what is left when
      the worker drains, or when a lease is about to lapse, goes back in a
      :class:`LeaseReturn`. Spent = granted - returned.
    * With control unreachable the worker fails closed once its allowance is
      gone (a 429/503 from the caller), never waits.
    """

    pid: int
    asks: list[LeaseAsk]
    id: int = 0  # set by the sender's client; the reply echoes it


class LeaseItem(msgspec.Struct, frozen=True, kw_only=True):
    """Units granted for one bucket; unused units lapse at ``expires_at`` (wall clock)."""

    key: str
    kind: LeaseKind
    granted: int
    expires_at: float
    remaining: int | None = None  # what is left in the shared bucket, when known


class LeaseGrant(_Msg, frozen=True):
    id: int
    grants: list[LeaseItem]


class LeaseReturn(_Msg, frozen=True):
    """Fire-and-forget: hand back unused units early (drain, or a reservation settled low)."""

    pid: int
    items: list[LeaseItem]


# --------------------------------------------------------------------------- control → workers


class DrainState(_Msg, frozen=True):
    """The node is (or is no longer) draining: ``/readyz`` answers 503 while it is.

    Control sends it to every worker and to the supervisor; the supervisor keeps
    the flag and echoes it in :attr:`SupervisorStatus.draining`, so a control
    process started after a reload or a crash restores it.
    """

    draining: bool


# --------------------------------------------------------------------------- supervisor ↔ control


class SupervisorHello(_Msg, frozen=True):
    """First frame on the supervisor's connection; marks it as the supervisor channel."""

    pid: int
    generation: int


class WorkerSlotInfo(msgspec.Struct, frozen=True, kw_only=True):
    """One row of the supervisor's worker table."""

    slot: int
    pid: int
    generation: int
    state: WorkerLifecycle
    started_at: float
    restarts: int = 0
    last_exit_code: int | None = None


class ReloadSummary(msgspec.Struct, frozen=True, kw_only=True):
    """The outcome of the supervisor's last reload, however it was triggered (SIGHUP, CLI, admin)."""

    ok: bool
    revision: str
    at: float  # wall clock when it finished
    errors: list[str] = []


class SupervisorStatus(_Msg, frozen=True):
    """The supervisor's whole worker table, pushed whenever it changes.

    ``expected_workers`` is the number of slots: the node is ready when every
    slot has a ready worker. ``config_revision``/``config_path`` name the config
    the supervisor has applied (``config_revision`` is :func:`config_revision`
    of it); the control process follows them.
    """

    pid: int
    generation: int
    started_at: float
    phase: SupervisorPhase
    config_revision: str
    config_path: str
    expected_workers: int
    workers: list[WorkerSlotInfo]
    draining: bool = (
        False  # echo of the last DrainState control sent; restores it after a control restart
    )
    last_reload: ReloadSummary | None = None


class ReloadRequest(_Msg, frozen=True):
    """Re-read and apply the supervisor's config file (validated by the sender as ``revision``).

    ``config_path`` is the file the sender validated; today it is always the
    supervisor's own config path (the admin API refuses any other).
    """

    config_path: str
    revision: str
    id: int = 0


class ReloadResult(_Msg, frozen=True):
    id: int
    ok: bool
    revision: str
    errors: list[str] = []


class UpgradeRequest(_Msg, frozen=True):
    """Start a graceful upgrade (new supervisor generation), as SIGUSR2 does."""

    id: int = 0


class UpgradeResult(_Msg, frozen=True):
    id: int
    ok: bool
    message: str = ""


class ErrorReply(_Msg, frozen=True):
    """A request could not be served. ``code`` is machine-readable (e.g. ``not_implemented``)."""

    id: int
    code: str
    message: str


Message = (
    WorkerHello
    | WorkerState
    | Heartbeat
    | ProviderHealth
    | MetricsBatch
    | LeaseRequest
    | LeaseGrant
    | LeaseReturn
    | DrainState
    | SupervisorHello
    | SupervisorStatus
    | ReloadRequest
    | ReloadResult
    | UpgradeRequest
    | UpgradeResult
    | ErrorReply
)
"""Every message that crosses a FerroGate IPC socket."""

RequestMessage = LeaseRequest | ReloadRequest | UpgradeRequest
ReplyMessage = LeaseGrant | ReloadResult | UpgradeResult | ErrorReply

# --------------------------------------------------------------------------- config identity


def config_revision(config: Config) -> str:
    """A short stable fingerprint of an effective config, carried in messages and /status.

    Hashes the canonical model (not the file), so two front ends that load the
    same model share a revision and a changed environment variable changes it.
    """
    return hashlib.sha256(_ENCODER.encode(config)).hexdigest()[:16]


# --------------------------------------------------------------------------- framing

HEADER = struct.Struct(">I")
MAX_FRAME_BYTES = 4 * 1024 * 1024

_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder(Message)


class FrameError(Exception):
    """The peer sent bytes that are not a valid frame; drop the connection."""


def encode(msg: Message) -> bytes:
    """One frame: 4-byte big-endian payload length, then the msgpack payload."""
    payload = _ENCODER.encode(msg)
    return HEADER.pack(len(payload)) + payload


def decode_payload(payload: bytes | memoryview) -> Message:
    """Decode one frame's payload (without the length prefix)."""
    try:
        return _DECODER.decode(payload)
    except msgspec.DecodeError as exc:
        raise FrameError(f"undecodable IPC message: {exc}") from None


class FrameDecoder:
    """Incremental decoder: feed any byte split, get whole messages back."""

    __slots__ = ("_buf", "_max")

    def __init__(self, max_frame_bytes: int = MAX_FRAME_BYTES) -> None:
        self._buf = bytearray()
        self._max = max_frame_bytes

    def feed(self, data: bytes) -> list[Message]:
        self._buf += data
        out: list[Message] = []
        buf = self._buf
        pos = 0
        while len(buf) - pos >= HEADER.size:
            (size,) = HEADER.unpack_from(buf, pos)
            if size > self._max:
                raise FrameError(f"IPC frame of {size} bytes exceeds {self._max}")
            end = pos + HEADER.size + size
            if len(buf) < end:
                break
            out.append(decode_payload(bytes(buf[pos + HEADER.size : end])))
            pos = end
        if pos:
            del buf[:pos]
        return out

    @property
    def pending_bytes(self) -> int:
        """Bytes of an incomplete frame held back (non-zero at EOF means a torn frame)."""
        return len(self._buf)


async def read_message(
    reader: asyncio.StreamReader, max_frame_bytes: int = MAX_FRAME_BYTES
) -> Message | None:
    """Next message, or None at a clean end of stream (EOF between frames)."""
    try:
        header = await reader.readexactly(HEADER.size)
    except asyncio.IncompleteReadError as exc:
        if exc.partial:
            raise FrameError("connection closed inside a frame header") from None
        return None
    (size,) = HEADER.unpack(header)
    if size > max_frame_bytes:
        raise FrameError(f"IPC frame of {size} bytes exceeds {max_frame_bytes}")
    try:
        payload = await reader.readexactly(size)
    except asyncio.IncompleteReadError:
        raise FrameError("connection closed inside a frame") from None
    return decode_payload(payload)


def write_messages(writer: asyncio.StreamWriter, msgs: list[Message]) -> None:
    """Queue several frames in one write (callers ``await writer.drain()`` after)."""
    writer.write(b"".join(encode(m) for m in msgs))


def send_blocking(sock: socket.socket, msg: Message) -> None:
    """Send one frame on a blocking socket (the supervisor has no event loop)."""
    sock.sendall(encode(msg))


def recv_blocking(sock: socket.socket, max_frame_bytes: int = MAX_FRAME_BYTES) -> Message | None:
    """Receive one frame from a blocking socket; None at a clean EOF between frames."""
    header = _recv_exactly(sock, HEADER.size, eof_ok=True)
    if header is None:
        return None
    (size,) = HEADER.unpack(header)
    if size > max_frame_bytes:
        raise FrameError(f"IPC frame of {size} bytes exceeds {max_frame_bytes}")
    payload = _recv_exactly(sock, size, eof_ok=False)
    assert payload is not None
    return decode_payload(payload)


def _recv_exactly(sock: socket.socket, n: int, *, eof_ok: bool) -> bytes | None:
    chunks = bytearray()
    while len(chunks) < n:
        chunk = sock.recv(n - len(chunks))
        if not chunk:
            if eof_ok and not chunks:
                return None
            raise FrameError("connection closed inside a frame")
        chunks += chunk
    return bytes(chunks)


# --------------------------------------------------------------------------- worker-side client


class ControlUnavailable(Exception):
    """The control process is not connected or did not answer in time; degrade, never hang."""


class ControlRequestError(Exception):
    """The control process answered a request with :class:`ErrorReply`."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class ControlClient:
    """A worker's connection to the control process.

    Serving never waits on it: :meth:`send` is fire-and-forget into a bounded
    queue (the oldest message is dropped when full, since newer state wins),
    and :meth:`request` fails fast with :class:`ControlUnavailable` while the
    control process is down. A background task connects, re-sends the hello
    and the last lifecycle state after every reconnect, writes queued messages
    in batches, and retries with exponential backoff.
    """

    __slots__ = (
        "_backoff_max",
        "_backoff_min",
        "_closing",
        "_connected",
        "_connects",
        "_dropped",
        "_hello",
        "_next_id",
        "_on_message",
        "_path",
        "_pending",
        "_queue",
        "_state",
        "_task",
        "_wakeup",
    )

    def __init__(
        self,
        path: str,
        hello: WorkerHello,
        *,
        queue_size: int = 1024,
        backoff_min: float = 0.05,
        backoff_max: float = 2.0,
        on_message: Callable[[Message], None] | None = None,
    ) -> None:
        self._path = path
        self._hello = hello
        self._queue: deque[Message] = deque(maxlen=queue_size)
        self._backoff_min = backoff_min
        self._backoff_max = backoff_max
        self._on_message = on_message
        self._wakeup = asyncio.Event()
        self._connected = asyncio.Event()
        self._pending: dict[int, asyncio.Future[Message]] = {}
        self._next_id = 0
        self._state: WorkerLifecycle | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._dropped = 0
        self._connects = 0

    # -- public surface

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    @property
    def dropped(self) -> int:
        """Messages dropped because the queue was full."""
        return self._dropped

    @property
    def connects(self) -> int:
        """Successful connections so far (reconnects included)."""
        return self._connects

    def start(self) -> None:
        """Start the background connection task (call from inside the running loop)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="ipc-client")

    async def close(self) -> None:
        self._closing = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._fail_pending("control client closed")

    async def wait_connected(self, timeout: float) -> bool:
        """True once connected (hello sent), False if ``timeout`` passes first."""
        try:
            await asyncio.wait_for(self._connected.wait(), timeout)
        except TimeoutError:
            return False
        return True

    def set_state(self, state: WorkerLifecycle) -> None:
        """Report a lifecycle change; remembered and replayed after a reconnect."""
        self._state = state
        self.send(WorkerState(pid=self._hello.pid, state=state))

    def send(self, msg: Message) -> bool:
        """Queue ``msg`` without waiting. False when an older message had to be dropped."""
        full = len(self._queue) == self._queue.maxlen
        if full:
            self._dropped += 1
        self._queue.append(msg)
        self._wakeup.set()
        return not full

    @overload
    async def request(self, msg: LeaseRequest, timeout: float) -> LeaseGrant: ...
    @overload
    async def request(self, msg: ReloadRequest, timeout: float) -> ReloadResult: ...
    @overload
    async def request(self, msg: UpgradeRequest, timeout: float) -> UpgradeResult: ...

    async def request(self, msg: RequestMessage, timeout: float) -> Message:
        """Send a request and wait for its reply (matched by id) for at most ``timeout`` s."""
        if not self.connected:
            raise ControlUnavailable("control process is not connected")
        self._next_id += 1
        rid = self._next_id
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._pending[rid] = future
        self.send(msgspec.structs.replace(msg, id=rid))
        try:
            reply = await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise ControlUnavailable(f"control process did not answer within {timeout}s") from None
        finally:
            self._pending.pop(rid, None)
        if isinstance(reply, ErrorReply):
            raise ControlRequestError(reply.code, reply.message)
        return reply

    # -- connection loop

    async def _run(self) -> None:
        backoff = self._backoff_min
        while not self._closing:
            try:
                reader, writer = await asyncio.open_unix_connection(self._path)
            except OSError:
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self._backoff_max)
                continue
            backoff = self._backoff_min
            try:
                await self._session(reader, writer)
            except (OSError, FrameError) as exc:
                _log.debug("control connection lost: %s", exc)
            finally:
                self._connected.clear()
                self._fail_pending("control connection lost")
                writer.close()
            # A peer that accepts and hangs up at once must not become a hot loop.
            await asyncio.sleep(backoff)

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        opening: list[Message] = [self._hello]
        if self._state is not None:
            opening.append(WorkerState(pid=self._hello.pid, state=self._state))
        write_messages(writer, opening)
        await writer.drain()
        self._connects += 1
        self._connected.set()
        reader_task = asyncio.get_running_loop().create_task(self._read_loop(reader))
        try:
            while True:
                await self._wakeup.wait()
                self._wakeup.clear()
                if reader_task.done():
                    reader_task.result()  # re-raise a framing error
                    return
                if self._queue:
                    batch = list(self._queue)
                    self._queue.clear()
                    write_messages(writer, batch)
                    await writer.drain()
        finally:
            reader_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, OSError, FrameError):
                await reader_task

    async def _read_loop(self, reader: asyncio.StreamReader) -> None:
        try:
            while (msg := await read_message(reader)) is not None:
                if isinstance(msg, LeaseGrant | ReloadResult | UpgradeResult | ErrorReply):
                    future = self._pending.pop(msg.id, None)
                    if future is not None and not future.done():
                        future.set_result(msg)
                elif self._on_message is not None:
                    try:
                        self._on_message(msg)
                    except Exception:
                        _log.exception("handler for %s failed", type(msg).__name__)
        finally:
            self._wakeup.set()  # let the writer notice the connection is gone

    def _fail_pending(self, reason: str) -> None:
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(ControlUnavailable(reason))
