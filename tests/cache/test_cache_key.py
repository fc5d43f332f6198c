"""Cache keys: what makes two requests one entry, and the per-identity hash states the hot path
keeps (``CacheKeys``) giving the very bytes of the plain ``cache_key``."""

from __future__ import annotations

from ferrogate.cache.key import CacheKeys, cache_key

BODY = b'{"model": "m", "messages": [{"role": "user", "content": "hi"}]}'
SAME_BODY = b'{"messages":[{"content":"hi","role":"user"}],"model":"m"}'
IDENTITIES = [
    ("t", "chat", "m", "p", "pm"),
    (None, "chat", "m", "p", "pm"),
    ("", "chat", "m", "p", "pm"),
    ("t", "embeddings", "m2", "p2", "pm2"),
    ("tenant-é", "chat", "modèle", "p", "pm"),
]
BODIES = [BODY, SAME_BODY, b"not json \xff", b"", b'{"a": 1.5e3, "b": [true, null, "\\u00e9"]}']


def _key(body: bytes = BODY, tenant: str | None = "t", model: str = "m", provider: str = "p") -> bytes:
    return cache_key(tenant, "chat", model, provider, "pm", body)


def test_key_order_and_whitespace_do_not_change_the_key() -> None:
    assert _key(BODY) == _key(SAME_BODY)


def test_tenant_model_and_provider_each_change_the_key() -> None:
    assert len({_key(), _key(tenant="other"), _key(tenant=None), _key(model="m2"), _key(provider="p2")}) == 5


def test_the_kept_identity_states_give_the_plain_keys_bytes() -> None:
    keys = CacheKeys()
    for _ in range(2):  # the first time makes each identity's state, the second reuses it
        for identity in IDENTITIES:
            for body in BODIES:
                assert keys.key(*identity, body) == cache_key(*identity, body)


def test_identities_past_the_limit_still_give_the_plain_keys_bytes() -> None:
    keys = CacheKeys()
    for i in range(5000):  # over the 4096 kept: the states are dropped and made again
        assert keys.key(str(i), "chat", "m", "p", "pm", BODY) == cache_key(str(i), "chat", "m", "p", "pm", BODY)
    assert keys.key("0", "chat", "m", "p", "pm", BODY) == cache_key("0", "chat", "m", "p", "pm", BODY)


def test_a_body_nested_deeper_than_orjson_writes_is_keyed_by_its_bytes() -> None:
    deep = b'{"model": "m", "x": ' + b"[" * 300 + b"]" * 300 + b"}"  # orjson reads it, will not write it
    assert _key(deep) == _key(deep) != _key(BODY)
