"""Caddy itself as the oracle: generated Caddyfiles must route requests the same way.

`caddy adapt` turns a generated Caddyfile into Caddy's JSON; a small interpreter runs
that JSON (route order, groups, subroutes, path rewrites) for a set of request paths
and the answer is compared with FerroGate's flat route table (first match wins; no
match is 404 where Caddy ends with an empty 200). Skipped when `caddy` is not
installed (`apt-get install caddy`; see /work/shared/oracles/README.md §2).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ferrogate.config.diagnostics import ConfigError
from ferrogate.config.load import load
from ferrogate.config.model import Route

CADDY = shutil.which("caddy")
pytestmark = pytest.mark.skipif(CADDY is None, reason="caddy is not installed")

MATCHERS = ["", "/a", "/a/*", "/b/*", "/a/b", "/a/b/*", "*", "/b"]
PREFIXES = ["/a/*", "/b/*", "/a/b/*"]
REQUESTS = ["/", "/a", "/a/", "/a/b", "/a/b/c", "/a/a", "/b", "/b/", "/b/a", "/b/a/b", "/b/b", "/b/b/a", "/c", "/a/b/a/b"]
NO_ROUTE = 0


@st.composite
def bodies(draw: st.DrawFn, depth: int = 0) -> list[str]:
    items: list[tuple[str, str, list[str]]] = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["respond", "respond", "handle", "handle_path", "route"] if depth < 2 else ["respond"]))
        if depth > 0 and draw(st.integers(0, 5)) == 0:
            kind = "uri"
        matcher = draw(st.sampled_from(PREFIXES)) if kind == "handle_path" else draw(st.sampled_from(MATCHERS))
        if kind == "uri":
            matcher = draw(st.sampled_from(["/a", "/b"]))
        items.append((kind, matcher, [] if kind in ("respond", "uri") else draw(bodies(depth + 1))))
    # Caddy merges adjacent routes with identical matchers into one route, so a sibling
    # with the same matcher as a block that rewrites the path runs without re-matching
    # the rewritten path. That quirk is not reproduced (see config/README.md), so
    # siblings here never share a matcher.
    lines: list[str] = []
    used: set[str] = set()
    for kind, matcher, inner in items:
        same = matcher.replace("*", "") if matcher == "*" else matcher  # `*` is no matcher at all
        if same in used:
            continue
        used.add(same)
        if kind == "uri":
            lines.append(f"uri strip_prefix {matcher}")
            continue
        if kind == "respond":
            lines.append(f"respond {matcher} {{STATUS}}".replace("  ", " "))
            continue
        lines.append(f"{kind} {matcher} {{".replace("  ", " "))
        lines += ["\t" + line for line in inner]
        lines.append("}")
    return lines


def _number(lines: list[str]) -> str:
    out, status = [], 200
    for line in lines:
        if "{STATUS}" in line:
            status += 1
            line = line.replace("{STATUS}", str(status))
        out.append("\t" + line)
    return ":8080 {\n" + "\n".join(out) + "\n}\n"


def _path_match(patterns: list[str], path: str) -> bool:
    path = path.lower()
    for p in patterns:
        p = p.lower()
        if p == "*" or p == path or (p.endswith("*") and path.startswith(p[:-1])):
            return True
    return False


def _caddy_run(routes: list[dict[str, Any]], path: str) -> tuple[int | None, str]:
    done_groups: set[str] = set()
    for route in routes:
        group = route.get("group")
        if group is not None and group in done_groups:
            continue
        sets = route.get("match")
        if sets and not any(_path_match(s.get("path", ["*"]), path) for s in sets):
            continue
        if group is not None:
            done_groups.add(group)
        for handler in route["handle"]:
            kind = handler["handler"]
            if kind == "static_response":
                return int(handler.get("status_code", 200)), path
            if kind == "rewrite":
                path = _strip(path, handler["strip_path_prefix"])
            elif kind == "subroute":
                status, path = _caddy_run(handler.get("routes", []), path)
                if status is not None:
                    return status, path
            else:  # pragma: no cover - the generator only produces the handlers above
                raise AssertionError(kind)
    return None, path


def _strip(path: str, prefix: str) -> str:
    if prefix and path.lower().startswith(prefix.lower()):
        path = path[len(prefix) :]
        return path if path.startswith("/") else "/" + path
    return path


def _ferrogate_run(routes: list[Route], path: str) -> tuple[int, str]:
    """(status, path the handler sees) from the flat table; (NO_ROUTE, "") when nothing answers."""
    for route in routes:
        if (not route.paths or _path_match(route.paths, path)) and route.respond is not None:
            # The adapter's own 404 stop-routes mean "no route" (generated statuses are 2xx).
            if route.respond.status == 404:
                return NO_ROUTE, ""
            return route.respond.status, _strip(path, route.strip_prefix or "")
    return NO_ROUTE, ""


def _caddy_adapt(caddyfile: Path) -> list[dict[str, Any]]:
    home = caddyfile.parent / "caddy-home"
    env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home), "XDG_DATA_HOME": str(home)}
    result = subprocess.run(
        [str(CADDY), "adapt", "--config", str(caddyfile), "--adapter", "caddyfile"],
        capture_output=True, text=True, timeout=30, env=env, check=False,
    )
    assert result.returncode == 0, result.stderr
    servers = json.loads(result.stdout).get("apps", {}).get("http", {}).get("servers", {})
    return servers["srv0"].get("routes", []) if servers else []


# Derandomized: CI must not fail on the day a new example turns up; new examples are found by
# running with --hypothesis-seed=random, and each one found becomes a test of its own (below).
@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(lines=bodies())
def test_generated_caddyfiles_route_like_caddy(tmp_path: Path, lines: list[str]) -> None:
    text = _number(lines)
    caddyfile = tmp_path / "Caddyfile"
    caddyfile.write_text(text)
    caddy_routes = _caddy_adapt(caddyfile)
    try:
        ours = load(caddyfile, env={}).config.routes
    except ConfigError as exc:
        # `uri strip_prefix` is only accepted where the strip is certain (see site.py).
        assert all("uri strip_prefix" in d.message for d in exc.diagnostics), str(exc)
        return
    for request in REQUESTS:
        status, seen = _caddy_run(caddy_routes, request)
        expected = (NO_ROUTE, "") if status is None else (status, seen)
        assert _ferrogate_run(ours, request) == expected, (request, text)


@pytest.mark.xfail(reason="known bug: a handle_path's strip inside a route does not reach the routes after the route", strict=True)
def test_a_handle_path_strip_inside_a_route_reaches_the_routes_after_it(tmp_path: Path) -> None:
    """Found by the generator above: Caddy's rewrite of the path persists after the block."""
    caddyfile = tmp_path / "Caddyfile"
    caddyfile.write_text(
        ":8080 {\n\trespond 201\n\troute /a/* {\n\t\thandle_path /a/* {\n\t\t\trespond /a 202\n\t\t}\n"
        "\t\turi strip_prefix /a\n\t}\n}\n"
    )
    status, seen = _caddy_run(_caddy_adapt(caddyfile), "/a/")
    assert (status, seen) == (201, "/")
    assert _ferrogate_run(load(caddyfile, env={}).config.routes, "/a/") == (201, "/")
