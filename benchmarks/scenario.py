"""Helpers shared by the at-scale scenarios: memory of process trees, workers, fds, results.

Memory is read from /proc (``VmRSS`` of every process in a tree); a tree is a service's
process-group leader and all its descendants (FerroGate: supervisor, workers and the
control process; nginx: master and workers).
"""

from __future__ import annotations

import asyncio
import json
import re
import resource
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from benchmarks import nginx
from benchmarks.cpu import read_all_stats
from benchmarks.procs import (
    Service,
    free_loopback_port,
    raw_request,
    start_service,
    stop_service,
    wait_until_serving,
)
from benchmarks.report import RESULTS_DIR

_SPAWNED = re.compile(r"spawned worker (\d+) for slot (\d+)")
_CONTROL = re.compile(r"spawned control process (\d+)")


def run_loop(main: Coroutine[Any, Any, Any]) -> Any:
    """Run ``main`` on uvloop when it is installed (as FerroGate does), else on asyncio."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


def raise_nofile() -> int:
    """Raise this process's soft RLIMIT_NOFILE to its hard limit (children inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        return hard
    return soft


def tree_pids(root: int) -> set[int]:
    """``root`` and every descendant alive now."""
    stats = read_all_stats()
    tree = {root}
    changed = True
    while changed:
        changed = False
        for s in stats:
            if s.ppid in tree and s.pid not in tree:
                tree.add(s.pid)
                changed = True
    return tree


def rss_kb(pid: int) -> int | None:
    """``VmRSS`` of one process in KiB; None when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def tree_rss_kb(root: int) -> int:
    """Sum of ``VmRSS`` over the tree (shared pages count once per process: compare deltas)."""
    return sum(rss_kb(pid) or 0 for pid in tree_pids(root))


def worker_pids(gateway: Service) -> dict[int, int]:
    """FerroGate's current worker pid per slot, from the supervisor's "spawned worker" lines
    (a respawned slot's later line wins)."""
    slots: dict[int, int] = {}
    for match in _SPAWNED.finditer(gateway.log_tail(limit=1 << 22)):
        slots[int(match.group(2))] = int(match.group(1))
    return slots


def start_wide_proxy(workdir: Path, upstream_port: int, workers: int, connections: int) -> Service:
    """nginx ``proxy_pass`` as :func:`benchmarks.nginx.start_proxy`, with room for
    ``connections`` client connections in any one worker."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "tmp").mkdir(exist_ok=True)
    room = max(8192, connections + 1024)
    last: Exception | None = None
    for _ in range(nginx.PORT_ATTEMPTS):  # the probed port may be taken before nginx binds it
        port = free_loopback_port()
        conf = nginx.render_proxy_conf(workdir, port, upstream_port, workers)
        conf = conf.replace(
            "events { worker_connections 8192; }",
            f"worker_rlimit_nofile {room * 2};\nevents {{ worker_connections {room}; }}",
        )
        (workdir / "nginx.conf").write_text(conf)
        service = start_service(
            "nginx",
            ["nginx", "-p", f"{workdir}/", "-c", str(workdir / "nginx.conf")],
            workdir,
            port=port,
        )
        try:
            wait_until_serving(service, raw_request("GET", "/"), deadline_secs=10)
            return service
        except RuntimeError as exc:
            stop_service(service)
            last = exc
    raise RuntimeError(f"nginx did not start: {last}")


def control_pid(gateway: Service) -> int | None:
    """FerroGate's current control process, from the supervisor's log (the last one spawned)."""
    found = _CONTROL.findall(gateway.log_tail(limit=1 << 22))
    return int(found[-1]) if found else None


def write_result(name: str, payload: dict[str, Any], results_dir: Path = RESULTS_DIR) -> Path:
    """``benchmarks/results/<timestamp>-<name>.json`` (gitignored)."""
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / f"{time.strftime('%Y%m%d-%H%M%S')}-{name}.json"
    path.write_text(json.dumps(payload, indent=1, default=str))
    return path


def check_line(
    label: str, value: float | None, ok: bool, goal: str, spec: str = ",.2f"
) -> str | None:
    """A ``targets`` line as :func:`benchmarks.report.target_checks` prints them."""
    if value is None:
        return None
    return f"- [{'PASS' if ok else 'MISS'}] {label}: {value:{spec}} (target {goal})"
