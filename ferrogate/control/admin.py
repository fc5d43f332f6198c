"""The admin API, as a function of (method, target, headers, body) → (status, headers, body).

Keeping the API free of sockets makes every endpoint unit-testable; the
control process wires :meth:`AdminApi.handle` to the fast-path server with
:func:`exchange_handler`. Error bodies come only from
:func:`ferrogate.errors.render`; no response carries a secret (the admin token,
provider keys and virtual keys are never read into a view).
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Literal

import msgspec

from ferrogate._fastpath.api import Exchange, Handler
from ferrogate.config.diagnostics import ConfigError, Diagnostic
from ferrogate.config.load import Loaded, load
from ferrogate.config.model import Admin, Config
from ferrogate.control.provider_health import providers_view
from ferrogate.control.state import ControlState
from ferrogate.errors import GatewayError, render
from ferrogate.ipc import config_revision

_log = logging.getLogger("ferrogate.control.admin")

Headers = list[tuple[bytes, bytes]]
AdminResponse = tuple[int, Headers, bytes]
ReloadDelivery = Literal["ipc", "signal", "unavailable"]
Loader = Callable[..., Loaded]
Endpoint = Callable[[bytes, bytes], Awaitable[AdminResponse]]

_JSON_HEADERS: Headers = [(b"content-type", b"application/json"), (b"cache-control", b"no-store")]


# --------------------------------------------------------------------------- auth


class AdminAuth:
    """Bearer-token check for ``/admin/*``; fails closed when the token variable is unset."""

    __slots__ = ("_token", "required")

    def __init__(self, admin: Admin, env: Mapping[str, str]) -> None:
        self.required = admin.token_env is not None
        value = env.get(admin.token_env) if admin.token_env else None
        self._token = value.encode() if value else None
        if self.required and self._token is None:
            _log.warning(
                "admin.token_env %s is unset or empty: admin API refuses every request",
                admin.token_env,
            )

    def allows(self, headers: Headers) -> bool:
        if not self.required:
            return True
        if self._token is None:
            return False
        presented = _header(headers, b"authorization")
        if presented is None or presented[:7].lower() != b"bearer ":
            return False
        return hmac.compare_digest(presented[7:].strip(), self._token)


# --------------------------------------------------------------------------- request bodies and views


class ConfigSource(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Body of config/validate (text + format, or a path) and config/reload (nothing, or
    the running config's path: the supervisor re-reads its own file)."""

    config: str | None = None
    format: Literal["toml", "caddyfile"] | None = None
    path: str | None = None


class DiagnosticView(msgspec.Struct, frozen=True, kw_only=True):
    file: str
    line: int
    column: int
    message: str


class ConfigSummary(msgspec.Struct, frozen=True, kw_only=True):
    listen: list[str]
    admin_listen: str
    routes: int
    upstreams: int
    providers: int
    models: int
    api_keys: int
    policies: int
    mcp_servers: int


class ValidateView(msgspec.Struct, frozen=True, kw_only=True):
    valid: bool
    source: str
    format: str | None = None
    revision: str | None = None
    summary: ConfigSummary | None = None
    warnings: list[DiagnosticView] = []
    diagnostics: list[DiagnosticView] = []


class ReloadAccepted(msgspec.Struct, frozen=True, kw_only=True):
    status: Literal["accepted"] = "accepted"
    revision: str
    previous_revision: str
    config_path: str
    delivered_via: ReloadDelivery


# --------------------------------------------------------------------------- the API


class AdminApi:
    """Routes admin requests against :class:`ControlState`.

    ``notify_reload(path, revision)`` asks the supervisor to apply a config the
    API has validated and says how it was delivered; ``on_drain_change(draining)``
    tells the workers. Both are injected so tests need no processes.
    """

    __slots__ = ("_auth", "_loader", "_notify_reload", "_on_drain_change", "_routes", "_state")

    def __init__(
        self,
        state: ControlState,
        *,
        notify_reload: Callable[[Path, str, Config], ReloadDelivery],
        on_drain_change: Callable[[bool], None] = lambda draining: None,
        loader: Loader = load,
    ) -> None:
        self._state = state
        self._notify_reload = notify_reload
        self._on_drain_change = on_drain_change
        self._loader = loader
        self._auth = AdminAuth(state.config.admin, state.env)
        self._routes: dict[str, dict[str, Endpoint]] = {
            "/healthz": {"GET": self._healthz},
            "/readyz": {"GET": self._readyz},
            "/admin/v1/status": {"GET": self._status},
            "/admin/v1/providers": {"GET": self._providers},
            "/admin/v1/provider-health": {"GET": self._provider_health},
            "/admin/v1/config/validate": {"POST": self._validate},
            "/admin/v1/config/reload": {"POST": self._reload},
            "/admin/v1/drain": {
                "GET": self._drain_get,
                "POST": self._drain_set,
                "DELETE": self._drain_clear,
            },
        }

    def refresh_auth(self) -> None:
        """Re-read the token after the config was swapped."""
        self._auth = AdminAuth(self._state.config.admin, self._state.env)

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
        if path.startswith("/admin"):
            if not self._auth.allows(headers):
                raise GatewayError(
                    401,
                    "admin API requires a valid bearer token",
                    code="invalid_admin_token",
                    headers=((b"www-authenticate", b"Bearer"),),
                )
            if not self._auth.required and method not in ("GET", "HEAD") and _forwarded(headers):
                # Without a token the admin listener relies on being loopback-only; the
                # public port's /admin forward must not turn that into world-writable.
                raise GatewayError(
                    403,
                    "admin writes through the public listener need admin.token_env to be set",
                    code="admin_token_required",
                )
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

    async def _provider_health(self, query: bytes, body: bytes) -> AdminResponse:
        return _json(200, self._state.provider_health_view())

    # -- config

    async def _validate(self, query: bytes, body: bytes) -> AdminResponse:
        source = _parse_source(body)
        if (source.config is None) == (source.path is None):
            raise GatewayError(
                400, "give exactly one of 'config' (text) or 'path'", code="invalid_request"
            )
        if source.config is not None:
            name = {
                "toml": "<request>.toml",
                "caddyfile": "<request>.caddyfile",
                None: "<request>",
            }[source.format]
            label, kwargs = name, {"text": source.config}
        else:
            assert source.path is not None
            label, kwargs = source.path, {}
        try:
            loaded = self._loader(Path(label), env=self._state.env, **kwargs)
        except ConfigError as err:
            return _json(
                200, ValidateView(valid=False, source=label, diagnostics=_views(err.diagnostics))
            )
        return _json(
            200,
            ValidateView(
                valid=True,
                source=label,
                format=loaded.format,
                revision=config_revision(loaded.config),
                summary=_summary(loaded.config),
                warnings=_views(loaded.warnings),
            ),
        )

    async def _reload(self, query: bytes, body: bytes) -> AdminResponse:
        source = _parse_source(body) if body.strip() else ConfigSource()
        if source.config is not None:
            raise GatewayError(
                400,
                "reload applies a config file: give 'path' (or nothing for the running one)",
                code="invalid_request",
            )
        running = self._state.config_path
        path = Path(source.path) if source.path else running
        if path.absolute() != running.absolute():
            raise GatewayError(
                400,
                f"reload re-reads the running config file ({running}); edit it, or start a "
                "graceful upgrade to switch files",
                code="invalid_request",
                param="path",
            )
        try:
            loaded = self._loader(path, env=self._state.env)
        except ConfigError as err:
            raise GatewayError(
                422, f"config is invalid; the running config stays:\n{err}", code="config_invalid"
            ) from None
        revision = config_revision(loaded.config)
        delivered = self._notify_reload(path, revision, loaded.config)
        if delivered == "unavailable":
            raise GatewayError(
                503,
                "the supervisor cannot be reached to apply the config",
                code="supervisor_unavailable",
            )
        self._state.note_reload_requested(revision, path)
        previous = self._state.revision
        return _json(
            202,
            ReloadAccepted(
                revision=revision,
                previous_revision=previous,
                config_path=str(path),
                delivered_via=delivered,
            ),
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


def _header(headers: Headers, name: bytes) -> bytes | None:
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


def _forwarded(headers: Headers) -> bool:
    """Whether a worker forwarded this request from the public listener."""
    return _header(headers, b"x-forwarded-for") is not None


def _parse_source(body: bytes) -> ConfigSource:
    try:
        return msgspec.json.decode(body, type=ConfigSource)
    except msgspec.DecodeError as exc:
        raise GatewayError(
            400, f"request body must be a JSON object: {exc}", code="invalid_json"
        ) from None


def _views(diagnostics: list[Diagnostic]) -> list[DiagnosticView]:
    return [
        DiagnosticView(file=d.file, line=d.line, column=d.column, message=d.message)
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
