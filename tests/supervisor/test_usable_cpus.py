"""The default worker count is the CPUs the process may really use: its affinity, capped by its
cgroup's CPU quota (v2 cpu.max or v1 cfs quota/period), rounded up, at least 1."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ferrogate.supervisor.cpus import cgroup_cpu_quota, usable_cpus


def _cgroup_v2(tmp_path: Path, text: str) -> Path:
    (tmp_path / "cpu.max").write_text(text)
    return tmp_path


def test_a_v2_quota_of_one_and_a_half_cpus_gives_two(tmp_path: Path) -> None:
    assert cgroup_cpu_quota(_cgroup_v2(tmp_path, "150000 100000\n")) == 1.5
    assert usable_cpus(tmp_path) == min(2, len(os.sched_getaffinity(0)))


def test_an_unlimited_v2_cgroup_leaves_the_affinity(tmp_path: Path) -> None:
    assert cgroup_cpu_quota(_cgroup_v2(tmp_path, "max 100000\n")) is None
    assert usable_cpus(tmp_path) == len(os.sched_getaffinity(0))


def test_a_v1_quota_is_read_when_there_is_no_v2_file(tmp_path: Path) -> None:
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("50000\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert cgroup_cpu_quota(tmp_path) == 0.5
    assert usable_cpus(tmp_path) == 1


def test_no_cgroup_files_mean_no_quota(tmp_path: Path) -> None:
    assert cgroup_cpu_quota(tmp_path) is None


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs to pin to one")
def test_a_process_pinned_to_one_cpu_defaults_to_one_worker(tmp_path: Path) -> None:
    code = "from ferrogate.supervisor.cpus import usable_cpus; print(usable_cpus())"
    done = subprocess.run(["taskset", "-c", "0", sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=True)
    assert done.stdout.strip() == "1"
