"""The IPC message schema: every message between workers, the control process and the supervisor.

Every message is a frozen msgspec Struct in one tagged union (:data:`Message`);
the tag is the class name. Nothing is ever a string to split: the receiver
decodes straight into the union and dispatches on the type
(``match msg: case Heartbeat(): ...``).

Who sends what:

* worker → control: :class:`WorkerHello` first on every connection, then
  :class:`WorkerState` on each lifecycle change and :class:`Heartbeat` about once
  a second (with its AI request counts, and :class:`ProviderHealth` when its
  breakers changed), and :class:`RecordBatch` with its finished AI requests.
* control → worker: :class:`DrainState` and :class:`SharedStateCatchUp` broadcasts.
* supervisor → control: :class:`SupervisorHello` first, then a full
  :class:`SupervisorStatus` snapshot whenever its worker table changes. Workers
  cannot report their own death, so the supervisor's table is authoritative for
  which workers exist; worker messages only enrich it.
* control → supervisor: :class:`ReloadRequest` (admin ``config/reload``) and
  :class:`UpgradeRequest`; the supervisor answers with :class:`ReloadVerdict`
  then :class:`ReloadResult`, or :class:`UpgradeResult`, carrying the same ``id``.
* MCP tools (control ⇄ worker): in :mod:`ferrogate.ipc.tool_messages`.

Requests carry an ``id`` chosen by the sender; the reply carries the same
``id`` (or an :class:`ErrorReply`).
"""

from __future__ import annotations

import hashlib
from typing import Literal

import msgspec

from ferrogate.config.model import ApiKey, Config, GatewayProfile, Policy, Tenant
from ferrogate.ipc.lifecycle import WorkerPhase
from ferrogate.ipc.message_base import _Msg
from ferrogate.ipc.record_summary import MetricCounts, RecordBlob
from ferrogate.ipc.tool_messages import ToolCallReply, ToolCallRequest, ToolCatalog, ToolSessionNote
from ferrogate.ipc.usage_sums import UsageRow

ADMIN_FORWARD_MARK = b"x-ferrogate-admin-forward"
"""Header a worker sets (overwriting any the client sent) on ``/admin`` requests it forwards
from the public port; the control process applies the public port's rules to them. A
caller that sets it itself only gets those stricter rules."""

SupervisorPhase = Literal["starting", "running", "reloading", "upgrading", "stopping"]


# --------------------------------------------------------------------------- worker → control


class WorkerHello(_Msg, frozen=True):
    """First frame on a worker's connection (re-sent after every reconnect)."""

    pid: int
    slot: int
    generation: int
    started_at: float  # wall clock (time.time()) when the worker process started
    config_revision: str


class WorkerState(_Msg, frozen=True):
    """A worker's own lifecycle report (``ready`` is its ack; sent on every change)."""

    pid: int
    state: WorkerPhase


class RequestCounts(msgspec.Struct, frozen=True, kw_only=True):
    """A worker's totals of finished AI requests since it started (its request tally)."""

    requests: int = 0
    errors: int = 0  # answered with a status of 400 or more
    upstream_errors: int = 0  # of those, failures of a provider (ErrorSource.UPSTREAM)
    internal_errors: int = 0  # of those, the gateway's own faults (ErrorSource.INTERNAL)
    streamed: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0  # estimated from the model catalog's prices

    def __add__(self, other: RequestCounts) -> RequestCounts:
        return RequestCounts(
            requests=self.requests + other.requests,
            errors=self.errors + other.errors,
            upstream_errors=self.upstream_errors + other.upstream_errors,
            internal_errors=self.internal_errors + other.internal_errors,
            streamed=self.streamed + other.streamed,
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            cost=self.cost + other.cost,
        )


class Heartbeat(_Msg, frozen=True):
    """About once a second. Counters are the worker's totals since it started (the control
    process adds up the last beat of every worker it has seen, so totals survive a respawn)."""

    pid: int
    ts: float  # wall clock when sent
    inflight: int
    connections: int
    ai_requests: RequestCounts = msgspec.field(default_factory=RequestCounts)
    responses: dict[int, int] = {}  # every response by status, errors of malformed input included
    streams: int = 0  # AI streams being relayed now
    records_dropped: int = 0  # request records lost because the queue to control was full


class RecordBatch(_Msg, frozen=True):
    """Finished AI requests since the last batch, oldest first, encoded and summed by the
    worker (``ipc.record_summary`` says why)."""

    pid: int
    logs: RecordBlob  # every record: the request log
    events: RecordBlob  # the records that bill: the metering events (empty when all of them bill)
    usage: list[UsageRow] = []
    counts: MetricCounts = msgspec.field(default_factory=MetricCounts)
    all_bill: bool = False  # every record bills: the events are ``logs`` (sent and stored once)
    # The records whose trace is sampled, sent apart when OTLP traces are exported without logs
    # (the control process then decodes only these); None: they are found in ``logs``.
    traced: RecordBlob | None = None

    def billed(self) -> RecordBlob:
        return self.logs if self.all_bill else self.events


BreakerStateName = Literal["closed", "open", "half_open"]
"""A circuit breaker's state as :class:`ferrogate.ai.health_status.TargetStatus` names it."""


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


