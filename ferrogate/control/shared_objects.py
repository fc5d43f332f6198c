"""Admin-API objects shared by every node through Redis (``cluster.state_backend = "redis"``).

Redis holds one hash of every object made over the admin API (API keys as stored: the hash,
never a secret; tenants, policies, gateway configs, and the old secrets of keys in a
rotation's grace), each field ``kind<US>id`` holding the object's JSON, and a revision
counter. A write goes to Redis first, in one script that changes the fields and bumps the
revision; only then to the node's own store (so a write Redis did not take is refused
whole: 503 ``shared_state_unavailable``). Every node's control process reads the revision
every ``POLL_SECS`` and, when it moved, the whole hash, and applies what differs to its own
store and objects, which go to its workers as for any change. A node that was down catches
up the same way when it starts; the first node of an empty Redis puts its objects there.
While Redis is away workers keep the last objects they were sent.
"""

from __future__ import annotations

import asyncio
import logging

from ferrogate.control.background import cancel_and_wait
from ferrogate.control.shared_state import ApplyRows, Rows, unavailable
from ferrogate.errors import GatewayError
from ferrogate.ipc.redis_client import RedisClient, RedisReplyError, RedisUnavailable, Script

_log = logging.getLogger("ferrogate.control.shared")

POLL_SECS = 0.25
OBJECTS_KEY = "ferrogate:state:objects"
REVISION_KEY = "ferrogate:state:revision"
_SEP = "\x1f"

# ARGV: field, body, field, body, ... (an empty body deletes the field); returns the new revision.
_WRITE = Script(
    """
for i = 1, #ARGV, 2 do
  if ARGV[i + 1] == '' then
    redis.call('HDEL', KEYS[1], ARGV[i])
  else
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  end
end
return redis.call('INCR', KEYS[2])
"""
)


class SharedObjects:
    def __init__(self, url: str, apply: ApplyRows) -> None:
        self.client = RedisClient(url, timeout=2.0, connect_timeout=1.0)
        self._apply = apply
        self._seen: bytes | None = None
        self._task: asyncio.Task[None] | None = None
        self._down = False
        self.synced = asyncio.Event()

    async def start(self, local: Rows) -> None:
        """Catch up with the shared objects, or put this node's there when there are none yet."""
        try:
            revision = await self.client.call("GET", REVISION_KEY)
            if revision is None and local:
                await self.publish([(kind, ident, body) for (kind, ident), body in local.items()])
            await self._sync()
        except (RedisUnavailable, RedisReplyError, OSError, TimeoutError, GatewayError) as exc:
            _log.error("the shared state (Redis) is unreachable at start; this node serves its own objects: %s", exc)
            self._down = True
        self._task = asyncio.get_running_loop().create_task(self._poll(), name="shared-objects")

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)
        await self.client.close()

    async def publish(self, changes: list[tuple[str, str, bytes | None]]) -> None:
        """Write ``changes`` ((kind, id, JSON or None to delete)) to Redis; GatewayError 503 if it did not."""
        args: list[bytes | str | int] = []
        for kind, ident, body in changes:
            args += [kind + _SEP + ident, body or b""]
        try:
            await self.client.run_script(_WRITE, [OBJECTS_KEY, REVISION_KEY], args)
        except (RedisUnavailable, RedisReplyError, OSError, TimeoutError) as exc:
            raise unavailable("Redis", str(exc) or type(exc).__name__) from None

    async def _sync(self) -> None:
        revision = await self.client.call("GET", REVISION_KEY)
        if not isinstance(revision, bytes) or revision == self._seen:
            self.synced.set()
            return
        reply = await self.client.call("HGETALL", OBJECTS_KEY)
        items = reply if isinstance(reply, list) else []
        rows: Rows = {}
        for i in range(0, len(items) - 1, 2):
            field, body = items[i], items[i + 1]
            if isinstance(field, bytes) and isinstance(body, bytes) and _SEP.encode() in field:
                kind, _, ident = field.decode().partition(_SEP)
                rows[(kind, ident)] = body
        await self._apply(rows)
        self._seen = revision
        self.synced.set()

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(POLL_SECS)
            try:
                await self._sync()
                if self._down:
                    _log.info("the shared state (Redis) is back")
                    self._down = False
            except (RedisUnavailable, RedisReplyError, OSError, TimeoutError) as exc:
                if not self._down:
                    _log.error("the shared state (Redis) is unreachable; workers keep the last objects: %s", exc)
                    self._down = True
            except Exception:
                _log.exception("cannot apply the shared objects")
