"""CPU cost of each governance part on its own, in process: where a governed request's
extra microseconds go (the wrk ``chat_governed`` row measures them together).

    .venv/bin/python -m benchmarks.governance_parts
    FERROGATE_PURE=1 .venv/bin/python -m benchmarks.governance_parts   # pure Python

Parts: the limiter's admit + settle (a key with a request limit and a token budget;
then the same key in a tenant with limits of its own), in C where ``_counter_ops`` is
built (then again through its Python path on the same table, for comparison), the cache key of the benchmark's
chat body, a cache lookup that misses, a store, and a deny policy that does not match.
"""

from __future__ import annotations

import argparse
import gc
import time
from collections.abc import Callable

from benchmarks.payloads import request_bodies
from ferrogate.cache.key import CacheKeys
from ferrogate.cache.shm_store import ShmCache
from ferrogate.config.model import ApiKey, Policy, Tenant
from ferrogate.governance.counter_table import CounterTable
from ferrogate.governance.limiter import LocalLimiter
from ferrogate.governance.policies import PolicyBook
from ferrogate.governance.quotas import QuotaBook

_BIG = 10**15


def _limiter_pair(table: CounterTable, tenant: bool, python: bool = False) -> Callable[[int], None]:
    key = ApiKey(id="k", key="sk-parts", request_limit_per_minute=_BIG, monthly_token_budget=_BIG,
                 tenant="t" if tenant else None)
    tenants = [Tenant(id="t", request_limit_per_minute=_BIG, daily_token_budget=_BIG)] if tenant else []
    book = QuotaBook([key], tenants)
    ops = table.ops
    if python:
        table.ops = None  # this limiter takes the Python path, on the same mutexes
    limiter = LocalLimiter(table, book)
    table.ops = ops
    subjects = book.by_key["k"]

    def run(n: int) -> None:
        for _ in range(n):
            ticket = limiter.admit(subjects, 300, 0)
            limiter.settle(ticket, 120, 0)

    return run


def _key(n: int) -> None:
    body = request_bodies()["chat_governed"]
    key = CacheKeys().key  # as cache_lookup keys a request (through its AnswerCache)
    for _ in range(n):
        key(None, "chat", "gpt-4o-mini-governed", "mock-openai", "gpt-4o-mini", body)


def _cache_parts(cache: ShmCache) -> tuple[Callable[[int], None], Callable[[int], None]]:
    body = request_bodies()["chat_governed"]
    answer = b"x" * 700

    def miss(n: int) -> None:
        for i in range(n):
            cache.get(i.to_bytes(16, "little"), 1000)

    def put(n: int) -> None:
        for i in range(n):
            cache.put((i + 7).to_bytes(16, "little"), answer, 1000, 60_000)

    assert body
    return miss, put


def _policy(n: int) -> None:
    book = PolicyBook([Policy(name="no-claude", api_key_ids=["k"], models=["claude-bench"])])
    key = ApiKey(id="k", key="sk-parts")
    for _ in range(n):
        book.refusing_request(key, "gpt-4o-mini-governed")


def _time(run: Callable[[int], None], n: int, rounds: int) -> float:
    run(n // 10)  # warm up
    best = float("inf")
    for _ in range(rounds):
        start = time.process_time()
        run(n)
        best = min(best, time.process_time() - start)
    return best / n * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    gc.freeze()
    table = CounterTable.create(1024)
    cache = ShmCache.create(10_000, 16 << 20)
    miss, put = _cache_parts(cache)
    parts: list[tuple[str, Callable[[int], None]]] = [
        ("limiter admit+settle (key)", _limiter_pair(table, tenant=False)),
        ("limiter admit+settle (key+tenant)", _limiter_pair(table, tenant=True)),
    ]
    if table.ops is not None:
        parts += [
            ("limiter, Python path (key)", _limiter_pair(table, tenant=False, python=True)),
            ("limiter, Python path (key+tenant)", _limiter_pair(table, tenant=True, python=True)),
        ]
    parts += [
        ("cache key", _key),
        ("cache lookup (miss)", miss),
        ("cache store", put),
        ("deny policy (no match)", _policy),
    ]
    for name, run in parts:
        print(f"{name:36s} {_time(run, args.n, args.rounds):7.2f} µs")


if __name__ == "__main__":
    main()
