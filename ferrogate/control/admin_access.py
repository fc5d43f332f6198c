"""Who may use the admin API, from where: the checks every admin request passes first.

The admin API can drain the node and reload its config, so it is guarded against
three kinds of caller besides the operator:

* a web page the operator has open (a cross-site ``fetch``/form POST to
  ``127.0.0.1:2019``): any ``Origin`` not explicitly allowed is refused, and writes
  need ``Content-Type: application/json``, which a page cannot send cross-site
  without a CORS preflight we never answer;
* DNS rebinding (a hostile name that resolves to 127.0.0.1): the ``Host`` must be
  an IP literal, ``localhost`` or a configured name;
* anyone on the network reaching ``/admin`` through the public port: those
  requests always need credentials, whatever the config.

Credentials are the admin token (``admin.token_env``) or a virtual key holding
``admin.read`` (reads) or ``admin.write`` (writes). Without either configured, only
the loopback admin listener is open, as a development default.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Iterable, Mapping

from ferrogate.config.model import ApiKey, Config
from ferrogate.errors import GatewayError
from ferrogate.governance.authenticator import Authenticator, presented_key
from ferrogate.ipc import ADMIN_FORWARD_MARK as FORWARDED_MARK

Headers = list[tuple[bytes, bytes]]


OPEN_PATHS = frozenset(("/healthz", "/readyz"))
METRICS_PATH = "/metrics"
# The dashboard's own files: static, holding no data (it asks for the token, then calls the API
# with it), so they load without credentials, also through the public port.
DASHBOARD_PATHS = frozenset(("/admin", "/admin/", "/admin/dashboard.js", "/admin/dashboard.css"))
"""Probes reach these on the admin listener without credentials."""

# Methods that change something: they need admin.write and a JSON content type. Any other
# method is checked as a read and then answered 405 by the router (TRACE, OPTIONS, ...).
_WRITE_METHODS = frozenset(("POST", "PUT", "PATCH", "DELETE"))
# Writes that carry a body. DELETE carries none, and no page can send it cross-site without a
# preflight (which the admin API never grants), so it needs no content type: a migrating
# operator's `curl -X DELETE` works as written.
_BODY_METHODS = frozenset(("POST", "PUT", "PATCH"))


class AdminAccess:
    """The admin API's gate, compiled once per config."""

    __slots__ = (
        "_env", "_keys", "_metrics_token", "_origins", "_public_hosts", "_token", "_token_required", "hosts",
        "open_locally",
    )

    def __init__(self, config: Config, env: Mapping[str, str]) -> None:
        admin = config.admin
        self._env = env
        self._token_required = admin.token_env is not None
        value = env.get(admin.token_env) if admin.token_env else None
        self._token = value.encode() if value else None
        metrics_env = config.telemetry.metrics_token_env
        metrics_token = env.get(metrics_env) if metrics_env else None
        self._metrics_token = metrics_token.encode() if metrics_token else None
        self._keys = Authenticator(config.api_keys, env) if config.api_keys else None
        self._origins = frozenset(o.rstrip("/").lower() for o in admin.allowed_origins)
        self.hosts = frozenset(h.lower() for h in admin.hosts)
        site = _site_names(config)
        # None: the public site answers every host name, so a forwarded request's Host says
        # nothing a rebinding page could abuse (and forwarded requests need credentials anyway).
        self._public_hosts = None if site is None else self.hosts | site
        # Neither a token nor keys: the loopback admin listener is open (said at start).
        self.open_locally = not self._token_required and self._keys is None

    def use_keys(self, api_keys: list[ApiKey]) -> None:
        """The keys that may authenticate here (the config's and the API's), after a change.
        Whether the loopback listener is open stays what the config file made it: creating a
        key over an open admin API must not lock its operator out."""
        self._keys = Authenticator(api_keys, self._env) if api_keys else None

    def check(self, method: str, path: str, headers: Headers) -> str:
        """Raise the GatewayError that refuses this request, or say who makes it (for audit
        events): ``admin-token``, ``key:<id>``, or ``local`` (an open loopback listener)."""
        forwarded = header_value(headers, FORWARDED_MARK) is not None
        origin = header_value(headers, b"origin")
        host = header_value(headers, b"host")
        if origin is not None and not self._origin_allowed(origin, host):
            raise GatewayError(403, "cross-origin requests to the admin API are refused", code="origin_not_allowed")
        allowed_names = self._public_hosts if forwarded else self.hosts
        # No Host at all (HTTP/1.0 tools) cannot be a rebinding browser, which always sends one.
        if host is not None and allowed_names is not None and not _host_allowed(host.decode("latin-1"), allowed_names):
            raise GatewayError(
                421,
                "the admin API answers only to IP addresses, localhost and configured host names",
                code="host_not_allowed",
            )
        write = method in _WRITE_METHODS
        if path == METRICS_PATH:
            return self._metrics(headers, forwarded)
        if not write and path in DASHBOARD_PATHS:
            return "anonymous"
        if not forwarded and path in OPEN_PATHS:
            return "local"
        if not forwarded and self.open_locally:
            return "local"
        return self._authenticate(headers, "admin.write" if write else "admin.read", forwarded)

    def _metrics(self, headers: Headers, forwarded: bool) -> str:
        """Scrapes: open on the admin listener unless a metrics token is configured; through
        the public port (only forwarded with ``metrics_public``) always with the token."""
        if self._metrics_token is None:
            if forwarded:
                raise GatewayError(404, "no admin endpoint at /metrics", code="not_found")
            return "scraper"
        auth = header_value(headers, b"authorization")
        given = auth[7:].strip() if auth is not None and auth[:7].lower() == b"bearer " else b""
        if not hmac.compare_digest(given, self._metrics_token):
            raise GatewayError(
                401, "/metrics needs the metrics bearer token", code="invalid_metrics_token",
                headers=((b"www-authenticate", b"Bearer"),),
            )
        return "scraper"

    def _origin_allowed(self, origin: bytes, host: bytes | None) -> bool:
        """A listed origin, or the page's own (the dashboard calling the API it came from: the
        Host check below already keeps a rebound name out, so same-origin means ours)."""
        seen = origin.decode("latin-1").rstrip("/").lower()
        if seen in self._origins:
            return True
        if host is None:
            return False
        own = host.decode("latin-1").lower()
        return seen in (f"http://{own}", f"https://{own}")

    def _authenticate(self, headers: Headers, scope: str, forwarded: bool) -> str:
        auth = header_value(headers, b"authorization")
        token = presented_key(auth, header_value(headers, b"x-api-key"))
        if token is None:
            hint = "" if self._token_required or self._keys is not None else (
                " (configure admin.token_env or a key with that scope to use it through the public port)"
            )
            raise GatewayError(
                401,
                f"the admin API needs the admin token or an API key with {scope}{hint}",
                code="invalid_admin_token",
                headers=((b"www-authenticate", b"Bearer"),),
            )
        # The admin token counts only as a bearer token; x-api-key carries virtual keys.
        bearer = auth is not None and auth[:7].lower() == b"bearer "
        if bearer and self._token is not None and hmac.compare_digest(token, self._token):
            return "admin-token"
        if self._keys is not None:
            try:
                return "key:" + self._keys.check(token, scope).id
            except GatewayError as err:
                if err.status != 401:
                    raise  # a valid key without the scope: 403 naming it
        raise GatewayError(
            401,
            f"invalid admin token (send the admin token or an API key with {scope})",
            code="invalid_admin_token",
            headers=((b"www-authenticate", b"Bearer"),),
        )


