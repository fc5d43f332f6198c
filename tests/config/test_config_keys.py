"""Virtual key hashing: the stored form and the per-request index."""

from __future__ import annotations

import re

from ferrogate.config.model import ApiKey
from ferrogate.governance.keys import KeyIndex, hash_key, hash_key_command


def test_hash_key_has_the_documented_stored_form() -> None:
    assert re.fullmatch(r"hmac-sha256:[0-9a-f]{64}", hash_key("sk-test"))


def test_hash_key_is_stable_and_distinguishes_secrets() -> None:
    assert hash_key("sk-a", env={}) == hash_key("sk-a", env={})
    assert hash_key("sk-a", env={}) != hash_key("sk-b", env={})


def test_hash_key_secret_can_be_overridden_by_environment() -> None:
    default = hash_key("sk-a", env={})
    custom = hash_key("sk-a", env={"FERROGATE_KEY_HASH_SECRET": "site-secret"})
    assert default != custom


def test_key_index_finds_hashed_and_plaintext_keys() -> None:
    stored = ApiKey(id="prod", key_hash=hash_key("sk-prod", env={}))
    dev = ApiKey(id="dev", key="sk-dev")
    index = KeyIndex.from_config([stored, dev], env={})
    assert index.lookup("sk-prod") is stored
    assert index.lookup("sk-dev") is dev
    assert len(index) == 2


def test_key_index_rejects_unknown_and_empty_keys() -> None:
    index = KeyIndex.from_config([ApiKey(id="dev", key="sk-dev")], env={})
    assert index.lookup("sk-other") is None
    assert index.lookup("") is None
    assert "sk-other" not in index


def test_hash_key_command_prints_only_the_hash(capsys) -> None:  # type: ignore[no-untyped-def]
    assert hash_key_command("sk-secret-value") == 0
    out = capsys.readouterr().out
    assert out.strip() == hash_key("sk-secret-value")
    assert "sk-secret-value" not in out
