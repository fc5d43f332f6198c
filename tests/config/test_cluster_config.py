"""[cluster]: where the shared admin objects live, checked at load, and cluster.enabled said
to switch nothing only where it does switch nothing."""

from __future__ import annotations

from collections.abc import Callable

from ferrogate.config.load import Loaded
from tests.config.conftest import ErrorsOf, LoadText


def test_a_lone_state_file_shares_the_objects_through_the_file(load_text: LoadText) -> None:
    config = load_text('[cluster]\nstate_file = "/shared/ferrogate-state.json"\n', "c.toml")
    assert config.cluster.shared_state == "file"


def test_state_backend_file_needs_a_state_file(errors_of: ErrorsOf) -> None:
    (error,) = errors_of('[cluster]\nstate_backend = "file"\n', "c.toml")
    assert error.startswith("c.toml:2:") and "needs `state_file`" in error


def test_a_state_file_with_the_redis_state_backend_is_refused_as_two_homes(errors_of: ErrorsOf) -> None:
    (error,) = errors_of(
        '[cluster]\nstate_backend = "redis"\nredis_url = "redis://127.0.0.1:6379"\nstate_file = "/s.json"\n', "c.toml"
    )
    assert error.startswith("c.toml:4:") and "two homes" in error


def test_the_state_file_is_no_longer_said_to_do_nothing(load_full: Callable[..., Loaded]) -> None:
    assert load_full('[cluster]\nstate_file = "s.json"\n', "c.toml").warnings == []


def test_cluster_enabled_with_a_shared_state_does_not_warn(load_full: Callable[..., Loaded]) -> None:
    assert load_full('[cluster]\nenabled = true\nstate_file = "s.json"\n', "c.toml").warnings == []


def test_cluster_enabled_without_a_shared_state_is_said_to_switch_nothing(load_full: Callable[..., Loaded]) -> None:
    (warning,) = load_full("[cluster]\nenabled = true\n", "c.toml").warnings
    assert warning.line == 2 and warning.message.startswith("`cluster.enabled` is accepted but has no effect")
