"""The config the control-plane tests start: an admin API that needs a token, the offline mock
provider behind model ``m``, and one key from the config file (read-only over the API)."""

from __future__ import annotations

TOKEN_ENV = "FG_ADMIN_TOKEN"


def admin_config(key_id: str, secret: str, extra: str = "") -> str:
    return f"""
[admin]
listen = "127.0.0.1:0"
token_env = "{TOKEN_ENV}"

[[providers]]
name = "mock"
kind = "mock"

[[models]]
name = "m"
provider = "mock"
provider_model = "m"
{extra}
[[api_keys]]
id = "{key_id}"
key = "{secret}"
"""
