"""What the Redis client raises (apart from the compiled RESP codec, which raises them too)."""

from __future__ import annotations


class RedisUnavailable(ConnectionError):
    """Redis could not be reached, or did not answer in time."""


class RedisReplyError(Exception):
    """An error reply (``-ERR ...``)."""
