"""Keys made over the admin API of a running gateway: in force on every worker within a second,
shown secret once, stored hashed, guarded by revisions, audited, and kept across a restart."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from ferrogate.store.admin_objects import ObjectStore
from ferrogate.store.database import open_store
from tests.support.admin_gateway import admin_config
from tests.support.gateway import DEFAULT_READY_SECS, Gateway, start_gateway, wait_until

TOKEN = "admin-token-for-key-tests"
CONFIG = admin_config("from-config", "sk-config-key-for-tests")
ENV = {"FG_ADMIN_TOKEN": TOKEN}
HI = [{"role": "user", "content": "hi"}]


def _start(directory: Path) -> Gateway:
    gateway = start_gateway(CONFIG, "toml", workers=2, env=ENV, directory=directory)
    gateway.wait_ready(DEFAULT_READY_SECS)
    return gateway


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    gateway = _start(tmp_path_factory.mktemp("api-keys"))
    try:
        yield gateway
    finally:
        gateway.stop()


def _admin(gw: Gateway) -> httpx.Client:
    return httpx.Client(base_url=gw.admin_url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)


def _create(gw: Gateway, **fields: object) -> tuple[dict[str, object], str]:
    with _admin(gw) as admin:
        answer = admin.post("/admin/v1/api-keys", json=fields)
    assert answer.status_code == 201, answer.text
    body = answer.json()
    return body["key"], body["secret"]


def _status_of_chat(gw: Gateway, secret: str) -> int:
    """One request on a new connection (so both workers get asked over a few calls)."""
    with httpx.Client(base_url=gw.base_url, timeout=10) as client:
        answer = client.post(
            "/v1/chat/completions", json={"model": "m", "messages": HI}, headers={"Authorization": f"Bearer {secret}"}
        )
    return answer.status_code


def _every_worker_answers(gw: Gateway, secret: str, status: int, within: float = 1.0) -> bool:
    """Whether ten requests in a row (spread over the workers) all get ``status`` within ``within`` s."""
    deadline = time.monotonic() + within
    while True:
        if all(_status_of_chat(gw, secret) == status for _ in range(10)):
            return True
        if time.monotonic() > deadline:
            return False


def test_a_created_key_works_on_every_worker_within_a_second(gw: Gateway) -> None:
    view, secret = _create(gw, scopes=["chat.completions"])
    assert secret.startswith("sk-fg-") and len(secret) >= 6 + 43  # 256 random bits
    assert view["source"] == "api" and view["revision"] == 1
    assert _every_worker_answers(gw, secret, 200)
    client = openai.OpenAI(base_url=gw.base_url + "/v1", api_key=secret, max_retries=0)
    assert client.chat.completions.create(model="m", messages=HI).choices  # type: ignore[arg-type]


def test_reads_never_show_the_secret_or_its_hash(gw: Gateway) -> None:
    _, secret = _create(gw, id="shown-once")
    with _admin(gw) as admin:
        listing = admin.get("/admin/v1/api-keys").text
        one = admin.get("/admin/v1/api-keys/shown-once").text
    for text in (listing, one):
        assert secret not in text and "key_hash" not in text and "hmac-sha256" not in text
    assert '"shown-once"' in listing and '"from-config"' in listing


def test_a_disabled_key_gets_401_on_every_worker_within_a_second(gw: Gateway) -> None:
    _, secret = _create(gw, id="to-disable")
    assert _every_worker_answers(gw, secret, 200)
    with _admin(gw) as admin:
        etag = admin.get("/admin/v1/api-keys/to-disable").headers["etag"]
        changed = admin.put("/admin/v1/api-keys/to-disable", json={"disabled": True}, headers={"If-Match": etag})
    assert changed.status_code == 200 and changed.json()["disabled"] is True
    assert _every_worker_answers(gw, secret, 401)


def test_a_write_with_a_stale_revision_is_refused_with_412(gw: Gateway) -> None:
    _create(gw, id="raced")
    with _admin(gw) as admin:
        first = admin.put("/admin/v1/api-keys/raced", json={"request_limit_per_minute": 5}, headers={"If-Match": '"1"'})
        second = admin.put("/admin/v1/api-keys/raced", json={"request_limit_per_minute": 9}, headers={"If-Match": '"1"'})
        now = admin.get("/admin/v1/api-keys/raced").json()
    assert first.status_code == 200 and second.status_code == 412
    assert second.json()["error"]["code"] == "revision_mismatch"
    assert now["request_limit_per_minute"] == 5


def test_a_revoked_key_gets_401(gw: Gateway) -> None:
    _, secret = _create(gw, id="to-revoke")
    assert _every_worker_answers(gw, secret, 200)
    with _admin(gw) as admin:
        # Every admin write carries Content-Type: application/json (what no cross-site form can send).
        revoked = admin.request("DELETE", "/admin/v1/api-keys/to-revoke", headers={"Content-Type": "application/json"})
        assert revoked.status_code == 204
        assert admin.get("/admin/v1/api-keys/to-revoke").status_code == 404
    assert _every_worker_answers(gw, secret, 401)


def test_rotation_replaces_the_secret(gw: Gateway) -> None:
    _, old = _create(gw, id="rotated")
    with _admin(gw) as admin:
        answer = admin.post("/admin/v1/api-keys/rotated/rotate", json={})
    assert answer.status_code == 200
    new = answer.json()["secret"]
    assert new != old and answer.json()["key"]["revision"] == 2
    assert _every_worker_answers(gw, new, 200)
    assert _every_worker_answers(gw, old, 401)


def test_a_cross_site_request_cannot_make_a_key(gw: Gateway) -> None:
    with _admin(gw) as admin:
        forged = admin.post(
            "/admin/v1/api-keys", json={"id": "forged"}, headers={"Origin": "http://evil.example"}
        )
        same_site = admin.get("/admin/v1/api-keys/forged")
    assert forged.status_code == 403 and forged.json()["error"]["code"] == "origin_not_allowed"
    assert same_site.status_code == 404


def test_a_rotation_with_a_grace_period_keeps_the_old_secret_working_until_it_ends(gw: Gateway) -> None:
    _, old = _create(gw, id="graced")
    with _admin(gw) as admin:
        answer = admin.post("/admin/v1/api-keys/graced/rotate", json={"grace_secs": 2})
    new = answer.json()["secret"]
    ends = time.monotonic() + 2
    assert _every_worker_answers(gw, new, 200)
    assert _every_worker_answers(gw, old, 200)  # within its grace on every worker
    time.sleep(max(0.0, ends - time.monotonic()))  # the grace runs on the wall clock
    assert _every_worker_answers(gw, old, 401)
    assert _status_of_chat(gw, new) == 200


def test_a_grace_period_out_of_range_is_refused(gw: Gateway) -> None:
    _create(gw, id="graced-badly")
    with _admin(gw) as admin:
        answer = admin.post("/admin/v1/api-keys/graced-badly/rotate", json={"grace_secs": -1})
    assert answer.status_code == 400 and answer.json()["error"]["param"] == "grace_secs"


def test_limits_of_an_api_key_are_enforced_like_a_config_keys(gw: Gateway) -> None:
    _, secret = _create(gw, id="limited", request_limit_per_minute=2)
    assert _every_worker_answers(gw, secret, 200, within=1.0) is False  # the third request is refused
    with httpx.Client(base_url=gw.base_url, timeout=10) as client:
        refused = client.post(
            "/v1/chat/completions", json={"model": "m", "messages": HI}, headers={"Authorization": f"Bearer {secret}"}
        )
    assert refused.status_code == 429
    assert refused.headers["x-ratelimit-limit-requests"] == "2"


def test_a_config_key_is_read_only_and_the_409_names_file_and_line(gw: Gateway) -> None:
    with _admin(gw) as admin:
        answer = admin.put("/admin/v1/api-keys/from-config", json={"disabled": True})
        shown = admin.get("/admin/v1/api-keys/from-config").json()
    assert answer.status_code == 409
    message = answer.json()["error"]["message"]
    written = gw.config_path.read_text().splitlines()
    line = written.index("[[api_keys]]") + 1  # where the key's table starts
    assert f"gateway.toml:{line}" in message
    assert shown["source"] == "config" and "key" not in shown


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"allowed_models": ["no-such-model"]}, "unknown model"),
        ({"scopes": ["fly"]}, "scopes"),
        ({"key": "sk-chosen"}, "the gateway makes the secret"),
        ({"id": "from-config"}, "exists already"),
    ],
)
def test_an_invalid_key_is_refused_with_the_reason(gw: Gateway, fields: dict[str, object], reason: str) -> None:
    with _admin(gw) as admin:
        answer = admin.post("/admin/v1/api-keys", json=fields)
    assert answer.status_code in (400, 409)
    assert reason in answer.json()["error"]["message"]


def test_writes_are_audited_without_secrets(gw: Gateway) -> None:
    _, secret = _create(gw, id="audited", metadata={"team": "search"})
    with _admin(gw) as admin:
        admin.put("/admin/v1/api-keys/audited", json={"disabled": True})
        events = admin.get("/admin/v1/audit-events", params={"limit": 200}).json()["data"]
    mine = [e for e in events if e["target"] == "audited"]
    assert [e["action"] for e in mine] == ["api_key.create", "api_key.update"]
    assert all(e["actor"] == "admin-token" for e in mine)
    assert mine[1]["change"] == {"disabled": {"from": False, "to": True}}
    assert secret not in str(events) and "hmac-sha256" not in str(events)


def test_a_list_is_paginated_with_an_opaque_cursor(gw: Gateway) -> None:
    for i in range(3):
        _create(gw, id=f"page-{i}")
    seen: list[str] = []
    cursor = None
    with _admin(gw) as admin:
        while True:
            params: dict[str, str | int] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            page = admin.get("/admin/v1/api-keys", params=params).json()
            seen += [k["id"] for k in page["data"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        too_many = admin.get("/admin/v1/api-keys", params={"limit": 100000})
        none = admin.get("/admin/v1/api-keys", params={"limit": 0})
    assert seen == sorted(seen) and len(seen) == len(set(seen))
    assert {"page-0", "page-1", "page-2", "from-config"} <= set(seen)
    assert too_many.status_code == 200  # bounded by storage.admin_list_max_limit, not refused
    assert none.status_code == 400


@contextlib.contextmanager
def socket_closed_port() -> Iterator[int]:
    """A loopback port nothing listens on (bound, then closed)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    yield port


