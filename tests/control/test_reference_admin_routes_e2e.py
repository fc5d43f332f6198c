"""Every admin route the original FerroGate's README lists answers on a running gateway (someone
migrating pastes those curl lines), and objects made over the API outlive a graceful upgrade."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.admin_gateway import admin_config
from tests.support.gateway import DEFAULT_READY_SECS, Gateway, start_gateway, wait_until

TOKEN = "admin-token-for-reference-routes"
CONFIG = admin_config("from-config", "sk-config-key-for-reference-routes")
ENV = {"FG_ADMIN_TOKEN": TOKEN}
HI = [{"role": "user", "content": "hi"}]

# The reference README's list of admin routes, as it writes them.
READ_ROUTES = [
    "/admin/v1/status",
    "/admin/v1/providers",
    "/admin/v1/provider-health",
    "/admin/v1/extensions",
    "/admin/v1/tools",
    "/admin/v1/mcp-servers",
    "/admin/v1/models",
    "/admin/v1/gateway-configs",
    "/admin/v1/api-keys",
    "/admin/v1/tenants",
    "/admin/v1/policies",
    "/admin/v1/request-logs",
    "/admin/v1/metering-events",
    "/admin/v1/billing-events",
    "/admin/v1/usage-aggregates",
    "/admin/v1/audit-events",
    "/admin/v1/drain",
]


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    gateway = start_gateway(CONFIG, "toml", workers=1, env=ENV, directory=tmp_path_factory.mktemp("reference-routes"))
    try:
        gateway.wait_ready(DEFAULT_READY_SECS)
        yield gateway
    finally:
        gateway.stop()


def _admin(gw: Gateway) -> httpx.Client:
    return httpx.Client(base_url=gw.admin_url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)


def _ok(answer: httpx.Response, status: int) -> None:
    assert answer.status_code == status, f"{answer.request.method} {answer.request.url.path}: {answer.text[:300]}"


@pytest.mark.parametrize("path", READ_ROUTES)
def test_every_reference_read_route_answers_with_json(gw: Gateway, path: str) -> None:
    with _admin(gw) as admin:
        answer = admin.get(path)
    _ok(answer, 200)
    assert isinstance(answer.json(), dict)


def test_the_key_routes_create_read_change_and_delete(gw: Gateway) -> None:
    with _admin(gw) as admin:
        _ok(made := admin.post("/admin/v1/api-keys", json={"id": "ref-key"}), 201)
        assert made.json()["secret"].startswith("sk-fg-")
        _ok(admin.get("/admin/v1/api-keys/ref-key"), 200)
        _ok(changed := admin.put("/admin/v1/api-keys/ref-key", json={"disabled": True}), 200)
        assert changed.json()["disabled"] is True
        _ok(admin.delete("/admin/v1/api-keys/ref-key"), 204)
        _ok(admin.get("/admin/v1/api-keys/ref-key"), 404)


def test_the_policy_routes_create_read_change_and_delete(gw: Gateway) -> None:
    with _admin(gw) as admin:
        _ok(admin.post("/admin/v1/policies", json={"name": "ref-policy", "models": ["nothing-*"]}), 201)
        _ok(admin.get("/admin/v1/policies/ref-policy"), 200)
        _ok(changed := admin.put("/admin/v1/policies/ref-policy", json={"models": ["never-*"]}), 200)
        assert changed.json()["models"] == ["never-*"]
        _ok(admin.delete("/admin/v1/policies/ref-policy"), 204)
        _ok(admin.get("/admin/v1/policies/ref-policy"), 404)


def test_the_gateway_config_routes_create_read_change_and_delete(gw: Gateway) -> None:
    with _admin(gw) as admin:
        _ok(admin.post("/admin/v1/gateway-configs", json={"id": "ref-profile"}), 201)
        _ok(admin.get("/admin/v1/gateway-configs/ref-profile"), 200)
        _ok(changed := admin.put("/admin/v1/gateway-configs/ref-profile", json={"fallbacks_enabled": False}), 200)
        assert changed.json()["revision"] == 2
        _ok(admin.delete("/admin/v1/gateway-configs/ref-profile"), 204)
        _ok(admin.get("/admin/v1/gateway-configs/ref-profile"), 404)


def test_a_tool_session_route_answers_an_unknown_session_with_the_error_shape(gw: Gateway) -> None:
    with _admin(gw) as admin:
        answer = admin.get("/admin/v1/tool-sessions/no-such-session")
    _ok(answer, 404)
    assert "no tool session" in answer.json()["error"]["message"]  # the session is unknown, not the route


def test_the_config_routes_validate_and_reload(gw: Gateway) -> None:
    with _admin(gw) as admin:
        _ok(checked := admin.post("/admin/v1/config/validate", json={"config": CONFIG, "format": "toml"}), 200)
        assert checked.json()["valid"] is True
        _ok(admin.post("/admin/v1/config/reload", json={}), 202)


def test_the_drain_routes_start_and_end_a_drain(gw: Gateway) -> None:
    with _admin(gw) as admin:
        _ok(admin.post("/admin/v1/drain", json={}), 200)
        assert admin.get("/admin/v1/drain").json()["draining"] is True
        _ok(admin.delete("/admin/v1/drain"), 200)
        assert admin.get("/admin/v1/drain").json()["draining"] is False


def _cli(gw: Gateway, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FERROGATE_ADMIN_URL": gw.admin_url, "FERROGATE_ADMIN_TOKEN": TOKEN}
    done = subprocess.run(
        [sys.executable, "-m", "ferrogate", *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    assert TOKEN not in done.stdout + done.stderr
    return done


@pytest.mark.parametrize(
    ("group", "ident", "fields", "change"),
    [
        ("tenants", "cli-tenant", ["id=cli-tenant", "request_limit_per_minute=50"], "request_limit_per_minute=60"),
        ("policies", "cli-policy", ["name=cli-policy", 'models=["never-*"]'], "enabled=false"),
        ("profiles", "cli-profile", ["id=cli-profile"], "fallbacks_enabled=false"),
    ],
)
def test_the_cli_creates_lists_updates_and_deletes_each_kind(
    gw: Gateway, group: str, ident: str, fields: list[str], change: str
) -> None:
    made = _cli(gw, group, "create", *(a for f in fields for a in ("--set", f)), "--json")
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["source"] == "api"
    listed = _cli(gw, group, "list")
    assert listed.returncode == 0 and ident in listed.stdout
    changed = _cli(gw, group, "update", ident, "--set", change, "--json")
    assert changed.returncode == 0, changed.stderr
    name, _, value = change.partition("=")
    assert json.loads(changed.stdout)[name] == json.loads(value)
    assert _cli(gw, group, "delete", ident).returncode == 0
    gone = _cli(gw, group, "show", ident)
    assert gone.returncode == 1 and "404" in gone.stderr


def test_the_cli_rotates_a_key_with_a_grace_period_for_the_old_secret(gw: Gateway) -> None:
    made = _cli(gw, "keys", "create", "--set", "id=cli-graced", "--json")
    old = json.loads(made.stdout)["secret"]
    rotated = _cli(gw, "keys", "rotate", "cli-graced", "--grace-secs", "600", "--json")
    assert rotated.returncode == 0, rotated.stderr
    new = json.loads(rotated.stdout)["secret"]
    assert new != old and old not in rotated.stdout

    def _status(secret: str) -> int:
        with httpx.Client(base_url=gw.base_url, timeout=10) as client:
            auth = {"Authorization": f"Bearer {secret}"}
            return client.post("/v1/chat/completions", json={"model": "m", "messages": HI}, headers=auth).status_code

    # One worker: once the new secret serves, that worker has the rotation, so the old one
    # still serving is the grace period's doing.
    wait_until(lambda: _status(new) == 200, 5, "the rotated secret")
    assert _status(old) == 200


def test_api_made_keys_and_policies_outlive_a_graceful_upgrade(tmp_path: Path) -> None:
    gateway = start_gateway(CONFIG, "toml", workers=2, env=ENV, directory=tmp_path)
    try:
        first = gateway.wait_ready(DEFAULT_READY_SECS)
        with _admin(gateway) as admin:
            secret = admin.post("/admin/v1/api-keys", json={"id": "across-an-upgrade"}).json()["secret"]
            _ok(admin.post("/admin/v1/policies", json={"name": "no-m-for-config", "models": ["m"], "api_key_ids": ["from-config"]}), 201)
        gateway.signal(signal.SIGUSR2)
        second = gateway.wait_ready(60)
        assert second["pid"] != first["pid"]

        def _answers(key: str, status: int) -> bool:
            auth = {"Authorization": f"Bearer {key}"}
            with httpx.Client(base_url=gateway.base_url, timeout=10) as client:
                return all(
                    client.post("/v1/chat/completions", json={"model": "m", "messages": HI}, headers=auth).status_code
                    == status
                    for _ in range(10)
                )

        wait_until(lambda: _answers(secret, 200), 5, "the API-made key serving on the new generation")
        assert _answers("sk-config-key-for-reference-routes", 403)  # the API-made policy is in force
    finally:
        gateway.stop()
