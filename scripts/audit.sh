#!/usr/bin/env bash
# `make audit`: known vulnerabilities in the locked dependencies, secrets in the tree,
# and runtime dependencies the code does not use. Each step says what it checked.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
status=0

echo "== pip-audit (requirements/lock.txt)"
out=$("$PY" -m pip_audit --disable-pip --require-hashes -r requirements/lock.txt --progress-spinner off 2>&1)
rc=$?
locked=$(grep -cE '^[A-Za-z0-9_.-]+==' requirements/lock.txt)
unaudited=$(echo "$out" | grep -c "could not be audited")
if [ "$unaudited" -ge "$locked" ]; then
  # pip-audit exits 0 here, as if all were well: say plainly that nothing was checked.
  reason=$(echo "$out" | grep -m1 "could not be audited" | sed -E 's/^[^ ]+ +//')
  echo "pip-audit: SKIPPED: no vulnerability database reachable from here; none of the $locked locked packages was audited"
  echo "pip-audit: (first package's reason: $reason)"
elif [ $rc -ne 0 ]; then
  echo "$out" | tail -n 40
  echo "pip-audit: FAILED"
  status=1
elif [ "$unaudited" -gt 0 ]; then
  echo "pip-audit: no known vulnerability in $((locked - unaudited)) packages; $unaudited could not be audited (not found in the database)"
else
  echo "pip-audit: no known vulnerability in the $locked locked packages"
fi

echo "== detect-secrets (tracked files against the reviewed .secrets.baseline)"
"$PY" scripts/check_secrets.py || status=1

echo "== runtime dependencies are imported (or planned)"
"$PY" scripts/check_imports.py || status=1
exit $status
