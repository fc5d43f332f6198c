#!/usr/bin/env bash
# Validates every Kubernetes manifest under deploy/kubernetes/ against the API schemas
# (kubernetes-validate --strict: unknown or misspelled fields fail too), offline.
# Usage: scripts/check-kubernetes-examples.sh [KUBERNETES_VERSION]   (default 1.30.0)
set -euo pipefail
cd "$(dirname "$0")/.."
version="${1:-1.30.0}"
validate="${KUBERNETES_VALIDATE:-.venv/bin/kubernetes-validate}"
status=0
for manifest in deploy/kubernetes/*.yaml; do
  if ! "$validate" --strict --quiet -k "$version" "$manifest"; then
    echo "invalid: $manifest" >&2
    status=1
  fi
done
if [ "$status" -eq 0 ]; then echo "kubernetes manifests valid against $version"; fi
exit "$status"
