"""How many CPUs this process may really use: the default worker count.

``os.cpu_count()`` counts the machine's CPUs, not the ones a container or a service may
use. The answer here is the smaller of the CPUs the process is pinned to (affinity) and its
cgroup's CPU quota rounded up (cgroup v2 ``cpu.max``, or v1 ``cpu.cfs_quota_us`` /
``cpu.cfs_period_us``), and at least 1.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


def usable_cpus(cgroup_root: Path = CGROUP_ROOT) -> int:
    try:
        pinned = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        pinned = os.cpu_count() or 1
    quota = cgroup_cpu_quota(cgroup_root)
    if quota is not None:
        pinned = min(pinned, max(1, math.ceil(quota)))
    return max(1, pinned)


def cgroup_cpu_quota(root: Path) -> float | None:
    """CPUs the cgroup may use (quota / period), None when unlimited or unknown."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota_us = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period_us = int((root / "cpu" / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return None if quota_us <= 0 or period_us <= 0 else quota_us / period_us
