"""``cluster.redis_url``: which Redis, how to log in, which database.

``redis://[[user]:password@]host[:port][/db]``, ``rediss://`` (the same over TLS) and
``unix:///path/to.sock[?db=N]``. Parsed at load, so a bad URL is a config error with
its line, not a 503 at the first request.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit


@dataclass(frozen=True, slots=True)
class RedisAddress:
    host: str = ""
    port: int = 6379
    path: str = ""  # a unix socket instead of host and port
    username: str | None = None
    password: str | None = None
    db: int = 0
    tls: bool = False


def parse_redis_url(url: str) -> RedisAddress:
    """The address a ``redis://``, ``rediss://`` or ``unix://`` URL names; ValueError says what is wrong."""
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    db_text = query.get("db", [""])[0]
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    if parts.scheme == "unix":
        if not parts.path:
            raise ValueError("a unix:// Redis URL needs the socket's path (unix:///run/redis.sock)")
        return RedisAddress(path=parts.path, username=username, password=password, db=_db(db_text))
    if parts.scheme not in ("redis", "rediss"):
        raise ValueError("a Redis URL starts with redis://, rediss:// or unix://")
    if not parts.hostname:
        raise ValueError("a Redis URL needs a host (redis://127.0.0.1:6379/0)")
    path_db = parts.path.strip("/")
    try:
        port = parts.port or 6379
    except ValueError:
        raise ValueError("the Redis URL's port is not a number from 1 to 65535") from None
    return RedisAddress(
        host=parts.hostname, port=port, username=username, password=password,
        db=_db(path_db or db_text), tls=parts.scheme == "rediss",
    )


def _db(text: str) -> int:
    if not text:
        return 0
    if not text.isdigit():
        raise ValueError(f"the Redis database must be a number, not {text!r}")
    return int(text)
