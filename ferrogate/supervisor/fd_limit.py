"""The open-file limit the gateway runs with: each client and upstream connection is a
descriptor, so the soft limit a shell hands out (often 1,024) would cap a worker near a
thousand connections, with the rest left unanswered in the listen backlog. The supervisor
raises its soft limit to the hard one at start, before any worker is forked (they inherit
it), as nginx's ``worker_rlimit_nofile`` does by hand."""

from __future__ import annotations

import logging
import resource

LOW_LIMIT_WARNING = 4096


def raise_open_file_limit() -> tuple[int, int]:
    """(soft limit before, soft limit now); unchanged when it cannot be raised. (Linux never
    grants an unlimited hard limit for descriptors: it is at most fs.nr_open.)"""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or hard == resource.RLIM_INFINITY or soft >= hard:
        return soft, soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError):
        return soft, soft
    return soft, hard


def use_open_file_limit(log: logging.Logger) -> int:
    """Raise the limit, say so, and warn when even the hard limit is low; the limit now."""
    before, now = raise_open_file_limit()
    if now != before:
        log.info("open file limit raised from %d to %d (each connection takes one)", before, now)
    if now < LOW_LIMIT_WARNING:
        log.warning(
            "open file limit is %d: each worker holds fewer connections than that"
            " (raise the hard limit: LimitNOFILE= in systemd, ulimit -Hn in a shell)", now,
        )
    return now
