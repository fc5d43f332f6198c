"""Automatic HTTPS through a running gateway against a real Pebble: the first certificate
ordered by ``run`` (HTTP-01), served to real TLS clients; renewed by the control process
and served to new connections at once while an open connection keeps working; a CA that is
down at renewal leaves the old certificate in service; a restart reuses what is stored."""

from __future__ import annotations

import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509

from tests.support.gateway import wait_until
from tests.support.pebble import Pebble
from tests.tls.test_manual_tls_e2e import Pki

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

DOMAIN = "gw.example.test"


@pytest.fixture
def pebble(tmp_path: Path) -> Iterator[Pebble]:
    ca = Pebble(tmp_path / "pebble", validity_secs=30).start()
    try:
        yield ca
    finally:
        ca.stop()


def _config(pebble: Pebble, storage: Path, *, window_secs: int) -> str:
    return f"""
[tls]
enabled = true

[tls.acme]
enabled = true
domains = ["{DOMAIN}"]
email = "ops@example.test"
directory_url = "{pebble.directory_url}"
ca_file = "{pebble.listener_ca}"
terms_agreed = true
challenge = "http-01"
http_challenge_listen = "127.0.0.1:{pebble.http_port}"
storage_dir = "{storage}"
renewal_window_secs = {window_secs}
renewal_check_interval_secs = 1
renewal_retry_interval_secs = 1

[[routes]]
paths = ["/hello"]
respond = {{ body = "hello over acme" }}
"""


def _trust(pebble: Pebble, directory: Path) -> ssl.SSLContext:
    roots = directory / "pebble-roots.pem"
    roots.write_bytes(pebble.roots())
    return ssl.create_default_context(cafile=str(roots))


def _serial(context: ssl.SSLContext, port: int) -> int:
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=DOMAIN) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


def _certificate_status(gw: Any) -> dict[str, Any]:
    (cert,) = httpx.get(gw.admin_url + "/admin/v1/status", timeout=10).json()["certificates"]
    status: dict[str, Any] = cert
    return status


