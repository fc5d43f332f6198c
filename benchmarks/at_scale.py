"""The at-scale suites of ``benchmarks.run``: realistic load, each scenario on its own services.

Each suite runs one module's ``measure`` (which starts and stops its own services) at a
size that keeps ``make bench`` short; run the module alone for the issue's full size:

| suite | module | size in ``make bench`` (``--quick``) | full size alone |
|---|---|---|---|
| streams_paced | token_streams | 1,000 streams x 50 events at 10/s (200 x 20) | ``--streams 1000 --events 100`` |
| overload | token_streams | 3,000 and 6,000 streams x 30 events, nginx and FerroGate (1,000 x 20) | ``--overload 1000,2000,3000,4500,6000`` |
| idle | idle_conns | 10,000 connections held 5 s (1,000, 2 s) | ``--connections 10000`` |
| leak | leak_guard | 10 bursts x 2,000 requests (3 x 500) | ``--bursts 10 --requests 20000`` |
| scaling | scaling | get_small and chat, 5 s runs, 2 reps (2 s, 1 rep) | the same (its defaults) |
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from typing import Any

from benchmarks import idle_conns, leak_guard, scaling, token_streams

SUITES = ("streams_paced", "overload", "idle", "leak", "scaling")


def _streams_paced(args: argparse.Namespace, log: Callable[[str], None]) -> dict[str, Any]:
    streams, events = (200, 20) if args.quick else (1000, 50)
    return token_streams.measure(
        steps=[streams],
        events=events,
        rate=10.0,
        targets=list(token_streams.TARGETS),
        clients=os.cpu_count() or 1,
        workers=args.workers,
        settle=args.settle,
        log=log,
    )


def _overload(args: argparse.Namespace, log: Callable[[str], None]) -> dict[str, Any]:
    steps, events = ([1000], 20) if args.quick else ([3000, 6000], 30)
    return token_streams.measure(
        steps=steps,
        events=events,
        rate=10.0,
        targets=["nginx", "ferrogate"],
        clients=os.cpu_count() or 1,
        workers=args.workers,
        settle=args.settle,
        log=log,
    )


def _idle(args: argparse.Namespace, log: Callable[[str], None]) -> dict[str, Any]:
    count, hold = (1000, 2.0) if args.quick else (10000, 5.0)
    return idle_conns.measure(
        connections=count,
        hold=hold,
        targets=list(idle_conns.TARGETS),
        workers=args.workers,
        log=log,
    )


def _leak(args: argparse.Namespace, log: Callable[[str], None]) -> dict[str, Any]:
    bursts, requests = (3, 500) if args.quick else (10, 2000)
    return leak_guard.measure(
        bursts=bursts, requests=requests, concurrency=32, workers=args.workers, log=log
    )


def _scaling(args: argparse.Namespace, log: Callable[[str], None]) -> dict[str, Any]:
    duration, reps = (2.0, 1) if args.quick else (5.0, 2)
    return scaling.measure(
        scenarios=list(scaling.SCENARIOS),
        duration=duration,
        reps=reps,
        connections=64,
        settle=args.settle,
        log=log,
    )


_RUNNERS: dict[str, Callable[[argparse.Namespace, Callable[[str], None]], dict[str, Any]]] = {
    "streams_paced": _streams_paced,
    "overload": _overload,
    "idle": _idle,
    "leak": _leak,
    "scaling": _scaling,
}


def run(
    suites: list[str],
    args: argparse.Namespace,
    log: Callable[[str], None],
    results: dict[str, Any],
    skipped: dict[str, str],
) -> None:
    """Every selected at-scale suite in turn, into ``results`` as each ends (an interrupted
    run keeps what finished); a suite that fails is listed in ``skipped``."""
    for suite in (s for s in SUITES if s in suites):
        log(f"[suite] {suite}")
        try:
            results[suite] = _RUNNERS[suite](args, log)
        except (RuntimeError, OSError, ValueError) as exc:
            skipped[suite] = f"{type(exc).__name__}: {str(exc)[:600]}"
            log(f"[skip] {suite}: {skipped[suite]}")


def describe(results: dict[str, Any]) -> str:
    parts = {
        "streams_paced": ("token streams", token_streams.describe),
        "overload": ("overload", token_streams.describe),
        "idle": ("idle keep-alive connections", idle_conns.describe),
        "leak": ("leak guard", leak_guard.describe),
        "scaling": ("scaling with cores", scaling.describe),
    }
    return "\n".join(f"\n### {parts[s][0]}\n{parts[s][1](r)}" for s, r in results.items())


def checks(results: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for suite, result in results.items():
        if suite in ("streams_paced", "overload"):
            out += token_streams.checks(result, overload=suite == "overload")
        elif suite == "idle":
            out += idle_conns.checks(result)
        elif suite == "leak":
            out += leak_guard.checks(result)
        else:
            out += scaling.checks(result)
    return out
