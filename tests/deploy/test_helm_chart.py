"""The Helm chart charts/ferrogate: its defaults give the objects of deploy/kubernetes/, its
values are checked (schema, and the checks the templates make), its config rolls the pods and
validates with the gateway's own checks, and every rendered stream is valid Kubernetes.

Rendered with the Helm engine of the helm-python-sdk wheel (no helm binary needed)."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

helm = pytest.importorskip("helm_python", reason="helm-python-sdk (the Helm engine) is not installed")

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "ferrogate"
MANIFESTS = ROOT / "deploy" / "kubernetes"
CI_VALUES = sorted(CHART.glob("ci/*.yaml"))


def _render(values: dict[str, Any] | None = None, release: str = "ferrogate") -> list[dict[str, Any]]:
    with helm.Chart.load(CHART) as chart:
        rendered = chart.render(values or {}, name=release, namespace="gateway", is_install=True)
    return [doc for path, text in sorted(rendered.items()) if not path.endswith("NOTES.txt")
            for doc in yaml.safe_load_all(text) if doc]


def _one(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    (found,) = [o for o in objects if o["kind"] == kind]
    return found


def _kinds(objects: list[dict[str, Any]]) -> list[str]:
    return sorted(o["kind"] for o in objects)


def _plain(kind: str) -> dict[str, Any]:
    docs = [doc for path in sorted(MANIFESTS.glob("*.yaml")) for doc in yaml.safe_load_all(path.read_text()) if doc]
    return _one(docs, kind)


def _pod(workload: dict[str, Any]) -> dict[str, Any]:
    """The pod spec with the image's tag left out (the chart pins appVersion, the files :latest)."""
    pod: dict[str, Any] = yaml.safe_load(yaml.safe_dump(workload["spec"]["template"]["spec"]))
    for container in pod["containers"]:
        container["image"] = container["image"].rsplit(":", 1)[0]
    return pod


def _render_error(values: dict[str, Any]) -> str:
    with pytest.raises(helm.HelmError) as failure:
        _render(values)
    return str(failure.value)


def _ci_values(path: Path) -> dict[str, Any]:
    values: dict[str, Any] = helm.values_from_yaml(path.read_text())
    return values


@pytest.mark.parametrize("values_file", [None, *CI_VALUES], ids=lambda p: p.name if p else "defaults")
def test_the_chart_lints_clean_in_strict_mode(values_file: Path | None) -> None:
    values = _ci_values(values_file) if values_file else {}
    report = helm.lint(CHART, values, strict=True, kube_version="v1.30.0")
    assert report["errors"] == []
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


def test_the_charts_app_version_is_the_projects_version() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    with helm.Chart.load(CHART) as chart:
        assert chart.metadata["appVersion"] == project
        assert chart.metadata["name"] == "ferrogate"


def test_the_defaults_render_the_checked_in_daemonset_and_configmap() -> None:
    objects = _render()
    assert _kinds(objects) == ["ConfigMap", "DaemonSet"]
    daemonset, plain = _one(objects, "DaemonSet"), _plain("DaemonSet")
    assert daemonset["metadata"]["name"] == plain["metadata"]["name"] == "ferrogate"
    assert _pod(daemonset) == _pod(plain)
    assert daemonset["spec"]["updateStrategy"] == plain["spec"]["updateStrategy"]
    assert plain["spec"]["template"]["metadata"]["annotations"].items() <= \
        daemonset["spec"]["template"]["metadata"]["annotations"].items()
    config_map = _one(objects, "ConfigMap")
    assert config_map["metadata"]["name"] == _plain("ConfigMap")["metadata"]["name"]
    assert config_map["data"] == _plain("ConfigMap")["data"]


