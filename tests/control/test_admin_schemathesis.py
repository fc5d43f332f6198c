"""schemathesis against the admin API of a running gateway: every documented operation with
generated inputs (valid and not), no 5xx, every answer's status documented and its body valid
against the checked-in OpenAPI document.

Reload and drain are left out: fuzzing them would restart workers and take the node out of
rotation while the other operations run (their behaviour has tests of its own).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.support.admin_gateway import admin_config
from tests.support.gateway import DEFAULT_READY_SECS, Gateway, start_gateway

DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "openapi" / "admin-api.openapi.json"
TOKEN = "admin-token-for-schemathesis"
os.environ.setdefault("FG_SCHEMATHESIS_TOKEN", TOKEN)  # read by the config below
CONFIG = schemathesis.Config.from_str(
    """
[warnings]
fail-on = ["missing_auth"]

[auth.openapi.bearer]
bearer = "${FG_SCHEMATHESIS_TOKEN}"
"""
)
GATEWAY = admin_config("cfg", "sk-schemathesis-config-key")
SKIPPED = ("reload_config", "drain_start", "drain_stop")

schema = schemathesis.openapi.from_path(DOCUMENT, config=CONFIG).exclude(operation_id=list(SKIPPED))


@pytest.fixture(scope="module")
def admin_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    gateway: Gateway = start_gateway(
        GATEWAY, "toml", workers=1, env={"FG_ADMIN_TOKEN": TOKEN}, directory=tmp_path_factory.mktemp("schemathesis")
    )
    try:
        gateway.wait_ready(DEFAULT_READY_SECS)
        yield gateway.admin_url
    finally:
        gateway.stop()


def test_the_token_is_accepted(admin_url: str) -> None:
    """Without this guard a wrong token would turn every case into a documented 401 (green)."""
    answer = httpx.get(admin_url + "/admin/v1/status", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200, answer.text


@schema.parametrize()
@settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_admin_api_conforms_to_its_document(case: schemathesis.Case, admin_url: str) -> None:
    # Every check but "schema-valid data is accepted": the config's own rules (a token budget
    # needs its period, a policy's keys must exist, money must parse...) refuse with a
    # documented 400 what no JSON schema can express.
    case.call_and_validate(base_url=admin_url, excluded_checks=[positive_data_acceptance])
