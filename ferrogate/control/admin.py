"""The admin API, as a function of (method, target, headers, body) → (status, headers, body).

Keeping the API free of sockets makes every endpoint unit-testable; the
control process wires :meth:`AdminApi.handle` to the fast-path server with
:func:`exchange_handler`. Error bodies come only from
:func:`ferrogate.errors.render`; no response carries a secret (the admin token,
provider keys and virtual keys are never read into a view).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Literal

import msgspec

from ferrogate._fastpath.api import Exchange, Handler
from ferrogate.config.diagnostics import ConfigError, Diagnostic
from ferrogate.config.load import Loaded, detect_format, load
from ferrogate.config.model import Config
from ferrogate.control.admin_access import AdminAccess, require_json
from ferrogate.control.admin_objects import ObjectsApi
from ferrogate.control.admin_tools import ToolsApi
from ferrogate.control.admin_usage import UsageApi
from ferrogate.control.dashboard_files import DashboardFiles
from ferrogate.control.object_manager import API_KEY
from ferrogate.control.openapi import render as render_openapi
from ferrogate.control.provider_health import providers_view
from ferrogate.control.state import ControlState
from ferrogate.control.views import (
    ConfigSource,
    ConfigSummary,
    DiagnosticView,
    ModelsView,
    ReloadAccepted,
    ValidateView,
)
from ferrogate.errors import GatewayError, render
from ferrogate.ipc import ReloadVerdict, config_revision

_log = logging.getLogger("ferrogate.control.admin")

Headers = list[tuple[bytes, bytes]]
AdminResponse = tuple[int, Headers, bytes]
ReloadAnswer = ReloadVerdict | Literal["signal", "unavailable"]
"""What asking the supervisor to reload gave: its verdict, a signal sent instead, or nothing."""
Loader = Callable[..., Loaded]
Endpoint = Callable[[bytes, bytes], Awaitable[AdminResponse]]

_VALIDATE_BUDGET_SECS = 10.0
_JSON_HEADERS: Headers = [(b"content-type", b"application/json"), (b"cache-control", b"no-store")]


# --------------------------------------------------------------------------- request bodies and views


# --------------------------------------------------------------------------- the API


class AdminApi:
    """Routes admin requests against :class:`ControlState`.

    ``ask_reload()`` asks the supervisor to reload its config file and gives its
    verdict (the supervisor is the only process that loads it); ``on_drain_change(draining)``
    tells the workers; ``loader`` checks the config text ``config/validate`` is sent.
    All are injected so tests need no processes.
    """

    __slots__ = ("_access", "_ask_reload", "_dashboard", "_loader", "_objects", "_on_drain_change", "_openapi_json", "_routes", "_state", "_tools")

    def __init__(
        self,
        state: ControlState,
        *,
        ask_reload: Callable[[], Awaitable[ReloadAnswer]],
        on_drain_change: Callable[[bool], None] = lambda draining: None,
        loader: Loader = load,
        objects: ObjectsApi | None = None,
        usage: UsageApi | None = None,
        tools: ToolsApi | None = None,
    ) -> None:
        self._state = state
        self._tools = tools
        self._objects = objects
        self._openapi_json: bytes | None = None
        self._dashboard = DashboardFiles()
        self._ask_reload = ask_reload
        self._on_drain_change = on_drain_change
        self._loader = loader
        self._access = AdminAccess(state.config, state.env)
        if objects is not None:  # keys made over the API may use the admin API too (admin.* scopes)
            objects.manager.on_keys_change = self._access.use_keys
            self._access.use_keys([*state.config.api_keys, *objects.manager.values(API_KEY)])
        self._routes: dict[str, dict[str, Endpoint]] = {
            "/healthz": {"GET": self._healthz},
            "/readyz": {"GET": self._readyz},
            "/admin/v1/status": {"GET": self._status},
            "/admin/v1/providers": {"GET": self._providers},
            "/admin/v1/provider-health": {"GET": self._provider_health},
            "/admin/v1/openapi.json": {"GET": self._openapi},
            "/admin/v1/models": {"GET": self._models},
            "/admin": {"GET": self._dashboard_page},
            "/admin/dashboard.js": {"GET": self._dashboard_script},
            "/admin/dashboard.css": {"GET": self._dashboard_style},
            "/admin/v1/config/validate": {"POST": self._validate},
            "/admin/v1/config/reload": {"POST": self._reload},
            "/admin/v1/drain": {
                "GET": self._drain_get,
                "POST": self._drain_set,
                "DELETE": self._drain_clear,
            },
        }
        for api in (usage, tools):  # the records' routes and the MCP routes
            self._routes.update(api.routes() if api is not None else {})

    @property
    def open_locally(self) -> bool:
        """Whether the admin listener answers without credentials (no token, no keys)."""
        return self._access.open_locally

    @property
    def max_body_bytes(self) -> int:
        return self._state.config.admin.max_config_bytes + 4096

    async def handle(
        self, method: str, target: str, headers: Headers, body: bytes
    ) -> AdminResponse:
        path, _, query = target.partition("?")
        try:
            return await self._route(method.upper(), path, query.encode(), headers, body)
        except GatewayError as err:
            return render(err)
        except Exception:
            _log.exception("admin %s %s failed", method, path)
            return render(
                GatewayError(500, "internal error in the admin API", code="internal_error")
            )

    async def _route(
        self, method: str, path: str, query: bytes, headers: Headers, body: bytes
    ) -> AdminResponse:
        actor = self._access.check(method, path, headers)
        if self._objects is not None and self._objects.owns(path.rstrip("/")):
            return await self._objects.handle(method, path.rstrip("/"), query, headers, body, actor)
        if self._tools is not None and self._tools.owns(path) and method in ("GET", "HEAD"):
            return await self._tools.session(path)
        methods = self._routes.get(path.rstrip("/") or "/")
        if methods is None:
            raise GatewayError(404, f"no admin endpoint at {path}", code="not_found")
        endpoint = methods.get("GET" if method == "HEAD" else method)
        if endpoint is None:
            allow = ", ".join(sorted(methods)).encode()
            raise GatewayError(
                405,
                f"{method} is not allowed on {path}",
                code="method_not_allowed",
                headers=((b"allow", allow),),
            )
        require_json(method, headers)
        return await endpoint(query, body)

    # -- probes

    async def _healthz(self, query: bytes, body: bytes) -> AdminResponse:
        return _json(200, {"status": "ok"})

    async def _readyz(self, query: bytes, body: bytes) -> AdminResponse:
        ready, reason = self._state.readiness()
        if not ready:
            raise GatewayError(503, f"not ready: {reason}", code="not_ready")
        return _json(200, {"status": "ready", "reason": reason})

    async def _status(self, query: bytes, body: bytes) -> AdminResponse:
        return _json(200, self._state.status_view())

    async def _providers(self, query: bytes, body: bytes) -> AdminResponse:
        return _json(200, providers_view(self._state.config))

    async def _dashboard_page(self, query: bytes, body: bytes) -> AdminResponse:
        return self._dashboard.answer("index.html")

    async def _dashboard_script(self, query: bytes, body: bytes) -> AdminResponse:
        return self._dashboard.answer("dashboard.js")

    async def _dashboard_style(self, query: bytes, body: bytes) -> AdminResponse:
        return self._dashboard.answer("dashboard.css")

    async def _models(self, query: bytes, body: bytes) -> AdminResponse:
        return _json(200, ModelsView(models=list(self._state.config.models)))

    async def _openapi(self, query: bytes, body: bytes) -> AdminResponse:
        if self._openapi_json is None:  # built on first request (it depends on the code only)
            self._openapi_json = render_openapi().encode()
        return 200, list(_JSON_HEADERS), self._openapi_json

    async def _provider_health(self, query: bytes, body: bytes) -> AdminResponse:
        return _json(200, self._state.provider_health_view())

    # -- config

    async def _validate(self, query: bytes, body: bytes) -> AdminResponse:
        limit = self._state.config.admin.max_config_bytes
        if len(body) > limit + 4096:
            raise GatewayError(413, f"config text is larger than admin.max_config_bytes ({limit})", code="payload_too_large")
        source = _parse_source(body)
        if source.path is not None or source.config is None:
            raise GatewayError(
                400,
                "send the config text as 'config' (with 'format'): the admin API reads no file named in a request",
                code="invalid_request",
                param="config",
            )
        if len(source.config.encode()) > limit:
            raise GatewayError(413, f"config text is larger than admin.max_config_bytes ({limit})", code="payload_too_large")
        label = source.filename or {"toml": "<request>.toml", "caddyfile": "<request>.caddyfile", None: "<request>"}[source.format]
        if "/" in label or "\\" in label:
            raise GatewayError(400, "'filename' is a name, not a path", code="invalid_request", param="filename")
        root = self._state.config_path.absolute().parent
        # Parsing runs in a thread so a large or slow config never stalls the event loop
        # (which also serves health checks and the workers' IPC), within a time budget.
        job = asyncio.to_thread(
            self._loader, root / label, env=self._state.env, text=source.config, import_root=root
        )
        try:
            loaded = await asyncio.wait_for(job, _VALIDATE_BUDGET_SECS)
        except ConfigError as err:
            return _json(200, ValidateView(valid=False, source=label, diagnostics=_views(err.diagnostics, root)))
        except TimeoutError:
            raise GatewayError(
                503, f"validation took longer than {_VALIDATE_BUDGET_SECS:.0f} s", code="validation_timeout"
            ) from None
        return _json(
            200,
            ValidateView(
                valid=True,
                source=label,
                format=loaded.format,
                revision=config_revision(loaded.config),
                summary=_summary(loaded.config),
                warnings=_views(loaded.warnings, root),
            ),
        )

    async def _reload(self, query: bytes, body: bytes) -> AdminResponse:
        """Reload the running config file: the supervisor loads it and answers with its
        verdict, relayed here (422 with every error when it is invalid). A body may carry
        the config text the caller means to apply (``ferrogate reload --admin-url``): it
        must equal that file's content, or the answer is 409. No file named in a request
        is ever read."""
        source = _parse_source(body) if body.strip() else ConfigSource()
        if source.path is not None:
            raise GatewayError(
                400,
                "the admin API reads no file named in a request: send the config text as 'config'"
                " (with 'format'), or an empty body to reload the running config file",
                code="invalid_request",
                param="path",
            )
        running = self._state.config_path
        if source.config is not None or source.format is not None:
            await self._check_running_file(running, source)
        answer = await self._ask_reload()
        if answer == "unavailable":
            raise GatewayError(
                503,
                "the supervisor cannot be reached to apply the config",
                code="supervisor_unavailable",
            )
        if answer == "signal":
            self._state.note_reload_requested(None, running, None)
            accepted = ReloadAccepted(
                revision=None,
                previous_revision=self._state.revision,
                config_path=str(running),
                delivered_via="signal",
            )
            return _json(202, accepted)
        if not answer.valid:
            errors = "\n".join(answer.errors)
            raise GatewayError(
                422, f"config is invalid; the running config stays:\n{errors}", code="config_invalid"
            )
        self._state.note_reload_requested(answer.revision, running, answer.id)
        accepted = ReloadAccepted(
            revision=answer.revision,
            previous_revision=answer.previous_revision,
            config_path=str(running),
            delivered_via="ipc",
        )
        return _json(202, accepted)

    async def _check_running_file(self, running: Path, source: ConfigSource) -> None:
        """409 unless the text (and format) sent are those of the running config file."""
        try:
            current = await asyncio.to_thread(running.read_bytes)
        except OSError as exc:
            raise GatewayError(
                503, f"cannot read the running config file: {exc.strerror}", code="config_unreadable"
            ) from None
        if source.config is not None and current != source.config.encode():
            raise GatewayError(
                409,
                f"the config sent differs from the running config file ({running}); the gateway"
                " reloads its own file: edit that file and reload, or use a graceful upgrade",
                code="config_mismatch",
                param="config",
            )
        running_format = detect_format(running, current.decode("utf-8", "replace"))
        if source.format is not None and source.format != running_format:
            raise GatewayError(
                409,
                f"the config sent is {source.format}, the running config file ({running}) is {running_format}",
                code="config_mismatch",
                param="format",
            )

    # -- drain

    async def _drain_get(self, query: bytes, body: bytes) -> AdminResponse:
        return _json(200, self._state.drain_view())

    async def _drain_set(self, query: bytes, body: bytes) -> AdminResponse:
        return self._set_drain(True)

    async def _drain_clear(self, query: bytes, body: bytes) -> AdminResponse:
        return self._set_drain(False)

    def _set_drain(self, draining: bool) -> AdminResponse:
        if self._state.set_draining(draining):
            _log.info("node %s draining", "is now" if draining else "is no longer")
            self._on_drain_change(draining)
        return _json(200, self._state.drain_view())


def exchange_handler(api: AdminApi) -> Handler:
    """Adapt :meth:`AdminApi.handle` to the fast-path server's :class:`Exchange` contract."""

    async def handle(exchange: Exchange) -> None:
        request = exchange.request
        length = request.content_length
        if length is not None and length > api.max_body_bytes:
            # Refused before reading: no admin request needs more than a config's text.
            exchange.fail(GatewayError(413, "request body is larger than the admin API accepts", code="payload_too_large"))
            return
        body = await exchange.read_body()
        status, headers, payload = await api.handle(
            request.method.decode("latin-1"),
            request.target.decode("latin-1"),
            request.headers,
            body,
        )
        exchange.respond(status, headers, payload)

    return handle