def test_kind_deployment_renders_the_checked_in_deployment_service_and_budget() -> None:
    objects = _render({"kind": "Deployment"})
    assert _kinds(objects) == ["ConfigMap", "Deployment", "PodDisruptionBudget", "Service"]
    deployment, plain = _one(objects, "Deployment"), _plain("Deployment")
    assert _pod(deployment) == _pod(plain)
    assert deployment["spec"]["replicas"] == plain["spec"]["replicas"]
    assert deployment["spec"]["strategy"] == plain["spec"]["strategy"]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    service, budget = _one(objects, "Service"), _one(objects, "PodDisruptionBudget")
    assert service["spec"]["ports"] == _plain("Service")["spec"]["ports"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert budget["spec"]["maxUnavailable"] == _plain("PodDisruptionBudget")["spec"]["maxUnavailable"]
    assert budget["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()


def test_every_workload_selects_its_own_pods_and_no_other_releases() -> None:
    ours, theirs = _one(_render(), "DaemonSet"), _one(_render(release="canary"), "DaemonSet")
    assert theirs["metadata"]["name"] == "canary-ferrogate"
    for workload in (ours, theirs):
        assert workload["spec"]["selector"]["matchLabels"].items() <= \
            workload["spec"]["template"]["metadata"]["labels"].items()
    assert not ours["spec"]["selector"]["matchLabels"].items() <= \
        theirs["spec"]["template"]["metadata"]["labels"].items()


CONFIG_SOURCES = [None, *[p for p in CI_VALUES if "config" in _ci_values(p)]]


@pytest.mark.parametrize("values_file", CONFIG_SOURCES, ids=lambda p: p.name if p else "defaults")
def test_the_configmaps_config_validates_with_the_secrets_variables(values_file: Path | None, tmp_path: Path) -> None:
    values = _ci_values(values_file) if values_file else {}
    values["secretEnv"] = _plain("Secret")["stringData"]
    objects = _render(values)
    path = tmp_path / "ferrogate.toml"
    path.write_text(_one(objects, "ConfigMap")["data"]["ferrogate.toml"])
    secret = {k: base64.b64decode(v).decode() for k, v in _one(objects, "Secret")["data"].items()}
    done = subprocess.run([sys.executable, "-m", "ferrogate", "validate", "--config", str(path)], capture_output=True,
                          text=True, timeout=60, env={**os.environ, **secret})
    assert done.returncode == 0, done.stderr
    assert "warning" not in done.stderr


def test_a_grace_period_not_above_the_drain_wait_fails_to_render() -> None:
    message = _render_error({"terminationGracePeriodSeconds": 45, "drainWaitSeconds": 45,
                             "existingConfigMap": "mine"})
    assert "terminationGracePeriodSeconds (45) must be above drainWaitSeconds (45)" in message


def test_a_grace_period_must_also_cover_the_configs_own_shutdown_grace() -> None:
    message = _render_error({"terminationGracePeriodSeconds": 70, "drainWaitSeconds": 45})
    assert "graceful_shutdown_grace_period_secs (30)" in message
    _render({"terminationGracePeriodSeconds": 76, "drainWaitSeconds": 45})


def test_the_drain_wait_reaches_the_pre_stop_hook() -> None:
    pod = _one(_render({"drainWaitSeconds": 20, "terminationGracePeriodSeconds": 60}), "DaemonSet")
    (container,) = pod["spec"]["template"]["spec"]["containers"]
    assert container["lifecycle"]["preStop"]["exec"]["command"] == ["ferrogate", "drain", "--wait", "20"]
    assert pod["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == 60


@pytest.mark.parametrize("values", [{"servce": {"enabled": True}}, {"image": {"tg": "1.0"}},
                                    {"podDisruptionBudget": {"maxUnavailabe": 1}}],
                         ids=["top-level", "image.tg", "podDisruptionBudget.maxUnavailabe"])
def test_a_misspelled_value_key_fails_the_schema(values: dict[str, Any]) -> None:
    assert "additional properties" in _render_error(values)


@pytest.mark.parametrize("values", [{"replicas": "2"}, {"kind": "StatefulSet"}, {"hostNetwork": "yes"},
                                    {"containerPort": 70000}], ids=lambda v: next(iter(v)))
def test_a_wrong_typed_value_fails_the_schema(values: dict[str, Any]) -> None:
    assert "schema" in _render_error(values)


def _annotations(values: dict[str, Any]) -> dict[str, str]:
    workload = next(o for o in _render(values) if o["kind"] in ("DaemonSet", "Deployment"))
    annotations: dict[str, str] = workload["spec"]["template"]["metadata"]["annotations"]
    return annotations


def test_changing_the_config_changes_the_pod_templates_checksum() -> None:
    default = _annotations({})["checksum/config"]
    assert _annotations({})["checksum/config"] == default
    config = _plain("ConfigMap")["data"]["ferrogate.toml"].replace("gpt-4o-mini", "gpt-4.1-mini")
    assert _annotations({"config": config})["checksum/config"] != default


def test_changing_a_secret_value_changes_the_pod_templates_checksum() -> None:
    before = _annotations({"secretEnv": {"OPENAI_API_KEY": "one"}})["checksum/secret"]
    assert _annotations({"secretEnv": {"OPENAI_API_KEY": "two"}})["checksum/secret"] != before


def test_secret_env_renders_a_secret_the_pods_read() -> None:
    objects = _render({"secretEnv": {"OPENAI_API_KEY": "sk-test"}})
    secret = _one(objects, "Secret")
    assert base64.b64decode(secret["data"]["OPENAI_API_KEY"]).decode() == "sk-test"
    (container,) = _one(objects, "DaemonSet")["spec"]["template"]["spec"]["containers"]
    assert container["envFrom"] == [{"secretRef": {"name": secret["metadata"]["name"]}}]


def test_an_existing_secret_renders_no_secret_and_is_referenced() -> None:
    objects = _render({"existingSecret": "provider-keys", "kind": "Deployment", "serviceMonitor": {"enabled": True}})
    assert "Secret" not in _kinds(objects)
    (container,) = _one(objects, "Deployment")["spec"]["template"]["spec"]["containers"]
    assert container["envFrom"] == [{"secretRef": {"name": "provider-keys"}}]
    (endpoint,) = _one(objects, "ServiceMonitor")["spec"]["endpoints"]
    assert endpoint["authorization"]["credentials"]["name"] == "provider-keys"


def test_secret_env_and_an_existing_secret_together_fail() -> None:
    assert "secretEnv and existingSecret are both set" in _render_error(
        {"existingSecret": "provider-keys", "secretEnv": {"OPENAI_API_KEY": "sk-test"}})


def test_an_existing_config_map_replaces_the_charts_own() -> None:
    objects = _render({"existingConfigMap": "gateway-config"})
    assert "ConfigMap" not in _kinds(objects)
    volumes = _one(objects, "DaemonSet")["spec"]["template"]["spec"]["volumes"]
    assert {"name": "config", "configMap": {"name": "gateway-config"}} in volumes


def test_a_config_that_is_not_toml_fails_to_render() -> None:
    assert "config is not valid TOML" in _render_error({"config": "listen = = 1"})


def test_a_container_port_the_config_does_not_listen_on_fails_to_render() -> None:
    assert "not on containerPort 9090" in _render_error({"containerPort": 9090})


def test_host_network_drops_the_port_mapping_and_resolves_cluster_names() -> None:
    pod = _one(_render({"hostNetwork": True}), "DaemonSet")["spec"]["template"]["spec"]
    assert pod["hostNetwork"] is True and pod["dnsPolicy"] == "ClusterFirstWithHostNet"
    assert "hostPort" not in pod["containers"][0]["ports"][0]


def test_the_deployment_has_no_host_port_and_the_daemonset_can_drop_it() -> None:
    for values in ({"kind": "Deployment"}, {"hostPort": {"enabled": False}}):
        workload = next(o for o in _render(values) if o["kind"] in ("DaemonSet", "Deployment"))
        assert "hostPort" not in workload["spec"]["template"]["spec"]["containers"][0]["ports"][0]


def test_min_available_replaces_max_unavailable_in_the_budget() -> None:
    budget = _one(_render({"kind": "Deployment", "podDisruptionBudget": {"minAvailable": "50%"}}),
                  "PodDisruptionBudget")
    assert budget["spec"] == {"minAvailable": "50%", "selector": budget["spec"]["selector"]}


def test_scheduling_and_extra_env_values_reach_the_pod() -> None:
    extra = {"name": "FERROGATE_ADMIN_URL", "value": "http://127.0.0.1:2019"}
    pod = _one(_render({"nodeSelector": {"kubernetes.io/os": "linux"}, "tolerations": [{"operator": "Exists"}],
                        "extraEnv": [extra], "image": {"repository": "registry.local/ferrogate", "tag": "9.9"}}),
               "DaemonSet")["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"kubernetes.io/os": "linux"}
    assert pod["tolerations"] == [{"operator": "Exists"}]
    assert pod["containers"][0]["env"][-1] == extra
    assert pod["containers"][0]["image"] == "registry.local/ferrogate:9.9"


def test_the_service_monitor_is_off_by_default_and_scrapes_the_service_when_on() -> None:
    assert "ServiceMonitor" not in _kinds(_render({"kind": "Deployment"}))
    objects = _render({"kind": "Deployment", "serviceMonitor": {"enabled": True}})
    monitor = _one(objects, "ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["spec"]["selector"]["matchLabels"].items() <= _one(objects, "Service")["metadata"]["labels"].items()
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] == "http" and endpoint["path"] == "/metrics"
    assert endpoint["authorization"]["credentials"]["key"] == "FERROGATE_METRICS_TOKEN"


def test_a_service_monitor_without_a_service_fails_to_render() -> None:
    assert "serviceMonitor.enabled needs the Service" in _render_error({"serviceMonitor": {"enabled": True}})


def _template_script(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "helm_template.py"), *args], capture_output=True,
                          text=True, timeout=120)


def test_the_template_script_prints_one_stream_in_install_order(tmp_path: Path) -> None:
    values = tmp_path / "values.yaml"
    values.write_text("kind: Deployment\n")
    done = _template_script("ferrogate", str(CHART), "-f", str(values), "--set-json", "replicas=4")
    assert done.returncode == 0, done.stderr
    sources = [line for line in done.stdout.splitlines() if line.startswith("# Source: ")]
    assert sources == ["# Source: ferrogate/templates/pdb.yaml", "# Source: ferrogate/templates/configmap.yaml",
                       "# Source: ferrogate/templates/service.yaml", "# Source: ferrogate/templates/deployment.yaml"]
    assert done.stdout.count("---\n") == 4 and "NOTES" not in done.stdout
    assert _one(list(yaml.safe_load_all(done.stdout)), "Deployment")["spec"]["replicas"] == 4


def test_the_template_script_fails_with_the_engines_message() -> None:
    done = _template_script("ferrogate", str(CHART), "--set", "drainWaitSeconds=100")
    assert done.returncode == 1 and done.stdout == ""
    assert "must be above drainWaitSeconds (100)" in done.stderr


def test_the_lint_script_fails_on_a_misspelled_value() -> None:
    assert _template_script("--lint", str(CHART)).returncode == 0
    done = _template_script("--lint", str(CHART), "--set", "replica=3")
    assert done.returncode == 1
    assert "additional properties 'replica' not allowed" in done.stdout


def _check(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(root / "scripts" / "check-kubernetes-examples.sh")], capture_output=True,
                          text=True, timeout=300, env={
                              **os.environ, "HELM": "", "HELM_TEMPLATE_PYTHON": sys.executable,
                              "KUBERNETES_VALIDATE": str(Path(sys.executable).with_name("kubernetes-validate"))})


def test_the_check_script_lints_and_validates_every_rendered_stream() -> None:
    done = _check(ROOT)
    assert done.returncode == 0, done.stderr
    for label in ["default values", *[str(p.relative_to(ROOT)) for p in CI_VALUES]]:
        assert f"chart lint ({label}): clean" in done.stdout
        assert f"chart render ({label}): valid against 1.30.0" in done.stdout
    assert "ServiceMonitor not validated" in done.stdout


def test_the_check_script_fails_on_an_invalid_rendered_object(tmp_path: Path) -> None:
    for part in ("scripts", "deploy/kubernetes", "charts/ferrogate"):
        shutil.copytree(ROOT / part, tmp_path / part)
    # Valid values and templates, but a pod field the API does not have: only strict validation sees it.
    pod = tmp_path / "charts/ferrogate/templates/_pod.tpl"
    pod.write_text(pod.read_text().replace("terminationGracePeriodSeconds:", "terminationGracePeriod:"))
    done = _check(tmp_path)
    assert done.returncode == 1
    assert "chart render (default values): INVALID against 1.30.0" in done.stderr
