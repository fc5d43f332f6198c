"""Attacks on the admin API, sent to real gateway processes (each failed before the fix)."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import httpx
import pytest

from tests.support.gateway import wait_until

TOKEN = "admin-token-for-tests-0123456789"
WITH_TOKEN = """
[admin]
listen = "127.0.0.1:0"
token_env = "FG_ADMIN_TOKEN"

[[routes]]
paths = ["/x"]
respond = { body = "x" }
"""
OPEN = '[[routes]]\npaths = ["/x"]\nrespond = { body = "x" }\n'
WITH_KEYS = """
[[providers]]
name = "mock"
kind = "mock"

[[models]]
name = "m"
provider = "mock"
provider_model = "m"

[[api_keys]]
id = "reader"
key = "sk-reader"
scopes = ["admin.read"]

[[api_keys]]
id = "writer"
key = "sk-writer"
scopes = ["admin.read", "admin.write"]
"""
BEARER = {"authorization": f"Bearer {TOKEN}"}
JSON = {"content-type": "application/json"}


@pytest.fixture
def token_gw(gateway_factory):
    return gateway_factory(WITH_TOKEN, workers=1, env={"FG_ADMIN_TOKEN": TOKEN})


def _draining(gw) -> bool:
    return bool(httpx.get(gw.admin_url + "/admin/v1/drain", headers=BEARER).json()["draining"])


def test_validate_reads_no_file_named_in_the_request(token_gw, tmp_path: Path) -> None:
    secret = tmp_path / "shadow"
    secret.write_text("root:$6$very-secret-hash:19000:0:99999:7:::\n")
    r = httpx.post(token_gw.admin_url + "/admin/v1/config/validate", json={"path": str(secret)}, headers=BEARER)
    assert r.status_code == 400
    assert "very-secret-hash" not in r.text


def test_validate_refuses_import_outside_the_config_directory(token_gw, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.caddy"
    outside.write_text("this-line-is-private {\n}\n")
    text = f":8080 {{\n\timport {outside}\n}}\n"
    r = httpx.post(
        token_gw.admin_url + "/admin/v1/config/validate",
        json={"config": text, "format": "caddyfile"},
        headers=BEARER,
    )
    assert r.status_code == 200
    assert r.json()["valid"] is False
    assert "this-line-is-private" not in r.text
    assert "only files in the running config's directory" in r.text


def test_validate_of_dev_zero_is_refused_at_once(token_gw) -> None:
    start = time.monotonic()
    r = httpx.post(token_gw.admin_url + "/admin/v1/config/validate", json={"path": "/dev/zero"}, headers=BEARER, timeout=10)
    assert r.status_code == 400
    assert time.monotonic() - start < 5


def test_validate_refuses_config_text_over_the_limit(token_gw) -> None:
    text = "# " + "x" * (2 * 1024 * 1024) + "\n"
    r = httpx.post(
        token_gw.admin_url + "/admin/v1/config/validate", json={"config": text, "format": "toml"}, headers=BEARER
    )
    assert r.status_code == 413


def test_validate_quotes_only_the_submitted_text(token_gw) -> None:
    r = httpx.post(
        token_gw.admin_url + "/admin/v1/config/validate",
        json={"config": 'listen = "nonsense"\n', "format": "toml"},
        headers=BEARER,
    )
    diagnostics = r.json()["diagnostics"]
    assert diagnostics and all(d["file"] == "<request>.toml" for d in diagnostics)


def test_cross_site_text_plain_post_cannot_drain_the_node(gateway_factory) -> None:
    gw = gateway_factory(OPEN, workers=1)
    r = httpx.post(
        gw.admin_url + "/admin/v1/drain",
        content=b"{}",
        headers={"content-type": "text/plain", "origin": "http://evil.example", "host": "evil.example"},
    )
    assert r.status_code in (403, 415, 421)
    assert httpx.get(gw.admin_url + "/admin/v1/drain").json()["draining"] is False


def test_a_foreign_origin_is_refused_even_with_json(gateway_factory) -> None:
    gw = gateway_factory(OPEN, workers=1)
    r = httpx.post(gw.admin_url + "/admin/v1/drain", json={}, headers={"origin": "http://evil.example"})
    assert r.status_code == 403
    assert httpx.get(gw.admin_url + "/admin/v1/drain").json()["draining"] is False


def test_a_rebinding_host_name_is_refused(gateway_factory) -> None:
    gw = gateway_factory(OPEN, workers=1)
    r = httpx.get(gw.admin_url + "/admin/v1/status", headers={"host": "evil.example"})
    assert r.status_code == 421
    assert '"pid"' not in r.text


def test_writes_need_a_json_content_type(gateway_factory) -> None:
    gw = gateway_factory(OPEN, workers=1)
    assert httpx.post(gw.admin_url + "/admin/v1/drain").status_code == 415
    assert httpx.get(gw.admin_url + "/admin/v1/drain").json()["draining"] is False


def test_a_bodyless_delete_needs_no_content_type_but_a_foreign_origin_is_still_refused(gateway_factory) -> None:
    gw = gateway_factory(OPEN, workers=1)
    httpx.post(gw.admin_url + "/admin/v1/drain", json={})
    assert httpx.delete(gw.admin_url + "/admin/v1/drain", headers={"origin": "http://evil.example"}).status_code == 403
    assert httpx.get(gw.admin_url + "/admin/v1/drain").json()["draining"] is True
    assert httpx.delete(gw.admin_url + "/admin/v1/drain").status_code == 200
    assert httpx.get(gw.admin_url + "/admin/v1/drain").json()["draining"] is False


def test_admin_reads_on_the_public_port_need_credentials(gateway_factory) -> None:
    gw = gateway_factory(OPEN, workers=1)
    r = httpx.get(gw.base_url + "/admin/v1/status")
    assert r.status_code == 401
    assert '"pid"' not in r.text and "config_path" not in r.text


def test_a_forged_forward_mark_on_the_public_port_changes_nothing(gateway_factory) -> None:
    gw = gateway_factory(OPEN, workers=1)
    r = httpx.get(gw.base_url + "/admin/v1/status", headers={"x-ferrogate-admin-forward": "0"})
    assert r.status_code == 401


def test_the_admin_token_opens_the_public_admin_path(token_gw) -> None:
    r = httpx.get(token_gw.base_url + "/admin/v1/status", headers=BEARER)
    assert r.status_code == 200
    assert r.json()["pid"] == httpx.get(token_gw.admin_url + "/admin/v1/status", headers=BEARER).json()["pid"]


def test_a_key_with_admin_read_may_read_but_not_write(gateway_factory) -> None:
    gw = gateway_factory(WITH_KEYS, workers=1)
    reader = {"authorization": "Bearer sk-reader"}
    assert httpx.get(gw.base_url + "/admin/v1/status", headers=reader).status_code == 200
    r = httpx.post(gw.base_url + "/admin/v1/drain", json={}, headers=reader)
    assert r.status_code == 403
    assert "admin.write" in r.json()["error"]["message"]
    assert httpx.get(gw.admin_url + "/admin/v1/drain", headers=reader).json()["draining"] is False


def test_a_key_with_admin_write_may_drain(gateway_factory) -> None:
    gw = gateway_factory(WITH_KEYS, workers=1)
    writer = {"authorization": "Bearer sk-writer"}
    assert httpx.post(gw.base_url + "/admin/v1/drain", json={}, headers=writer).json()["draining"] is True


def test_with_keys_configured_the_admin_listener_needs_credentials_too(gateway_factory) -> None:
    gw = gateway_factory(WITH_KEYS, workers=1)
    assert httpx.get(gw.admin_url + "/admin/v1/status").status_code == 401
    assert httpx.get(gw.admin_url + "/healthz").status_code == 200


def test_an_open_loopback_admin_listener_is_said_in_the_log(gateway_factory) -> None:
    gw = gateway_factory(OPEN, workers=1)
    # The control process says it once its listener serves; that line may reach the log
    # file after the supervisor's ready line.
    wait_until(lambda: "admin API is open" in gw.log(), 10, "the open-admin warning in the log")


def test_raw_request_without_host_still_needs_credentials_on_the_public_port(gateway_factory) -> None:
    gw = gateway_factory(OPEN, workers=1)
    with socket.create_connection(("127.0.0.1", gw.port), timeout=5) as s:
        s.sendall(b"GET /admin/v1/status HTTP/1.0\r\n\r\n")
        head = s.recv(65536).split(b"\r\n", 1)[0]
    assert b" 401 " in head


def test_the_public_admin_path_answers_the_sites_dns_name(token_gw) -> None:
    # A catch-all site is reached by its DNS name; the token is what guards it.
    r = httpx.get(token_gw.base_url + "/admin/v1/status", headers={**BEARER, "host": "gateway.example.com"})
    assert r.status_code == 200


NAMED_SITE = """
[admin]
listen = "127.0.0.1:0"
token_env = "FG_ADMIN_TOKEN"

[[routes]]
hosts = ["api.example.com"]
paths = ["/x"]
respond = { body = "x" }
"""


@pytest.mark.parametrize(("host", "status"), [("api.example.com", 200), ("evil.example", 421)])
def test_a_named_site_forwards_admin_requests_for_its_own_names_only(gateway_factory, host: str, status: int) -> None:
    gw = gateway_factory(NAMED_SITE, workers=1, env={"FG_ADMIN_TOKEN": TOKEN})
    r = httpx.get(gw.base_url + "/admin/v1/status", headers={**BEARER, "host": host})
    assert r.status_code == status
