"""CPU accounting from /proc: how much CPU a process tree spent per request served."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class ProcStat:
    pid: int
    ppid: int
    ticks: int  # utime + stime, in clock ticks


def parse_proc_stat(text: str) -> ProcStat:
    """Parse one /proc/<pid>/stat line. The command name may hold spaces and parentheses,
    so fields are counted from the last ``)``."""
    close = text.rfind(")")
    if close < 0:
        raise ValueError("not a /proc/<pid>/stat line")
    pid = int(text[: text.index("(")].strip())
    rest = text[close + 2 :].split()
    # rest[0] is field 3 (state): ppid is field 4, utime 14, stime 15.
    return ProcStat(pid=pid, ppid=int(rest[1]), ticks=int(rest[11]) + int(rest[12]))


def tree_ticks(stats: Iterable[ProcStat], root: int) -> int:
    """Total ticks of ``root`` and all its descendants (present in ``stats``)."""
    children: dict[int, list[ProcStat]] = {}
    by_pid: dict[int, ProcStat] = {}
    for st in stats:
        by_pid[st.pid] = st
        children.setdefault(st.ppid, []).append(st)
    if root not in by_pid:
        return 0
    total, todo, seen = 0, [by_pid[root]], set()
    while todo:
        st = todo.pop()
        if st.pid in seen:
            continue
        seen.add(st.pid)
        total += st.ticks
        todo.extend(children.get(st.pid, ()))
    return total


def us_per_request(ticks_before: int, ticks_after: int, requests: int,
                   clk_tck: int = CLK_TCK) -> float | None:
    """CPU microseconds per request from a tick delta; None when nothing was served."""
    if requests <= 0:
        return None
    return (ticks_after - ticks_before) * 1_000_000 / clk_tck / requests


def busy_ticks(proc_stat_first_line: str) -> tuple[int, int]:
    """(busy, total) ticks from the ``cpu`` line of /proc/stat (idle and iowait are not busy)."""
    fields = [int(x) for x in proc_stat_first_line.split()[1:]]
    total = sum(fields[:8])  # user nice system idle iowait irq softirq steal (guest is in user)
    idle = fields[3] + fields[4]
    return total - idle, total


def box_shares(busy0: tuple[int, int], busy1: tuple[int, int],
               own_ticks: int) -> tuple[float | None, float | None]:
    """(busy %, others %) of the whole machine between two :func:`busy_ticks` readings.

    ``own_ticks`` is what the harness's own processes used; the rest of the busy time was
    spent by processes it did not start (other users of a shared box)."""
    total = busy1[1] - busy0[1]
    if total <= 0:
        return None, None
    busy = busy1[0] - busy0[0]
    return 100.0 * busy / total, 100.0 * max(0, busy - own_ticks) / total


def read_all_stats(proc: Path = Path("/proc")) -> list[ProcStat]:
    stats = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stats.append(parse_proc_stat((entry / "stat").read_text()))
        except (OSError, ValueError, IndexError):
            continue  # the process exited while we looked
    return stats


def snapshot(roots: Iterable[int]) -> dict[int, int]:
    """Ticks per process tree, for every root pid, from one pass over /proc."""
    stats = read_all_stats()
    return {root: tree_ticks(stats, root) for root in roots}


def box_busy() -> tuple[int, int]:
    with open("/proc/stat") as f:
        return busy_ticks(f.readline())


def wait_for_quiet(max_wait_secs: float, busy_limit_pct: float = 25.0,
                   window_secs: float = 0.5) -> tuple[float, float | None]:
    """Wait (bounded) until the machine's busy share over a short window drops below
    ``busy_limit_pct``; between runs the harness's own services are idle, so what is left
    is other users' load. Returns (seconds waited, last busy %)."""
    t0 = time.monotonic()
    last: float | None = None
    while True:
        before = box_busy()
        time.sleep(window_secs)
        last, _ = box_shares(before, box_busy(), 0)
        if last is not None and last < busy_limit_pct:
            break
        if time.monotonic() - t0 + window_secs > max_wait_secs:
            break
    return time.monotonic() - t0, last
