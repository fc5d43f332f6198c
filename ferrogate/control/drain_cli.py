"""``ferrogate drain``: take the node out of rotation before it stops, or put it back.

Draining makes ``/readyz`` answer 503 at once (load balancers and Kubernetes stop sending)
while every connection keeps being served. ``--wait SECS`` then watches the status until no
worker has a request in flight (streams included), which is what a Kubernetes ``preStop``
hook or a deploy script waits for before stopping the process. Exit 0 when done, 1 on an
admin API error or when requests are still in flight after the wait.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from ferrogate.control.admin_cli import AdminCallFailed, AdminTarget, call

POLL_SECS = 0.25


def drain_command(url: str | None, token: str | None, *, undo: bool, wait_secs: float) -> int:
    try:
        target = AdminTarget.of(url, token)
        if undo:
            call(target, "DELETE", "/admin/v1/drain")
            print("draining: off (the node is ready again)")
            return 0
        call(target, "POST", "/admin/v1/drain", {})
        print("draining: on (/readyz answers 503; connections are still served)")
        if wait_secs <= 0:
            return 0
        started = time.monotonic()
        deadline = started + wait_secs
        while True:
            _, status = call(target, "GET", "/admin/v1/status")
            busy = in_flight(status)
            if busy == 0 and beaten_since(status, time.monotonic() - started):
                print("no request in flight")
                return 0
            if time.monotonic() >= deadline:
                print(f"ferrogate: {busy} request(s) still in flight after {wait_secs:g}s", file=sys.stderr)
                return 1
            time.sleep(POLL_SECS)
    except AdminCallFailed as exc:
        print(f"ferrogate: {exc}", file=sys.stderr)
        return 1


def beaten_since(status: dict[str, Any], secs: float) -> bool:
    """Whether every worker has sent a heartbeat in the last ``secs`` (so its in-flight count
    is from after the drain began, not a beat that predates a request still running)."""
    ages = [w.get("heartbeat_age_secs") for w in status.get("workers") or []]
    return all(age is not None and age < secs for age in ages)


def in_flight(status: dict[str, Any]) -> int:
    """Requests the workers are serving now, as their last heartbeats said."""
    return sum(int(w.get("inflight") or 0) for w in status.get("workers") or [])
