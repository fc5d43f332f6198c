"""The admin API as a pure function: probes, status, auth, config validate/reload, drain."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from ferrogate import ipc
from ferrogate.config.load import load
from ferrogate.control.admin import AdminApi, AdminResponse, ReloadAnswer
from ferrogate.control.state import ControlState

from .helpers import run

TOKEN = "admin-token-0123456789"
PROVIDER_SECRET = "sk-provider-secret-123"
VIRTUAL_SECRET = "vk-virtual-secret-456"

CONFIG = f"""
listen = "127.0.0.1:0"

[admin]
listen = "127.0.0.1:0"
token_env = "FG_ADMIN_TOKEN"

[cluster]
node_id = "auto"

[[providers]]
name = "openai"
kind = "openai"
api_key = "{PROVIDER_SECRET}"

[[models]]
name = "gpt"
provider = "openai"
provider_model = "gpt-4o"

[[api_keys]]
id = "k1"
key = "{VIRTUAL_SECRET}"
"""

OPEN_CONFIG = 'listen = "127.0.0.1:0"\n'

INVALID_CONFIG = """listen = "127.0.0.1:0"
[admin]
bogus = 1

[limits]
max_body_bytes = "big"
"""

ENV = {"FG_ADMIN_TOKEN": TOKEN, "FERROGATE_NODE_ID": "node-a"}
JSON_TYPE = (b"content-type", b"application/json")
FORWARDED = (b"x-ferrogate-admin-forward", b"1")
AUTH = [(b"authorization", f"Bearer {TOKEN}".encode()), JSON_TYPE]


class Api:
    """An AdminApi over a real config file, counting the reloads it asks of the supervisor,
    which answers ``answer`` (by default: the file is valid and is revision ``new``)."""

    def __init__(self, path: Path, env: dict[str, str], answer: ReloadAnswer | None = None) -> None:
        self.asks = 0
        self.drains: list[bool] = []
        self.state = ControlState(load(path, env=env).config, path, 3, env=env, pid=999)
        self.answer = answer or ipc.ReloadVerdict(
            id=1, valid=True, revision="new", previous_revision=self.state.revision
        )
        self.api = AdminApi(self.state, ask_reload=self._ask, on_drain_change=self.drains.append)

    async def _ask(self) -> ReloadAnswer:
        self.asks += 1
        return self.answer

    def call(
        self,
        method: str,
        target: str,
        body: bytes = b"",
        headers: list[tuple[bytes, bytes]] | None = None,
    ) -> AdminResponse:
        return run(self.api.handle(method, target, AUTH if headers is None else headers, body))


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "gateway.toml"
    path.write_text(CONFIG)
    return path


@pytest.fixture
def api(config_file: Path) -> Api:
    return Api(config_file, dict(ENV))


def _json(response: AdminResponse) -> dict:  # type: ignore[type-arg]
    return orjson.loads(response[2])  # type: ignore[no-any-return]


def _header(response: AdminResponse, name: bytes) -> bytes | None:
    return next((v for k, v in response[1] if k == name), None)


# --------------------------------------------------------------------------- probes


def test_healthz_answers_ok_without_a_token(api: Api) -> None:
    status, headers, body = api.call("GET", "/healthz", headers=[])
    assert status == 200
    assert orjson.loads(body) == {"status": "ok"}
    assert (b"content-type", b"application/json") in headers


def test_head_is_served_like_get(api: Api) -> None:
    assert api.call("HEAD", "/healthz")[0] == 200


def test_readyz_is_503_with_an_error_body_until_workers_are_ready(api: Api) -> None:
    response = api.call("GET", "/readyz", headers=[])
    assert response[0] == 503
    assert _json(response)["error"]["code"] == "not_ready"


def test_readyz_is_200_when_every_slot_is_ready_and_503_while_draining(api: Api) -> None:
    api.state.on_supervisor_status(
        ipc.SupervisorStatus(
            pid=1,
            generation=3,
            started_at=0.0,
            phase="running",
            config_revision=api.state.revision,
            config_path=str(api.state.config_path),
            expected_workers=1,
            workers=[
                ipc.WorkerSlotInfo(slot=0, pid=10, generation=3, state="ready", started_at=0.0)
            ],
        )
    )
    assert api.call("GET", "/readyz", headers=[])[0] == 200
    api.call("POST", "/admin/v1/drain")
    assert api.call("GET", "/readyz", headers=[])[0] == 503


# --------------------------------------------------------------------------- auth


@pytest.mark.parametrize(
    "headers",
    [
        [],
        [(b"authorization", b"Bearer wrong")],
        [(b"authorization", TOKEN.encode())],
        [(b"x-api-key", TOKEN.encode())],
    ],
    ids=["missing", "wrong", "no-scheme", "other-header"],
)
def test_admin_endpoints_refuse_requests_without_the_bearer_token(
    api: Api, headers: list[tuple[bytes, bytes]]
) -> None:
    response = api.call("GET", "/admin/v1/status", headers=headers)
    assert response[0] == 401
    assert _header(response, b"www-authenticate") == b"Bearer"
    assert _json(response)["error"]["code"] == "invalid_admin_token"
    assert TOKEN.encode() not in response[2]


def test_the_bearer_scheme_is_case_insensitive(api: Api) -> None:
    assert (
        api.call(
            "GET", "/admin/v1/status", headers=[(b"authorization", f"bearer {TOKEN}".encode())]
        )[0]
        == 200
    )


def test_admin_fails_closed_when_the_token_variable_is_missing(config_file: Path) -> None:
    api = Api(config_file, dict(ENV))
    api.state.env = {}
    api.api = AdminApi(api.state, ask_reload=api._ask)
    assert api.call("GET", "/admin/v1/status")[0] == 401


def test_without_token_or_keys_the_loopback_admin_api_is_open(tmp_path: Path) -> None:
    path = tmp_path / "open.toml"
    path.write_text(OPEN_CONFIG)
    api = Api(path, {})
    assert api.call("GET", "/admin/v1/status", headers=[])[0] == 200
    assert api.call("POST", "/admin/v1/drain", headers=[JSON_TYPE])[0] == 200


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_without_token_or_keys_requests_forwarded_from_the_public_port_are_refused(
    tmp_path: Path, method: str
) -> None:
    path = tmp_path / "open.toml"
    path.write_text(OPEN_CONFIG)
    api = Api(path, {})
    response = api.call(method, "/admin/v1/drain", headers=[FORWARDED, JSON_TYPE])
    assert response[0] == 401
    assert _json(response)["error"]["code"] == "invalid_admin_token"
    assert api.drains == []


def test_with_a_token_forwarded_writes_are_allowed(api: Api) -> None:
    headers = [*AUTH, FORWARDED]
    assert api.call("POST", "/admin/v1/drain", headers=headers)[0] == 200


# --------------------------------------------------------------------------- status


def test_status_reports_identity_config_and_workers(api: Api, config_file: Path) -> None:
    api.state.on_supervisor_status(
        ipc.SupervisorStatus(
            pid=1,
            generation=3,
            started_at=0.0,
            phase="running",
            config_revision=api.state.revision,
            config_path=str(config_file),
            expected_workers=2,
            workers=[
                ipc.WorkerSlotInfo(slot=0, pid=10, generation=3, state="ready", started_at=0.0),
                ipc.WorkerSlotInfo(slot=1, pid=11, generation=3, state="starting", started_at=0.0),
            ],
        )
    )
    status = _json(api.call("GET", "/admin/v1/status"))
    assert status["version"]
    assert (status["node_id"], status["pid"], status["generation"]) == ("node-a", 999, 3)
    assert status["config_revision"] == api.state.revision
    assert status["config_source"] == str(config_file)
    assert status["uptime_secs"] >= 0
    assert [(w["slot"], w["pid"], w["state"]) for w in status["workers"]] == [
        (0, 10, "ready"),
        (1, 11, "starting"),
    ]
    assert all("uptime_secs" in w and w["generation"] == 3 for w in status["workers"])
    assert status["ready"] is False


def test_admin_responses_never_contain_secrets(api: Api) -> None:
    bodies = [
        api.call("GET", "/admin/v1/status")[2],
        api.call(
            "POST", "/admin/v1/config/validate", orjson.dumps({"path": str(api.state.config_path)})
        )[2],
        api.call("POST", "/admin/v1/config/reload")[2],
        api.call("GET", "/admin/v1/status", headers=[])[2],
    ]
    for body in bodies:
        for secret in (TOKEN, PROVIDER_SECRET, VIRTUAL_SECRET):
            assert secret.encode() not in body


# --------------------------------------------------------------------------- routing errors


def test_unknown_admin_path_is_404_json(api: Api) -> None:
    response = api.call("GET", "/admin/v1/nope")
    assert response[0] == 404
    assert _json(response)["error"]["code"] == "not_found"


def test_wrong_method_is_405_with_allow(api: Api) -> None:
    response = api.call("PUT", "/admin/v1/drain")
    assert response[0] == 405
    assert _header(response, b"allow") == b"DELETE, GET, POST"


# --------------------------------------------------------------------------- config/validate


def test_validate_accepts_config_text_and_summarises_it(api: Api) -> None:
    body = orjson.dumps({"config": CONFIG, "format": "toml"})
    result = _json(api.call("POST", "/admin/v1/config/validate", body))
    assert result["valid"] is True
    assert result["format"] == "toml"
    assert result["revision"] == api.state.revision
    assert (
        result["summary"]["providers"],
        result["summary"]["models"],
        result["summary"]["api_keys"],
    ) == (1, 1, 1)


def test_validate_reports_every_problem_with_its_position(api: Api) -> None:
    body = orjson.dumps({"config": INVALID_CONFIG, "format": "toml"})
    response = api.call("POST", "/admin/v1/config/validate", body)
    result = _json(response)
    assert response[0] == 200
    assert result["valid"] is False
    assert [(d["line"], d["column"]) for d in result["diagnostics"]] == [(3, 1), (6, 1)]
    assert "bogus" in result["diagnostics"][0]["message"]
    assert all(d["file"] == "<request>.toml" for d in result["diagnostics"])


def test_validate_refuses_a_path_and_reads_no_file(api: Api, tmp_path: Path) -> None:
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text("root:x:0:0:the-file-content\n")
    response = api.call("POST", "/admin/v1/config/validate", orjson.dumps({"path": str(secret_file)}))
    assert response[0] == 400
    assert b"the-file-content" not in response[2]


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"{}",
        orjson.dumps({"config": "x", "path": "/y"}),
        orjson.dumps({"config": "x", "extra": 1}),
    ],
    ids=["not-json", "empty", "both", "unknown-field"],
)
def test_validate_rejects_a_malformed_request_with_400(api: Api, body: bytes) -> None:
    response = api.call("POST", "/admin/v1/config/validate", body)
    assert response[0] == 400
    assert "error" in _json(response)


# --------------------------------------------------------------------------- config/reload


def test_reload_asks_the_supervisor_and_returns_202_with_the_revision_it_loaded(
    api: Api,
) -> None:
    response = api.call("POST", "/admin/v1/config/reload")
    result = _json(response)
    assert response[0] == 202
    assert (result["revision"], result["previous_revision"]) == ("new", api.state.revision)
    assert result["delivered_via"] == "ipc"
    assert api.asks == 1
    assert _json(api.call("GET", "/admin/v1/status"))["last_reload"]["outcome"] == "pending"


def test_the_supervisors_refusal_of_an_invalid_config_is_422_with_every_error(config_file: Path) -> None:
    errors = [f"{config_file}:3:1: unknown key `bogus`", f"{config_file}:6:1: limits.max_body_bytes: bad"]
    refused = ipc.ReloadVerdict(id=1, valid=False, revision="", previous_revision="r", errors=errors)
    api = Api(config_file, dict(ENV), answer=refused)
    response = api.call("POST", "/admin/v1/config/reload", b"{}")
    error = _json(response)["error"]
    assert response[0] == 422
    assert error["code"] == "config_invalid"
    assert error["message"] == "config is invalid; the running config stays:\n" + "\n".join(errors)
    assert _json(api.call("GET", "/admin/v1/status"))["last_reload"] is None


def test_reload_is_503_when_the_supervisor_cannot_be_reached(config_file: Path) -> None:
    api = Api(config_file, dict(ENV), answer="unavailable")
    response = api.call("POST", "/admin/v1/config/reload")
    assert response[0] == 503
    assert _json(response)["error"]["code"] == "supervisor_unavailable"


def test_a_reload_asked_by_signal_is_202_without_a_revision(config_file: Path) -> None:
    api = Api(config_file, dict(ENV), answer="signal")
    response = api.call("POST", "/admin/v1/config/reload")
    assert response[0] == 202
    assert (_json(response)["revision"], _json(response)["delivered_via"]) == (None, "signal")


def test_reload_loads_no_config_in_the_control_process(api: Api) -> None:
    def loader(*args: object, **kwargs: object) -> None:
        raise AssertionError("the supervisor alone loads the config file")

    api.api = AdminApi(api.state, ask_reload=api._ask, loader=loader)  # type: ignore[arg-type]
    body = orjson.dumps({"config": CONFIG, "format": "toml"})
    assert api.call("POST", "/admin/v1/config/reload", body)[0] == 202


def test_reload_with_the_running_files_text_is_applied(api: Api) -> None:
    body = orjson.dumps({"config": CONFIG, "format": "toml"})
    response = api.call("POST", "/admin/v1/config/reload", body)
    assert response[0] == 202
    assert api.asks == 1


def test_reload_with_text_other_than_the_running_file_is_409_and_nothing_is_asked(api: Api) -> None:
    body = orjson.dumps({"config": CONFIG + "\n[telemetry]\nservice_name = \"other\"\n", "format": "toml"})
    response = api.call("POST", "/admin/v1/config/reload", body)
    error = _json(response)["error"]
    assert response[0] == 409
    assert error["code"] == "config_mismatch"
    assert "edit that file" in error["message"]
    assert api.asks == 0


def test_reload_with_the_running_text_in_another_format_is_409(api: Api) -> None:
    body = orjson.dumps({"config": CONFIG, "format": "caddyfile"})
    response = api.call("POST", "/admin/v1/config/reload", body)
    assert response[0] == 409
    assert _json(response)["error"]["param"] == "format"
    assert api.asks == 0


def test_reload_refuses_a_file_other_than_the_running_one(api: Api, tmp_path: Path) -> None:
    other = tmp_path / "other.toml"
    other.write_text(CONFIG)
    response = api.call("POST", "/admin/v1/config/reload", orjson.dumps({"path": str(other)}))
    assert response[0] == 400
    assert _json(response)["error"]["param"] == "path"
    assert api.asks == 0


def test_reload_refuses_a_path_even_when_it_names_the_running_file(api: Api) -> None:
    body = orjson.dumps({"path": str(api.state.config_path)})
    response = api.call("POST", "/admin/v1/config/reload", body)
    assert response[0] == 400
    assert _json(response)["error"]["param"] == "path"
    assert api.asks == 0


# --------------------------------------------------------------------------- drain


def test_drain_post_get_delete_cycle_notifies_workers_on_changes_only(api: Api) -> None:
    assert _json(api.call("GET", "/admin/v1/drain"))["draining"] is False
    assert _json(api.call("POST", "/admin/v1/drain"))["draining"] is True
    api.call("POST", "/admin/v1/drain")
    got = _json(api.call("GET", "/admin/v1/drain"))
    assert got["draining"] is True and got["since"] is not None
    assert _json(api.call("DELETE", "/admin/v1/drain")) == {"draining": False, "since": None}
    assert api.drains == [True, False]


def test_validate_accepts_caddyfile_text(api: Api) -> None:
    caddyfile = ':8080 {\n\trespond /healthz "ok" 200\n}\n'
    result = _json(
        api.call(
            "POST",
            "/admin/v1/config/validate",
            orjson.dumps({"config": caddyfile, "format": "caddyfile"}),
        )
    )
    assert result["valid"] is True, result
    assert result["format"] == "caddyfile"
    assert (result["summary"]["listen"], result["summary"]["routes"]) == ([":8080"], 1)


def test_validate_reports_caddyfile_errors_with_positions(api: Api) -> None:
    caddyfile = ":8080 {\n\tno_such_directive 1\n}\n"
    result = _json(
        api.call(
            "POST",
            "/admin/v1/config/validate",
            orjson.dumps({"config": caddyfile, "format": "caddyfile"}),
        )
    )
    assert result["valid"] is False
    [diag] = result["diagnostics"]
    assert (diag["file"], diag["line"]) == ("<request>.caddyfile", 2)
    assert "no_such_directive" in diag["message"]
