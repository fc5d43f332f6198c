"""Secret scan of the tracked files against ``.secrets.baseline``, without rewriting it.

detect-secrets' own pre-commit hook rewrites the baseline whenever a known finding moves
to another line and then fails, which in CI is noise. This check only reads: it fails on
a finding the baseline does not hold, and on a baseline entry nobody has reviewed.
Test dummies (``sk-client``, variable names next to ``api_key``...) are kept IN the
baseline, each marked ``is_secret: false`` by ``detect-secrets audit .secrets.baseline``,
rather than excluded by path, so a real key pasted into a test is still caught.

    python scripts/check_secrets.py [BASELINE]    (run from the repository root)
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from detect_secrets.core import baseline
from detect_secrets.core.secrets_collection import SecretsCollection

REVIEW = "review it with `.venv/bin/detect-secrets audit .secrets.baseline`"


def tracked_files() -> list[str]:
    """Files git tracks that exist in the working tree (what a fresh clone holds)."""
    out = subprocess.run(["git", "ls-files", "-z"], check=True, capture_output=True).stdout
    return [name for name in out.decode().split("\0") if name and Path(name).is_file()]


def check(baseline_path: str, files: list[str]) -> list[str]:
    """Problems found: new findings, and baseline entries not marked as false positives."""
    known = baseline.load(baseline.load_from_file(baseline_path), filename=baseline_path)
    found = SecretsCollection()
    for name in files:
        found.scan_file(name)
    problems = [
        f"{name}:{secret.line_number}: {secret.type} not in {baseline_path}; remove it, "
        "or if it is a dummy run `make secrets-baseline` and " + REVIEW
        for name, secret in sorted(found - known, key=lambda item: (item[0], item[1].line_number))
    ]
    for name, secret in known:
        if secret.is_secret is None:
            problems.append(f"{name}:{secret.line_number}: {secret.type} in the baseline, unreviewed; {REVIEW}")
        elif secret.is_secret:
            problems.append(f"{name}:{secret.line_number}: {secret.type} marked as a real secret; remove and rotate it")
    return problems


def main() -> int:
    baseline_path = sys.argv[1] if len(sys.argv) > 1 else ".secrets.baseline"
    files = tracked_files()
    problems = check(baseline_path, files)
    for line in problems:
        print(f"check_secrets: {line}", file=sys.stderr)
    if not problems:
        print(f"check_secrets: no secret in {len(files)} tracked files beyond the reviewed baseline")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