def _cli(gw: Gateway, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FERROGATE_ADMIN_URL": gw.admin_url, "FERROGATE_ADMIN_TOKEN": TOKEN}
    return subprocess.run(
        [sys.executable, "-m", "ferrogate", *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )


def test_the_cli_creates_lists_and_revokes_keys_without_printing_the_token(gw: Gateway) -> None:
    made = _cli(gw, "keys", "create", "--set", "id=cli-key", "--set", "request_limit_per_minute=100", "--json")
    assert made.returncode == 0, made.stderr
    secret = json.loads(made.stdout)["secret"]
    assert _every_worker_answers(gw, secret, 200)
    listed = _cli(gw, "keys", "list")
    assert listed.returncode == 0 and "cli-key" in listed.stdout and "from-config" in listed.stdout
    assert secret not in listed.stdout
    assert _cli(gw, "keys", "revoke", "cli-key").returncode == 0
    missing = _cli(gw, "keys", "show", "cli-key")
    assert missing.returncode == 1 and "404" in missing.stderr
    for run in (made, listed, missing):
        assert TOKEN not in run.stdout + run.stderr


def test_a_respawned_worker_starts_with_the_current_keys(tmp_path: Path) -> None:
    gateway = start_gateway(CONFIG, "toml", workers=1, env=ENV, directory=tmp_path)
    try:
        gateway.wait_ready(DEFAULT_READY_SECS)
        _, secret = _create(gateway, id="before-the-crash")
        assert _every_worker_answers(gateway, secret, 200)
        victim = gateway.worker_pids()[0]
        os.kill(victim, signal.SIGKILL)
        wait_until(lambda: gateway.worker_pids().get(0) not in (None, victim), 10, "slot 0 to get a new worker")
        # The only worker is the new one: it learnt the key from the control process at its hello.
        assert _every_worker_answers(gateway, secret, 200, within=5.0)
    finally:
        gateway.stop()


def test_a_config_that_reuses_an_api_made_id_is_refused_at_start_with_its_line(tmp_path: Path) -> None:
    first = _start(tmp_path)
    try:
        _create(first, id="taken-by-api")
    finally:
        first.stop()
    clashing = CONFIG + '\n[[api_keys]]\nid = "taken-by-api"\nkey = "sk-clashing-config-key"\n'
    second = start_gateway(clashing, "toml", workers=1, env=ENV, directory=tmp_path)
    try:
        assert second.proc.wait(timeout=30) != 0
        written = second.config_path.read_text().splitlines()
        line = len(written) - written[::-1].index("[[api_keys]]")
        assert f"gateway.toml:{line}:" in second.log() and "also made over the admin API" in second.log()
    finally:
        second.stop()


def test_api_keys_survive_a_reload_that_replaces_every_worker(tmp_path: Path) -> None:
    gateway = _start(tmp_path)
    try:
        _, secret = _create(gateway, id="across-a-reload")
        before = set(gateway.worker_pids().values())
        gateway.write_config(CONFIG + '\n[[models]]\nname = "m2"\nprovider = "mock"\nprovider_model = "m2"\n')
        gateway.signal(signal.SIGHUP)
        wait_until(
            lambda: (now := set(gateway.worker_pids().values())) and now.isdisjoint(before), 30, "the new workers"
        )
        assert _every_worker_answers(gateway, secret, 200, within=5.0)
    finally:
        gateway.stop()


def test_api_keys_survive_a_restart(tmp_path: Path) -> None:
    first = _start(tmp_path)
    try:
        _, secret = _create(first, id="durable")
    finally:
        first.stop()
    second = _start(tmp_path)
    try:
        assert _every_worker_answers(second, secret, 200)
    finally:
        second.stop()



def test_the_cli_never_prints_a_password_given_in_the_admin_url(tmp_path: Path) -> None:
    with socket_closed_port() as port:
        run = subprocess.run(
            [sys.executable, "-m", "ferrogate", "keys", "list", "--admin-url", f"http://ops:hunter2pw@127.0.0.1:{port}"],
            capture_output=True, text=True, timeout=60, check=False,
        )
    assert run.returncode == 1 and "cannot reach the admin API at http://127.0.0.1:" in run.stderr
    assert "hunter2pw" not in run.stdout + run.stderr


def test_a_deeply_nested_body_is_a_400_not_a_crash(gw: Gateway) -> None:
    deep = b'{"metadata": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    with _admin(gw) as admin:
        answer = admin.post("/admin/v1/api-keys", content=deep, headers={"Content-Type": "application/json"})
        still = admin.get("/admin/v1/api-keys")
    assert answer.status_code == 400 and "nested too deeply" in answer.json()["error"]["message"]
    assert still.status_code == 200


def test_a_body_over_the_admin_limit_is_refused_before_it_is_read(gw: Gateway) -> None:
    huge = b'{"id": "huge", "metadata": {"x": "' + b"a" * (2 * 1024 * 1024) + b'"}}'
    with _admin(gw) as admin:
        answer = admin.post("/admin/v1/api-keys", content=huge, headers={"Content-Type": "application/json"})
        made = admin.get("/admin/v1/api-keys/huge")
    assert answer.status_code == 413
    assert made.status_code == 404


def test_a_foreign_host_cannot_reach_the_key_routes(gw: Gateway) -> None:
    with _admin(gw) as admin:
        answer = admin.get("/admin/v1/api-keys", headers={"Host": "rebound.example"})
    assert answer.status_code == 421


@pytest.mark.parametrize(
    "target",
    [
        "/admin/v1/api-keys/../status",
        "/admin/v1/api-keys/%2e%2e/status",
        "/admin/v1/api-keys/from-config/../../audit-events",
        "/admin/dashboard.js/../../v1/api-keys",
    ],
)
def test_path_tricks_never_reach_another_route_without_credentials(gw: Gateway, target: str) -> None:
    with socket.create_connection(("127.0.0.1", gw.admin_port), timeout=10) as raw:
        raw.sendall(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        answer = b""
        while chunk := raw.recv(65536):
            answer += chunk
    status = int(answer.split(b" ", 2)[1])
    assert status in (400, 401, 404), answer[:200]
    assert b"sk-config-key-for-tests" not in answer and b'"data"' not in answer


def test_a_backup_taken_while_the_gateway_runs_holds_its_keys(gw: Gateway, tmp_path: Path) -> None:
    _create(gw, id="in-the-backup")
    copy = tmp_path / "backup.db"
    done = gw.cli("store", "backup", str(copy), "--config", str(gw.config_path))
    assert done.returncode == 0, done.stderr
    rows = ObjectStore(open_store(str(copy), create=False)).all()
    assert ("api_key", "in-the-backup") in {(r.kind, r.id) for r in rows}
    assert all(b"sk-fg-" not in r.body for r in rows)  # hashes only
