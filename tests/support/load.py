"""A bounded background load loop: a few client threads hammering one URL.

Each thread sends requests back to back until stopped (or ``max_requests``
is reached) and records every outcome, so a test can assert on exactly which
requests failed and when.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import httpx


@dataclass
class Outcome:
    at: float
    ok: bool
    status: int | None
    body: bytes
    error: str = ""


@dataclass
class LoadLoop:
    url: str
    threads: int = 2
    max_requests: int = 20_000
    keep_alive: bool = True
    timeout: float = 10.0
    outcomes: list[Outcome] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _workers: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __enter__(self) -> LoadLoop:
        for _ in range(self.threads):
            t = threading.Thread(target=self._run, daemon=True)
            t.start()
            self._workers.append(t)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        limits = httpx.Limits(max_keepalive_connections=1 if self.keep_alive else 0, max_connections=1)
        headers = {} if self.keep_alive else {"connection": "close"}
        with httpx.Client(timeout=self.timeout, limits=limits, headers=headers) as client:
            while not self._stop.is_set():
                with self._lock:
                    if len(self.outcomes) >= self.max_requests:
                        return
                try:
                    resp = client.get(self.url)
                    outcome = Outcome(time.monotonic(), resp.status_code == 200, resp.status_code, resp.content)
                except httpx.HTTPError as exc:
                    outcome = Outcome(time.monotonic(), False, None, b"", f"{type(exc).__name__}: {exc}")
                with self._lock:
                    self.outcomes.append(outcome)

    def stop(self) -> None:
        self._stop.set()
        for t in self._workers:
            t.join(timeout=self.timeout + 5)

    def count(self) -> int:
        with self._lock:
            return len(self.outcomes)

    def wait_for(self, n: int, timeout: float = 30.0) -> None:
        """Block until ``n`` more requests have completed (proof the loop is really running)."""
        target = self.count() + n
        deadline = time.monotonic() + timeout
        while self.count() < target:
            if time.monotonic() > deadline:
                raise AssertionError(f"load loop stalled at {self.count()} requests (wanted {target})")
            if all(not t.is_alive() for t in self._workers):
                raise AssertionError("load loop threads exited")
            time.sleep(0.02)

    @property
    def failures(self) -> list[Outcome]:
        with self._lock:
            return [o for o in self.outcomes if not o.ok]
