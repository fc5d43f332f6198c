#!/usr/bin/env bash
# Validates every Kubernetes manifest under deploy/kubernetes/ against the API schemas
# (kubernetes-validate --strict: unknown or misspelled fields fail too), offline. Then lints the
# Helm chart charts/ferrogate (strict) and renders it with its default values and with each
# charts/ferrogate/ci/*.yaml, validating every rendered stream the same way. The chart goes
# through `helm` when it is on PATH, else through scripts/helm_template.py (the Helm engine of
# the helm-python-sdk wheel). One line per check; exit 1 when any fails.
# Usage: scripts/check-kubernetes-examples.sh [KUBERNETES_VERSION]   (default 1.30.0)
set -euo pipefail
cd "$(dirname "$0")/.."
version="${1:-1.30.0}"
validate="${KUBERNETES_VALIDATE:-.venv/bin/kubernetes-validate}"
python="${HELM_TEMPLATE_PYTHON:-.venv/bin/python}"
helm="${HELM:-$(command -v helm || true)}"
chart=charts/ferrogate
status=0
for manifest in deploy/kubernetes/*.yaml; do
  if ! "$validate" --strict --quiet -k "$version" "$manifest"; then
    echo "invalid: $manifest" >&2
    status=1
  fi
done
if [ "$status" -eq 0 ]; then echo "kubernetes manifests valid against $version"; fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [ -n "$helm" ]; then engine="helm ($helm)"; else engine="scripts/helm_template.py"; fi

# Custom resources (the ServiceMonitor) have no schema in kubernetes-validate: they are taken
# out of the stream before the strict validation, and counted.
without_custom_resources() {
  awk -v skipped="$2" '
    function flush() { if (doc != "" && doc !~ /(^|\n)kind:[ \t]*ServiceMonitor[ \t]*\n/) printf "%s", doc; else if (doc != "") n++; doc = "" }
    /^---[ \t]*$/ { flush(); doc = "---\n"; next }
    { doc = doc $0 "\n" }
    END { flush(); print n + 0 > skipped }
  ' "$1"
}

for values in "" "$chart"/ci/*.yaml; do
  label="${values:-default values}"
  args=()
  if [ -n "$values" ]; then args=(-f "$values"); fi
  if [ -n "$helm" ]; then
    lint_out=$("$helm" lint --strict --kube-version "$version" "$chart" "${args[@]}" 2>&1) || lint_rc=$?
  else
    lint_out=$("$python" scripts/helm_template.py --lint --kube-version "$version" "$chart" "${args[@]}" 2>&1) || lint_rc=$?
  fi
  if [ "${lint_rc:-0}" -ne 0 ]; then
    echo "$lint_out" >&2
    echo "chart lint ($label): FAILED" >&2
    status=1
  else
    echo "chart lint ($label): clean (strict, $engine)"
  fi
  unset lint_rc

  rendered="$tmp/rendered.yaml"
  if [ -n "$helm" ]; then
    render_ok=$("$helm" template ferrogate "$chart" "${args[@]}" >"$rendered" && echo yes || echo no)
  else
    render_ok=$("$python" scripts/helm_template.py ferrogate "$chart" "${args[@]}" >"$rendered" && echo yes || echo no)
  fi
  if [ "$render_ok" != yes ] || ! grep -q '^kind:' "$rendered"; then
    echo "chart render ($label): FAILED to render" >&2
    status=1
    continue
  fi
  without_custom_resources "$rendered" "$tmp/skipped" >"$tmp/core.yaml"
  skipped=$(cat "$tmp/skipped")
  note=""
  if [ "$skipped" -gt 0 ]; then
    note=" ($skipped ServiceMonitor not validated: a custom resource, no schema offline)"
  fi
  if "$validate" --strict --quiet -k "$version" "$tmp/core.yaml"; then
    echo "chart render ($label): valid against $version$note"
  else
    echo "chart render ($label): INVALID against $version" >&2
    status=1
  fi
done
exit "$status"