# --------------------------------------------------------------------------- helpers

_ENCODER = msgspec.json.Encoder()


def _json(status: int, payload: object) -> AdminResponse:
    return status, list(_JSON_HEADERS), _ENCODER.encode(payload)


def _parse_source(body: bytes) -> ConfigSource:
    try:
        return msgspec.json.decode(body, type=ConfigSource)
    except msgspec.DecodeError as exc:
        raise GatewayError(
            400, f"request body must be a JSON object: {exc}", code="invalid_json"
        ) from None


def _views(diagnostics: list[Diagnostic], root: Path | None = None) -> list[DiagnosticView]:
    """Diagnostics with file names relative to the config directory (no server paths)."""
    prefix = f"{root}/" if root is not None else None
    return [
        DiagnosticView(
            file=d.file.removeprefix(prefix) if prefix else d.file, line=d.line, column=d.column, message=d.message
        )
        for d in diagnostics
    ]


def _summary(config: Config) -> ConfigSummary:
    return ConfigSummary(
        listen=list(config.listen),
        admin_listen=config.admin.listen,
        routes=len(config.routes),
        upstreams=len(config.upstreams),
        providers=len(config.providers),
        models=len(config.models),
        api_keys=len(config.api_keys),
        policies=len(config.policies),
        mcp_servers=len(config.mcp_servers),
    )
