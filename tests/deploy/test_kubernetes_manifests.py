"""The Kubernetes manifests: valid against the API schemas (strict, offline), wired to what the
gateway really serves (probes, drain in preStop, the config's own checks), locked down."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "deploy" / "kubernetes"


def _objects() -> list[dict[str, Any]]:
    return [doc for path in sorted(MANIFESTS.glob("*.yaml")) for doc in yaml.safe_load_all(path.read_text()) if doc]


def _workloads() -> list[dict[str, Any]]:
    return [o for o in _objects() if o["kind"] in ("DaemonSet", "Deployment")]


def test_the_check_script_finds_every_manifest_valid() -> None:
    done = subprocess.run([str(ROOT / "scripts" / "check-kubernetes-examples.sh")], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "KUBERNETES_VALIDATE": str(Path(sys.executable).with_name(
                              "kubernetes-validate"))})
    assert done.returncode == 0, done.stderr
    assert "kubernetes manifests valid" in done.stdout


def test_a_misspelled_field_fails_the_check(tmp_path: Path) -> None:
    broken = (MANIFESTS / "daemonset.yaml").read_text().replace("readinessProbe:", "readynessProbe:")
    path = tmp_path / "daemonset.yaml"
    path.write_text(broken)
    done = subprocess.run([str(Path(sys.executable).with_name("kubernetes-validate")), "--strict", "-k", "1.30.0",
                           str(path)], capture_output=True, text=True, timeout=120)
    assert done.returncode != 0


@pytest.mark.parametrize("kind", ["DaemonSet", "Deployment"])
def test_the_workload_probes_drains_and_runs_locked_down(kind: str) -> None:
    (workload,) = [w for w in _workloads() if w["kind"] == kind]
    pod = workload["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    drain = container["lifecycle"]["preStop"]["exec"]["command"]
    assert drain[:2] == ["ferrogate", "drain"] and "--wait" in drain
    wait = float(drain[drain.index("--wait") + 1])
    assert pod["terminationGracePeriodSeconds"] > wait + 30  # the drain wait, then the gateway's grace period
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["resources"]["requests"]
    assert workload["spec"]["selector"]["matchLabels"].items() <= workload["spec"]["template"]["metadata"]["labels"].items()


def test_the_configmaps_config_validates_with_the_secrets_variables(tmp_path: Path) -> None:
    (config_map,) = [o for o in _objects() if o["kind"] == "ConfigMap"]
    (secret,) = [o for o in _objects() if o["kind"] == "Secret"]
    path = tmp_path / "ferrogate.toml"
    path.write_text(config_map["data"]["ferrogate.toml"])
    env = {**os.environ, **secret["stringData"]}
    done = subprocess.run([sys.executable, "-m", "ferrogate", "validate", "--config", str(path)], capture_output=True,
                          text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    assert "warning" not in done.stderr


def test_the_drain_command_in_pre_stop_exists() -> None:
    done = subprocess.run([sys.executable, "-m", "ferrogate", "drain", "--help"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0 and "--wait" in done.stdout
