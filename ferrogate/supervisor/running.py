"""The config a generation runs, and the candidate a reload proposes to run instead.

:class:`Running` is what the arbiter serves with: the config, its revision and
its listener table, swapped as one value; :class:`Configs` holds it, and during
a reload the one it replaced. :func:`load_candidate` is the only
place a running gateway loads its config file again (SIGHUP, the admin API's
``config/reload``): it records the config, or every reason it did not load,
and what it would change on the public listener. :func:`next_running` builds
the listener table a candidate needs, reusing every socket the running table
already has for the same address.
"""

from __future__ import annotations

import logging
import socket
from dataclasses import dataclass
from pathlib import Path

from ferrogate.config.diagnostics import ConfigError
from ferrogate.config.load import Loaded, load
from ferrogate.config.model import Config
from ferrogate.ipc import config_revision
from ferrogate.store.admin_objects import ids_in_both
from ferrogate.store.database import store_path
from ferrogate.supervisor.children import Children, ControlProc
from ferrogate.supervisor.listener_fingerprint import (
    ListenerFingerprint,
    listener_changes,
    listener_fingerprint,
)
from ferrogate.supervisor.listeners import (
    ListenerTable,
    build_table,
    wanted_keys,
    warn_if_closing_queues,
)
from ferrogate.supervisor.spawn import Closable

log = logging.getLogger("ferrogate.supervisor")


@dataclass(frozen=True, slots=True)
class Running:
    config: Config
    revision: str
    table: ListenerTable


@dataclass(frozen=True, slots=True)
class Candidate:
    """A config file as a reload found it: the config, or why it did not load."""

    config: Config | None
    revision: str = ""
    errors: tuple[str, ...] = ()
    listener_changes: tuple[str, ...] = ()  # what it would change on the public listener


def ids_also_in_store(loaded: Loaded, path: Path) -> list[str]:
    """``file:line: ...`` for each config object whose id an admin API object has too."""
    found = ids_in_both(store_path(loaded.config, path), loaded.config)
    return [str(loaded.source_map.diagnostic(where, message)) for where, message in found]


def load_candidate(path: Path, listener: ListenerFingerprint) -> Candidate:
    """Load ``path`` and compare its public listener with the one this generation runs."""
    try:
        loaded = load(path)
    except ConfigError as exc:
        return Candidate(None, errors=tuple(str(exc).splitlines() or ["invalid config"]))
    except Exception as exc:  # a loader bug must not take the running gateway down
        return Candidate(None, errors=(f"{path}: cannot load config: {exc!r}",))
    clashes = ids_also_in_store(loaded, path)
    if clashes:
        return Candidate(None, errors=tuple(clashes))
    config = loaded.config
    changes = listener_changes(listener, listener_fingerprint(config, path.parent))
    return Candidate(config, config_revision(config), listener_changes=tuple(changes))


def next_running(
    config: Config, revision: str, current: Running, workers: int
) -> tuple[Running, list[socket.socket]]:
    """The running value for ``config``, and the sockets of ``current`` it no longer uses.

    Raises :class:`~ferrogate.supervisor.listeners.ListenerError` when a new address
    cannot be bound (nothing changes then).
    """
    keys = wanted_keys(config.listen, config.admin.listen if config.admin.enabled else None, workers)
    table, unwanted = build_table(keys, inherited=current.table.sockets)
    for key in table.sockets:
        if key in current.table.sources:
            table.sources[key] = current.table.sources[key]
    live = {id(s) for s in table.sockets.values()}
    retire = [s for s in {id(s): s for s in unwanted.values()}.values() if id(s) not in live]
    warn_if_closing_queues(retire, "this reload")
    return Running(config, revision, table), retire


class Configs:
    """The running config, and what a reload's switch keeps until it is restored or released.

    A switch runs a candidate (its listener table and a fresh control process) and
    keeps the config it replaced with that config's control process; a restore puts
    them back and retires the switch's; a release closes the sockets no table uses
    any more and stops the replaced control process.
    """

    def __init__(self, running: Running) -> None:
        self.running = running
        self.replaced: tuple[Running, ControlProc | None] | None = None
        self.retiring: list[socket.socket] = []  # sockets a switch took out of the table

    def closables(self) -> list[Closable]:
        """Every socket of ours a forked child must close."""
        items: list[Closable] = list({id(s): s for s in self.running.table.sockets.values()}.values())
        items += self.retiring
        if self.replaced is not None:
            items += self.replaced[0].table.sockets.values()
        return items

    def switch(self, candidate: Candidate, children: Children, close: list[Closable]) -> None:
        """Run ``candidate``; raises ListenerError (changing nothing) if a socket cannot be bound."""
        assert candidate.config is not None
        old = self.running
        new, retire = next_running(candidate.config, candidate.revision, old, len(children.slots))
        if new.table.admin_socket() is not old.table.admin_socket():
            log.info("reloading: the admin listener moves")
        self.retiring += retire
        self.replaced = (old, children.retire_control())
        self.running = new
        # The new control process closes the replaced table's extra sockets too.
        children.start_control(new.config, new.table, close + self.closables(), new_path=True)

    def restore(self, children: Children) -> None:
        assert self.replaced is not None
        previous, control = self.replaced
        self.replaced = None
        failed = children.retire_control()
        if failed is not None:
            children.terminate(failed.pid)
        keep = {id(s) for s in previous.table.sockets.values()}
        self.retiring += [s for s in self.running.table.sockets.values() if id(s) not in keep]
        self.running = previous
        if control is not None:
            children.reinstate_control(control)

    def release(self, deadline: float, children: Children) -> None:
        live = {id(s) for s in self.running.table.sockets.values()}
        for sock in self.retiring:
            if id(sock) not in live:
                sock.close()
        self.retiring = []
        if self.replaced is not None:
            _, control = self.replaced
            self.replaced = None
            if control is not None:
                children.stop_control(control, deadline)

    def close_all(self) -> None:
        for sock in self.retiring:
            sock.close()
        if self.replaced is not None:
            self.replaced[0].table.close_all()
        self.running.table.close_all()
