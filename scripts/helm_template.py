"""`helm template` and `helm lint --strict` without the helm binary, on the Helm engine that
the helm-python-sdk wheel embeds (the same Go code: templates, values schema, lint rules).

    python scripts/helm_template.py RELEASE CHART [-f VALUES.yaml]... [--set K=V]...
                                    [--set-json K=JSON]... [--namespace NS]
    python scripts/helm_template.py --lint CHART [-f VALUES.yaml]... [--kube-version 1.30.0]

Template prints the rendered manifests as one YAML stream, each document after `---` and a
`# Source: CHART/templates/FILE` line, in Helm's install order (empty renders and NOTES.txt
left out). Lint prints every finding and fails on a warning or an error (strict). Both exit 1
with the engine's message when the chart does not load, the values break the schema or a
template fails.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

import helm_python
from helm_python.chart import Chart, lint, values_from_yaml

# Helm's install order of kinds (releaseutil.InstallOrder); other kinds come after these.
INSTALL_ORDER = [
    "PriorityClass", "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange",
    "PodSecurityPolicy", "PodDisruptionBudget", "ServiceAccount", "Secret", "SecretList",
    "ConfigMap", "StorageClass", "PersistentVolume", "PersistentVolumeClaim",
    "CustomResourceDefinition", "ClusterRole", "ClusterRoleList", "ClusterRoleBinding",
    "ClusterRoleBindingList", "Role", "RoleList", "RoleBinding", "RoleBindingList", "Service",
    "DaemonSet", "Pod", "ReplicationController", "ReplicaSet", "Deployment",
    "HorizontalPodAutoscaler", "StatefulSet", "Job", "CronJob", "IngressClass", "Ingress",
    "APIService", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration",
]
SEVERITIES = {0: "UNKNOWN", 1: "INFO", 2: "WARNING", 3: "ERROR"}
_KIND = re.compile(r"^kind:\s*['\"]?([A-Za-z0-9]+)", re.M)
_SEPARATOR = re.compile(r"^---[ \t]*$", re.M)


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Values of later files and flags win, maps merge key by key (as Helm's -f/--set)."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def user_values(files: list[str], sets: list[str], set_jsons: list[str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for path in files:
        values = merge(values, values_from_yaml(Path(path).read_text(encoding="utf-8")) or {})
    for expression in sets:
        values = merge(values, helm_python.parse_set_string(expression))
    for expression in set_jsons:
        values = merge(values, helm_python.parse_set_json(expression))
    return values


def documents(rendered: dict[str, str]) -> list[tuple[str, str]]:
    """(template path, document) pairs with content, in install order (stable by path)."""
    found = []
    for path in sorted(rendered):
        if path.endswith("NOTES.txt"):
            continue
        for doc in _SEPARATOR.split(rendered[path]):
            meaningful = [line for line in doc.splitlines() if line.strip() and not line.lstrip().startswith("#")]
            if meaningful:
                found.append((path, doc.strip("\n")))

    def rank(item: tuple[str, str]) -> int:
        kind = _KIND.search(item[1])
        name = kind.group(1) if kind else ""
        return INSTALL_ORDER.index(name) if name in INSTALL_ORDER else len(INSTALL_ORDER)

    return sorted(found, key=rank)


def template(release: str, chart_dir: str, values: dict[str, Any], namespace: str) -> str:
    helm_python.validate_release_name(release)
    with Chart.load(chart_dir) as chart:
        rendered = chart.render(values, name=release, namespace=namespace, is_install=True)
    return "".join(f"---\n# Source: {path}\n{doc}\n" for path, doc in documents(rendered))


def run_lint(chart_dir: str, values: dict[str, Any], namespace: str, kube_version: str) -> int:
    report = lint(chart_dir, values, strict=True, namespace=namespace,
                  kube_version="v" + kube_version.lstrip("v"))
    failed = False
    for message in report.get("messages") or []:
        severity = int(message.get("severity", 0))
        failed |= severity >= 2
        print(f"[{SEVERITIES.get(severity, severity)}] {message.get('path', '')}: "
              f"{str(message.get('error', '')).strip()}")
    failed |= bool(report.get("errors"))
    verdict = "failed (strict: warnings count)" if failed else "clean"
    print(f"lint {chart_dir}: {verdict}", file=sys.stderr if failed else sys.stdout)
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="+", metavar="[RELEASE] CHART",
                        help="release name and chart directory (--lint: the chart directory)")
    parser.add_argument("-f", "--values", action="append", default=[], metavar="FILE",
                        help="a values file (repeatable; later ones win)")
    parser.add_argument("--set", action="append", default=[], metavar="K=V")
    parser.add_argument("--set-json", action="append", default=[], metavar="K=JSON")
    parser.add_argument("-n", "--namespace", default="default")
    parser.add_argument("--lint", action="store_true", help="lint the chart (strict) instead")
    parser.add_argument("--kube-version", default="1.30.0", help="Kubernetes version for --lint")
    args = parser.parse_args(argv)
    expected = 1 if args.lint else 2
    if len(args.names) != expected:
        parser.error("--lint takes CHART" if args.lint else "give RELEASE and CHART")
    try:
        values = user_values(args.values, args.set, args.set_json)
        if args.lint:
            return run_lint(args.names[0], values, args.namespace, args.kube_version)
        sys.stdout.write(template(args.names[0], args.names[1], values, args.namespace))
    except helm_python.HelmError as error:
        print(f"helm_template: {type(error).__name__}: {str(error).strip()}", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"helm_template: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
