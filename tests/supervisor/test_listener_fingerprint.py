"""The public listener's fingerprint: what a process-local reload may not change."""

from __future__ import annotations

from pathlib import Path

import msgspec

from ferrogate.config.model import Config, Tls, TlsCertificate
from ferrogate.supervisor.listener_fingerprint import listener_changes, listener_fingerprint


def tls_config(cert: str = "cert.pem", key: str = "key.pem", **extra: object) -> Config:
    return Config(listen=["127.0.0.1:8443"], tls=Tls(enabled=True, cert_path=cert, key_path=key, **extra))  # type: ignore[arg-type]


def write_pair(directory: Path, cert: bytes = b"CERT-1", key: bytes = b"KEY-1") -> None:
    (directory / "cert.pem").write_bytes(cert)
    (directory / "key.pem").write_bytes(key)


def test_the_same_config_and_files_have_no_changes(tmp_path: Path) -> None:
    write_pair(tmp_path)
    assert listener_changes(listener_fingerprint(tls_config(), tmp_path), listener_fingerprint(tls_config(), tmp_path)) == []


def test_settings_outside_the_listener_are_not_a_change(tmp_path: Path) -> None:
    running = Config(listen=["127.0.0.1:8080"])
    candidate = msgspec.structs.replace(running, admin=msgspec.structs.replace(running.admin, listen="127.0.0.1:9999"))
    assert listener_changes(listener_fingerprint(running, tmp_path), listener_fingerprint(candidate, tmp_path)) == []


def test_a_new_listen_address_is_a_change_naming_both(tmp_path: Path) -> None:
    changes = listener_changes(
        listener_fingerprint(Config(listen=["127.0.0.1:8080"]), tmp_path),
        listener_fingerprint(Config(listen=["127.0.0.1:9090"]), tmp_path),
    )
    assert changes == ["listen: 127.0.0.1:8080 -> 127.0.0.1:9090"]


def test_listen_order_is_not_a_change(tmp_path: Path) -> None:
    a = listener_fingerprint(Config(listen=["127.0.0.1:1", "127.0.0.1:2"]), tmp_path)
    b = listener_fingerprint(Config(listen=["127.0.0.1:2", "127.0.0.1:1"]), tmp_path)
    assert listener_changes(a, b) == []


def test_a_renewed_certificate_at_the_same_path_is_a_change(tmp_path: Path) -> None:
    write_pair(tmp_path)
    running = listener_fingerprint(tls_config(), tmp_path)
    write_pair(tmp_path, cert=b"CERT-2")
    changes = listener_changes(running, listener_fingerprint(tls_config(), tmp_path))
    assert changes == [f"tls file content changed: {tmp_path / 'cert.pem'}"]


def test_a_changed_tls_setting_is_a_change(tmp_path: Path) -> None:
    write_pair(tmp_path)
    changes = listener_changes(
        listener_fingerprint(tls_config(), tmp_path), listener_fingerprint(tls_config(http2=True), tmp_path)
    )
    assert changes == ["tls settings differ"]


def test_an_added_sni_certificate_names_its_files(tmp_path: Path) -> None:
    write_pair(tmp_path)
    (tmp_path / "b.pem").write_bytes(b"B")
    (tmp_path / "b.key").write_bytes(b"BK")
    more = tls_config(certificates=[TlsCertificate(cert_path="b.pem", key_path="b.key")])
    changes = listener_changes(listener_fingerprint(tls_config(), tmp_path), listener_fingerprint(more, tmp_path))
    assert "tls settings differ" in changes
    assert f"tls file added: {tmp_path / 'b.pem'}" in changes
    assert f"tls file added: {tmp_path / 'b.key'}" in changes


def test_relative_paths_resolve_against_the_config_directory(tmp_path: Path) -> None:
    write_pair(tmp_path)
    fingerprint = listener_fingerprint(tls_config(), tmp_path)
    assert set(fingerprint.files) == {str(tmp_path / "cert.pem"), str(tmp_path / "key.pem")}


def test_an_unreadable_file_never_matches(tmp_path: Path) -> None:
    running = listener_fingerprint(tls_config(), tmp_path)  # no files written
    assert listener_changes(running, listener_fingerprint(tls_config(), tmp_path)) != []


def test_the_fingerprint_never_holds_file_contents(tmp_path: Path) -> None:
    write_pair(tmp_path, key=b"-----BEGIN PRIVATE KEY----- secret")
    encoded = msgspec.json.encode(listener_fingerprint(tls_config(), tmp_path))
    assert b"secret" not in encoded and b"PRIVATE" not in encoded