def require_json(method: str, headers: Headers) -> None:
    """415 for a write with a body but without ``Content-Type: application/json``: no cross-site
    form or simple request can send it, so a write that has it comes from a page that passed
    CORS (none may). The router calls it once the method is known to be served (an unserved one
    gets 405)."""
    if method not in _BODY_METHODS:
        return
    ctype = header_value(headers, b"content-type") or b""
    if ctype.split(b";", 1)[0].strip().lower() != b"application/json":
        raise GatewayError(415, "admin writes need Content-Type: application/json", code="unsupported_media_type")


def header_value(headers: Headers, name: bytes) -> bytes | None:
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


def _host_allowed(host: str, names: Iterable[str]) -> bool:
    """An IP literal or localhost (any port), or one of ``names``."""
    name = host.strip().lower()
    if name.startswith("["):
        end = name.find("]")
        literal = name[1:end] if end > 0 else ""
        try:
            ipaddress.IPv6Address(literal)
        except ValueError:
            return False
        return True
    name = name.rpartition(":")[0] if ":" in name else name
    if name == "localhost":
        return True
    try:
        ipaddress.IPv4Address(name)
    except ValueError:
        return name in names
    return True


def _site_names(config: Config) -> frozenset[str] | None:
    """Host names the public site answers to (route hosts and ACME domains), or None when it
    answers any name: a route without a host matcher, or the AI endpoints (served on every host)."""
    if any(not route.hosts for route in config.routes) or (config.providers and config.models):
        return None
    names = {h.lower() for route in config.routes for h in route.hosts if "*" not in h}
    names.update(d.lower() for d in config.tls.acme.domains if "*" not in d)
    return frozenset(names)
