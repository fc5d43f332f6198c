"""The base of every IPC message (its own module so the message modules can share it)."""

from __future__ import annotations

import msgspec


class _Msg(msgspec.Struct, frozen=True, kw_only=True, tag=True, tag_field="type"):
    """Base of every IPC message; the tag is the class name."""
