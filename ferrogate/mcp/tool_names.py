"""Tool names as clients see them (``serverName-toolName``) and the per-server tool lists.

The reference's example lists bare tool names (``tools_to_execute = ["search"]`` makes
``github-search`` runnable), so each entry of ``tool_include``, ``tools_to_execute`` and
``tools_to_auto_execute`` may be, matched against one server's tools only:

- a bare tool name (``search``) or the namespaced one (``github-search``);
- a glob, with the same rule as every allow list in the config (``*``, ``?`` or ``[``
  make a case-sensitive shell-style pattern, ``ferrogate.config.patterns``), tried against
  the bare and the namespaced name (``search*``, ``github-*``).

``tool_include`` empty lists every tool; ``tools_to_execute`` empty runs none (deny by
default); ``tools_to_auto_execute`` names tools the gateway may run on its own in a tool
loop, and only counts for tools that are executable too.

Server names may contain ``-`` and so may tool names: a namespaced name is split after the
longest known server name it starts with followed by ``-``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from fnmatch import fnmatchcase

from ferrogate.config.patterns import is_pattern

SEPARATOR = "-"


def namespaced(server: str, tool: str) -> str:
    return f"{server}{SEPARATOR}{tool}"


def split_namespaced(name: str, servers: Iterable[str]) -> tuple[str, str] | None:
    """``(server, tool)`` for ``name``, resolved against the known server names; None if none fits."""
    best: str | None = None
    for server in servers:
        prefix = server + SEPARATOR
        if name.startswith(prefix) and len(name) > len(prefix) and (best is None or len(server) > len(best)):
            best = server
    if best is None:
        return None
    return best, name[len(best) + len(SEPARATOR) :]


def matches(entries: Sequence[str], server: str, tool: str) -> bool:
    """Whether any entry names ``tool`` of ``server`` (bare, namespaced, or as a glob)."""
    full = namespaced(server, tool)
    for entry in entries:
        if is_pattern(entry):
            if fnmatchcase(tool, entry) or fnmatchcase(full, entry):
                return True
        elif entry in (tool, full):
            return True
    return False


def included(tool_include: Sequence[str], server: str, tool: str) -> bool:
    """Listed at all: an empty ``tool_include`` lists everything."""
    return not tool_include or matches(tool_include, server, tool)


def executable(tools_to_execute: Sequence[str], server: str, tool: str) -> bool:
    """Deny by default: only tools ``tools_to_execute`` names run."""
    return matches(tools_to_execute, server, tool)


def auto_executable(tools_to_execute: Sequence[str], tools_to_auto_execute: Sequence[str], server: str, tool: str) -> bool:
    """Run without the client asking: named in ``tools_to_auto_execute`` and executable."""
    return executable(tools_to_execute, server, tool) and matches(tools_to_auto_execute, server, tool)
