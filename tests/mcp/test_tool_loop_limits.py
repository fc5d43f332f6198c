"""When the tool loop runs a model answer's calls itself, and when they go back to the client:
only calls to auto-execute tools, no more than max_tool_calls_per_step of them, and not past
max_steps model calls (the end-to-end tests drive the loop; the mock model asks for one tool
at a time, so the per-answer limit is pinned here)."""

from __future__ import annotations

from typing import Any

from ferrogate.pipeline.tool_loop import ToolLoop


def _loop(steps: int, auto: set[str]) -> ToolLoop:
    loop = ToolLoop.__new__(ToolLoop)  # only the two fields the decision reads
    loop.steps = steps
    loop.auto = auto
    return loop


def _calls(*names: str) -> list[dict[str, Any]]:
    return [{"id": f"call_{i}", "type": "function", "function": {"name": n, "arguments": "{}"}} for i, n in enumerate(names)]


def test_calls_to_auto_execute_tools_within_the_limits_are_run() -> None:
    assert _loop(1, {"kit-add"})._runs(_calls("kit-add", "kit-add"), max_steps=5, max_calls=2)


def test_an_answer_with_more_calls_than_max_tool_calls_per_step_goes_back_unrun() -> None:
    assert not _loop(1, {"kit-add"})._runs(_calls("kit-add", "kit-add", "kit-add"), max_steps=5, max_calls=2)


def test_one_call_to_a_tool_not_marked_auto_execute_sends_the_whole_answer_back() -> None:
    assert not _loop(1, {"kit-add"})._runs(_calls("kit-add", "client_tool"), max_steps=5, max_calls=8)


def test_the_last_allowed_model_call_runs_no_more_tools() -> None:
    assert not _loop(5, {"kit-add"})._runs(_calls("kit-add"), max_steps=5, max_calls=8)


def test_an_answer_without_calls_is_the_final_answer() -> None:
    assert not _loop(1, {"kit-add"})._runs([], max_steps=5, max_calls=8)