# --------------------------------------------------------------------------- control → workers


class DrainState(_Msg, frozen=True):
    """The node is (or is no longer) draining: ``/readyz`` answers 503 while it is.

    Control sends it to every worker and to the supervisor; the supervisor keeps
    the flag and echoes it in :attr:`SupervisorStatus.draining`, so a control
    process started after a reload or a crash restores it.
    """

    draining: bool


class SharedStateCatchUp(_Msg, frozen=True):
    """Whether the node has yet to apply the cluster's shared admin objects (``cluster.enabled``
    with a shared state): ``/readyz`` answers 503 until it has, so a load balancer sends no
    request a key made on another node would be refused for."""

    catching_up: bool


class TlsCertificatesRenewed(_Msg, frozen=True):
    """A certificate the listener serves was replaced on disk (control -> workers): load the
    certificate files again into the listener's contexts (new handshakes only)."""

    serial: str = ""


class AdminObjects(_Msg, frozen=True):
    """Every object made over the admin API, at one revision: each worker swaps them in whole,
    next to the config file's own.

    Sent to a worker when it says hello (so a respawned or upgraded worker starts from the
    current revision) and to all workers after every change. Keys carry ``key_hash``
    only, never a secret.
    """

    revision: int
    api_keys: list[ApiKey] = []
    tenants: list[Tenant] = []
    policies: list[Policy] = []
    gateway_configs: list[GatewayProfile] = []

    def merged_into(self, config: Config) -> Config:
        """``config`` with these objects after the config file's own, kind by kind."""
        return msgspec.structs.replace(
            config,
            api_keys=[*config.api_keys, *self.api_keys],
            tenants=[*config.tenants, *self.tenants],
            policies=[*config.policies, *self.policies],
            gateway_configs=[*config.gateway_configs, *self.gateway_configs],
        )


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
    state: WorkerPhase
    started_at: float
    restarts: int = 0
    last_exit_code: int | None = None


class ReloadOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """How a reload ended, however it was asked for (SIGHUP, the admin API).

    One record everywhere: the supervisor keeps its last one and writes it to its
    status file, sends it to the control process (in :class:`SupervisorStatus`, and
    as the :class:`ReloadResult` of a request), and the admin status shows it.
    """

    ok: bool
    revision: str  # the revision applied, or the one refused
    errors: list[str] = []
    message: str = ""
    seq: int = 0  # the supervisor's count of finished reloads (stamped when it records one)
    at: float = 0.0  # wall clock when it finished (stamped with seq)


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
    last_reload: ReloadOutcome | None = None


class ReloadRequest(_Msg, frozen=True):
    """Reload the supervisor's config file (the admin API's ``config/reload``).

    The supervisor is the only process that loads it: it answers at once with a
    :class:`ReloadVerdict` (loaded and valid, or every error), then with a
    :class:`ReloadResult` when a valid reload has finished.
    """

    id: int = 0


class ReloadVerdict(_Msg, frozen=True):
    """The supervisor loaded its config file for a :class:`ReloadRequest`.

    ``valid``: the reload of ``revision`` runs now (or after the one running);
    its end comes as a :class:`ReloadResult`. Not valid: ``errors`` says why
    (``file:line:column: message`` lines) and the running config stays.
    """

    id: int
    valid: bool
    revision: str  # of the config the file holds ("" when it did not load)
    previous_revision: str  # of the config running when it was loaded
    errors: list[str] = []


class ReloadResult(_Msg, frozen=True):
    id: int
    outcome: ReloadOutcome


class UpgradeRequest(_Msg, frozen=True):
    """Start a graceful upgrade (new supervisor generation), as SIGUSR2 does."""

    id: int = 0


class UpgradeResult(_Msg, frozen=True):
    id: int
    ok: bool
    message: str = ""


class ErrorReply(_Msg, frozen=True):
    """A request could not be served. ``code`` is machine-readable (e.g. ``not_supported``)."""

    id: int
    code: str
    message: str


Message = (
    WorkerHello
    | WorkerState
    | Heartbeat
    | RecordBatch
    | ProviderHealth
    | DrainState
    | SharedStateCatchUp
    | TlsCertificatesRenewed
    | AdminObjects
    | SupervisorHello
    | SupervisorStatus
    | ReloadRequest
    | ReloadVerdict
    | ReloadResult
    | UpgradeRequest
    | UpgradeResult
    | ToolCatalog
    | ToolCallRequest
    | ToolCallReply
    | ToolSessionNote
    | ErrorReply
)
"""Every message that crosses a FerroGate IPC socket."""

RequestMessage = ReloadRequest | UpgradeRequest | ToolCallRequest
ReplyMessage = ReloadVerdict | ReloadResult | UpgradeResult | ToolCallReply | ErrorReply


# --------------------------------------------------------------------------- config identity

_CANONICAL = msgspec.msgpack.Encoder()


def config_revision(config: Config) -> str:
    """A short stable fingerprint of an effective config, carried in messages and /status.

    Hashes the canonical model (not the file), so two front ends that load the
    same model share a revision and a changed environment variable changes it.
    """
    return hashlib.sha256(_CANONICAL.encode(config)).hexdigest()[:16]