def test_run_orders_a_certificate_and_serves_it_over_tls(gateway_factory, pebble: Pebble, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    gw = gateway_factory(_config(pebble, tmp_path / "acme", window_secs=1), workers=2)
    context = _trust(pebble, tmp_path)
    with httpx.Client(verify=context) as client:
        answer = client.get(f"https://127.0.0.1:{gw.port}/hello", headers={"host": DOMAIN},
                            extensions={"sni_hostname": DOMAIN})
    assert answer.text == "hello over acme"
    status = _certificate_status(gw)
    assert status["names"] == [DOMAIN] and status["reload_required"] is False
    assert int(status["serial"], 16) == _serial(context, gw.port)


def test_a_renewed_certificate_serves_new_connections_while_an_open_one_goes_on(  # type: ignore[no-untyped-def]
    gateway_factory, pebble: Pebble, tmp_path: Path
) -> None:
    # 30 s certificates renewed in their last 25 s: the first renewal comes ~5 s after issue.
    gw = gateway_factory(_config(pebble, tmp_path / "acme", window_secs=25), workers=2)
    context = _trust(pebble, tmp_path)
    first = _serial(context, gw.port)
    with httpx.Client(verify=context, base_url=f"https://127.0.0.1:{gw.port}",
                      headers={"host": DOMAIN}, limits=httpx.Limits(max_connections=1)) as kept:
        assert kept.get("/hello", extensions={"sni_hostname": DOMAIN}).status_code == 200

        def renewed() -> bool:
            return _certificate_status(gw)["last_renewal_result"] == "issued"

        wait_until(renewed, 30, "the control process to renew the certificate")
        serials = {_serial(context, gw.port) for _ in range(6)}  # both workers, any of them
        assert first not in serials
        assert kept.get("/hello", extensions={"sni_hostname": DOMAIN}).text == "hello over acme"


def test_a_ca_down_at_renewal_keeps_the_certificate_in_service_and_says_why(  # type: ignore[no-untyped-def]
    gateway_factory, pebble: Pebble, tmp_path: Path
) -> None:
    gw = gateway_factory(_config(pebble, tmp_path / "acme", window_secs=25), workers=1)
    context = _trust(pebble, tmp_path)
    serving = _serial(context, gw.port)
    pebble.stop()

    def failed() -> dict[str, Any] | None:
        status = _certificate_status(gw)
        return status if status["last_renewal_result"] == "failed" else None

    status = wait_until(failed, 30, "a failed renewal in the status")
    assert "cannot reach the ACME server" in status["last_renewal_error"]
    assert _serial(context, gw.port) == serving


def test_run_exits_with_the_cas_reason_when_no_certificate_can_be_had(pebble: Pebble, tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    text = _config(pebble, tmp_path / "acme", window_secs=1).replace(pebble.directory_url, "https://127.0.0.1:9/dir")
    path.write_text('listen = "127.0.0.1:0"\n' + text)
    done = subprocess.run([sys.executable, "-m", "ferrogate", "run", "--config", str(path), "--workers", "1"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "cannot start: tls.acme: cannot reach the ACME server at https://127.0.0.1:9/dir" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_restart_reuses_the_stored_certificate_without_a_new_order(  # type: ignore[no-untyped-def]
    gateway_factory, pebble: Pebble, tmp_path: Path
) -> None:
    config = _config(pebble, tmp_path / "acme", window_secs=1)
    first = gateway_factory(config, workers=1)
    context = _trust(pebble, tmp_path)
    serial = _serial(context, first.port)
    first.stop()
    pebble.stop()  # no CA now: a second order could not succeed
    started = time.monotonic()
    second = gateway_factory(config, workers=1)
    assert _serial(context, second.port) == serial
    assert time.monotonic() - started < 30


def test_a_manual_certificate_and_the_acme_one_are_served_side_by_side_by_sni(  # type: ignore[no-untyped-def]
    gateway_factory, pebble: Pebble, tmp_path: Path
) -> None:
    pki = Pki(tmp_path)
    cert, key = pki.leaf("manual.test")
    config = _config(pebble, tmp_path / "acme", window_secs=1).replace(
        "[tls]\nenabled = true\n", f'[tls]\nenabled = true\ncert_path = "{cert}"\nkey_path = "{key}"\n'
    )
    gw = gateway_factory(config, workers=1)
    acme_serial = _serial(_trust(pebble, tmp_path), gw.port)
    assert int(_certificate_status(gw)["serial"], 16) == acme_serial
    manual = ssl.create_default_context(cafile=str(pki.ca_file))
    with (
        socket.create_connection(("127.0.0.1", gw.port), timeout=5) as raw,
        manual.wrap_socket(raw, server_hostname="manual.test") as tls,
    ):
        assert dict(x[0] for x in tls.getpeercert()["subject"])["commonName"] == "manual.test"


def test_run_orders_a_wildcard_over_dns_01_through_the_hook_and_serves_it(  # type: ignore[no-untyped-def]
    gateway_factory, pebble: Pebble, tmp_path: Path
) -> None:
    hook = Path(__file__).with_name("dns_hook_challtestsrv.py")
    config = _config(pebble, tmp_path / "acme", window_secs=1).replace(
        f'domains = ["{DOMAIN}"]', 'domains = ["*.wild.test"]'
    ).replace(
        'challenge = "http-01"',
        f'challenge = "dns-01"\ndns_provider = "hook"\ndns_hook = "{sys.executable} {hook} {pebble.challtest_url}"\n'
        f'dns_resolver = "127.0.0.1:{pebble.dns_port}"\ndns_propagation_delay_secs = 0',
    )
    gw = gateway_factory(config, workers=1)
    context = _trust(pebble, tmp_path)
    with (
        socket.create_connection(("127.0.0.1", gw.port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="api.wild.test") as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    assert _certificate_status(gw)["names"] == ["*.wild.test"]
