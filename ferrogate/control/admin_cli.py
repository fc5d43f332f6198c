"""``ferrogate keys|tenants|policies|profiles ...``: the admin API's objects from a shell.

Each command is one admin API call (``--admin-url``, default ``$FERROGATE_ADMIN_URL`` or
``http://127.0.0.1:2019``; ``--admin-token``, default ``$FERROGATE_ADMIN_TOKEN``): a table for
people, ``--json`` for scripts. Fields are given as ``--set name=value`` (a value that parses
as JSON is taken as JSON: ``--set request_limit_per_minute=60``, ``--set 'scopes=["chat.completions"]'``).
The token is never printed; a key's secret is printed once, by ``create`` and ``rotate``.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from ferrogate.errors import shown_url

DEFAULT_ADMIN_URL = "http://127.0.0.1:2019"


@dataclass(frozen=True, slots=True)
class AdminTarget:
    url: str
    token: str | None

    @classmethod
    def of(cls, url: str | None, token: str | None) -> AdminTarget:
        base = (url or os.environ.get("FERROGATE_ADMIN_URL") or DEFAULT_ADMIN_URL).rstrip("/")
        if not base.startswith(("http://", "https://")):
            raise AdminCallFailed("--admin-url must be an http:// or https:// URL")
        return cls(base, token or os.environ.get("FERROGATE_ADMIN_TOKEN"))


class AdminCallFailed(Exception):
    pass


def call(target: AdminTarget, method: str, path: str, body: object | None = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(target.url + path, method=method, data=data)
    request.add_header("Content-Type", "application/json")  # every admin write needs it
    if target.token:
        request.add_header("Authorization", f"Bearer {target.token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            raw = answer.read()
            return answer.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            message = json.loads(raw)["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = raw.decode("utf-8", "replace")[:300]
        raise AdminCallFailed(f"{exc.code}: {message}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise AdminCallFailed(f"cannot reach the admin API at {shown_url(target.url)}: {reason}") from None


def parse_sets(pairs: list[str]) -> dict[str, object]:
    fields: dict[str, object] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep or not name:
            raise AdminCallFailed(f"--set takes name=value, not {pair!r}")
        try:
            fields[name] = json.loads(raw)
        except ValueError:
            fields[name] = raw
    return fields


_COLUMNS = {
    "api-keys": ("id", "source", "revision", "tenant", "disabled", "scopes"),
    "tenants": ("id", "source", "revision", "name"),
    "policies": ("name", "source", "revision", "enabled", "models", "providers"),
    "gateway-configs": ("id", "source", "revision", "api_key_ids"),
}


def table(segment: str, rows: list[dict[str, Any]]) -> str:
    columns = _COLUMNS[segment]
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    if not rows:
        lines.append("(none)")
    return "\n".join(line.rstrip() for line in lines)


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return ",".join(str(v) for v in value) or "-"
    return str(value)


def run_command(url: str | None, token: str | None, segment: str, action: str, ident: str | None, sets: list[str], as_json: bool) -> int:
    """One CLI command; its exit code (errors on stderr, never the token)."""
    base = f"/admin/v1/{segment}"
    try:
        target = AdminTarget.of(url, token)
        if action == "list":
            rows: list[dict[str, Any]] = []
            cursor = ""
            while True:
                _, page = call(target, "GET", base + (f"?cursor={cursor}" if cursor else ""))
                rows += page["data"]
                cursor = page.get("next_cursor") or ""
                if not cursor:
                    break
            print(json.dumps(rows, indent=2) if as_json else table(segment, rows))
            return 0
        if action == "show":
            _, view = call(target, "GET", f"{base}/{ident}")
            _show(view, as_json)
            return 0
        if action == "create":
            _, answer = call(target, "POST", base, parse_sets(sets))
            _created(answer, as_json)
            return 0
        if action == "update":
            _, view = call(target, "PUT", f"{base}/{ident}", parse_sets(sets))
            _show(view, as_json)
            return 0
        if action == "rotate":
            _, answer = call(target, "POST", f"{base}/{ident}/rotate", parse_sets(sets))
            _created(answer, as_json)
            return 0
        if action == "delete":
            call(target, "DELETE", f"{base}/{ident}")
            print(f"deleted {ident}")
            return 0
    except AdminCallFailed as exc:
        print(f"ferrogate: {exc}", file=sys.stderr)
        return 1
    print(f"ferrogate: unknown action {action!r}", file=sys.stderr)
    return 2


def _show(view: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(view, indent=2))
        return
    width = max(len(k) for k in view)
    for name, value in view.items():
        print(f"{name.ljust(width)}  {_cell(value) if not isinstance(value, dict) else json.dumps(value)}")


def _created(answer: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(answer, indent=2))
        return
    if "secret" in answer:
        _show(answer["key"], False)
        print(f"secret  {answer['secret']}")
        print("ferrogate: the secret is shown only now; store it (the gateway keeps its hash only)", file=sys.stderr)
    else:
        _show(answer, False)
