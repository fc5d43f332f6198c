"""The gauges a scrape reads from the control process's live view of its node."""

from __future__ import annotations

from collections.abc import Iterator

from ferrogate.control.state import ControlState, WorkerReport
from ferrogate.observability.gateway_metrics import NodeView


class _Worker:
    __slots__ = ("connections", "inflight", "state", "streams")

    def __init__(self, report: WorkerReport) -> None:
        self.inflight = report.inflight
        self.connections = report.connections
        self.streams = report.streams
        self.state = str(report.state)


def node_view(state: ControlState) -> NodeView:
    def workers() -> Iterator[_Worker]:
        for report in state.workers.values():
            if report.connected:
                yield _Worker(report)

    def breakers() -> Iterator[tuple[str, str, str]]:
        for target in state.provider_health_view().targets:
            yield target.provider, target.provider_model, target.state

    def restarts() -> int:
        supervisor = state.supervisor
        return 0 if supervisor is None else sum(w.restarts for w in supervisor.workers)

    return NodeView(workers, breakers, restarts, node_id=state.node_id)
