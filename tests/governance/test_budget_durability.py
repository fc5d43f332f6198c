"""Spent budgets survive a restart, a reload and a graceful upgrade: a budget that resets is a bypass.
Each test runs with the limiter's C ops and in pure Python (``conftest.gateway_path_env``)."""

from __future__ import annotations

import signal
from pathlib import Path

import openai
import pytest

from tests.support.gateway import DEFAULT_READY_SECS, Gateway, start_gateway, wait_until

pytestmark = pytest.mark.e2e

CONFIG = """
[storage]
path = "state/budgets.db"

[[providers]]
name = "mock"
kind = "mock"
mock = { prompt_tokens = 10, completion_tokens = 16 }

[[models]]
name = "m"
provider = "mock"
provider_model = "m"

[[api_keys]]
id = "k"
key = "sk-k"
daily_token_budget = 60
"""

HI = [{"role": "user", "content": "hi"}]


def _ask(gw: Gateway) -> None:
    openai.OpenAI(base_url=gw.base_url + "/v1", api_key="sk-k", max_retries=0).chat.completions.create(
        model="m", messages=HI, max_tokens=1
    )


def _spend_it_all(gw: Gateway) -> int:
    """Requests until the budget refuses one; how many were answered."""
    answered = 0
    with pytest.raises(openai.RateLimitError) as refused:
        for _ in range(10):
            _ask(gw)
            answered += 1
    assert refused.value.code == "budget_exceeded"
    return answered


def _refused(gw: Gateway) -> bool:
    try:
        _ask(gw)
    except openai.RateLimitError as exc:
        return exc.code == "budget_exceeded"
    return False


def test_a_spent_budget_is_still_spent_after_a_restart(tmp_path: Path, gateway_path_env: dict[str, str]) -> None:
    first = start_gateway(CONFIG, "toml", workers=2, env=gateway_path_env, directory=tmp_path)
    try:
        first.wait_ready(DEFAULT_READY_SECS)
        assert _spend_it_all(first) == 2  # 26 tokens each; a third would not fit in 60
    finally:
        assert first.stop() == 0
    assert (tmp_path / "state" / "budgets.db").exists()
    second = start_gateway(CONFIG, "toml", workers=2, env=gateway_path_env, directory=tmp_path)
    try:
        second.wait_ready(DEFAULT_READY_SECS)
        assert _refused(second)
    finally:
        second.stop()


def test_a_spent_budget_is_still_spent_after_a_reload(gateway_factory, gateway_path_env: dict[str, str]) -> None:
    gw = gateway_factory(CONFIG, workers=2, env=gateway_path_env)
    _spend_it_all(gw)
    old_workers = set(gw.worker_pids().values())
    gw.write_config(CONFIG + '\n[telemetry]\naccess_log = "off"\n')  # a change, so workers roll
    gw.signal(signal.SIGHUP)
    wait_until(lambda: (s := gw.status()) and s.last_reload and s.last_reload.seq >= 1, 30, "the reload")
    wait_until(lambda: set(gw.worker_pids().values()).isdisjoint(old_workers), 30, "new workers")
    assert _refused(gw)


def test_a_spent_budget_is_still_spent_after_a_graceful_upgrade_and_is_shared_with_it(
    gateway_factory, gateway_path_env: dict[str, str]
) -> None:
    # No store: what the new generation knows it can only get from the table handed over.
    config = CONFIG.replace("daily_token_budget = 60", "daily_token_budget = 90")
    gw = gateway_factory(config.replace('"state/budgets.db"', '":memory:"'), workers=2, env=gateway_path_env)
    _ask(gw)  # 26 of 90 spent by the first generation
    old_pid = gw.pid
    gw.signal(signal.SIGUSR2)
    ready = gw.wait_ready(60)
    assert ready["pid"] != old_pid and ready["generation"] == 2
    # The new generation counts in the same table: two more fit (78), a third does not.
    _ask(gw)
    _ask(gw)
    assert _refused(gw)
