"""``reverse_proxy``: an ``[[upstreams]]`` entry per directive (named ``upstream-N``).

Supported as in Caddy: several upstreams (arguments and ``to``), ``lb_policy``,
``header_up``/``header_down`` (``Name value`` set, ``+Name value`` add, ``-Name``
delete), passive health (``fail_duration``, ``max_fails``), ``flush_interval``
(accepted; responses always stream) and ``transport http { dial_timeout
response_header_timeout keepalive keepalive_idle_conns tls tls_trusted_ca_certs
tls_server_name tls_insecure_skip_verify }``.
"""

from __future__ import annotations

from typing import Any

from ferrogate.config.caddyfile.lexer import Token
from ferrogate.config.caddyfile.parser import Segment
from ferrogate.config.caddyfile.values import AdaptError, Builder, fail, parse_duration

_LB_POLICIES = ("round_robin", "least_conn", "first", "random")


def header_op(b: Builder, toks: list[Token], directive: str) -> dict[str, str]:
    """``Name value`` (set), ``+Name value`` (add), ``-Name`` (delete)."""
    name_tok = toks[0]
    name = name_tok.text
    if name.startswith("-"):
        if len(toks) != 1:
            raise fail(toks[1], f"{directive}: deleting `{name[1:]}` takes no value")
        return {"action": "delete", "name": name[1:]}
    action = "add" if name.startswith("+") else "set"
    if action == "add":
        name = name[1:]
    if name.startswith(("?", ">")) or len(toks) == 3:
        raise fail(name_tok, f"{directive}: only set (`Name value`), add (`+Name value`) and delete (`-Name`) are supported")
    if len(toks) != 2:
        raise fail(name_tok, f"{directive}: `{name}` needs a value")
    if not name:
        raise fail(name_tok, f"{directive}: missing header name")
    return {"action": action, "name": name, "value": b.text_keeping_env(toks[1])}


class ReverseProxyAdapter:
    def __init__(self, b: Builder) -> None:
        self.b = b
        self._count = 0

    def __call__(self, seg: Segment, targets: list[Token]) -> str:
        """Add an upstream for this directive and return its name."""
        upstream: dict[str, Any] = {"urls": []}
        targets = list(targets)
        request_headers: list[dict[str, str]] = []
        response_headers: list[dict[str, str]] = []
        use_tls = False
        health: dict[str, Any] = {}
        for line in seg.block or []:
            name = line.name.text
            try:
                if name == "to":
                    if not line.args:
                        raise fail(line.name, "`to` needs at least one upstream")
                    targets += line.args
                elif name == "lb_policy":
                    policy = self.b.one_arg(line)
                    if policy.text not in _LB_POLICIES:
                        raise fail(policy, f"lb_policy `{policy.shown}` is not supported (supported: {', '.join(_LB_POLICIES)})")
                    upstream["lb_policy"] = policy.text
                elif name in ("header_up", "header_down"):
                    if not line.args:
                        raise fail(line.name, f"`{name}` needs a header field")
                    op = header_op(self.b, line.args, name)
                    (request_headers if name == "header_up" else response_headers).append(op)
                elif name == "transport":
                    use_tls = self._transport(line, upstream) or use_tls
                elif name in ("fail_duration", "max_fails"):
                    tok = self.b.one_arg(line)
                    if name == "max_fails":
                        health["max_fails"] = self.b.scalar(int, tok, name)
                    else:
                        health["cooldown_secs"] = self._duration(tok, name)
                elif name == "flush_interval":
                    self.b.one_arg(line)  # responses are always streamed as they arrive
                else:
                    raise fail(line.name, f"unknown subdirective `{name}` in reverse_proxy")
            except AdaptError as exc:
                self.b.errors.append(exc.diagnostic)
        if not targets:
            raise fail(seg.name, "`reverse_proxy` needs at least one upstream address")
        upstream["urls"] = [self._upstream_url(tok, use_tls) for tok in targets]
        if request_headers:
            upstream["request_headers"] = request_headers
        if response_headers:
            upstream["response_headers"] = response_headers
        if health:
            upstream["health"] = health
        self._count += 1
        name = f"upstream-{self._count}"
        upstream = {"name": name, **upstream}
        self.b.append("upstreams", upstream, seg.name)
        return name

    def _transport(self, line: Segment, upstream: dict[str, Any]) -> bool:
        if len(line.args) != 1 or line.args[0].text != "http":
            raise fail(line.args[0] if line.args else line.name, "only `transport http` is supported")
        use_tls = False
        durations = {"dial_timeout": "connect_timeout_secs", "response_header_timeout": "first_byte_timeout_secs", "keepalive": "keepalive_idle_secs"}
        for sub in line.block or []:
            name = sub.name.text
            try:
                if name in durations:
                    upstream[durations[name]] = self._duration(self.b.one_arg(sub), name)
                elif name == "tls":
                    use_tls = True
                elif name == "tls_trusted_ca_certs":
                    upstream["ca_file"] = self.b.text(self.b.one_arg(sub))
                    use_tls = True
                elif name == "tls_server_name":
                    upstream["tls_server_name"] = self.b.text(self.b.one_arg(sub))
                    use_tls = True
                elif name == "tls_insecure_skip_verify":
                    upstream["tls_insecure_skip_verify"] = True
                    use_tls = True
                elif name == "keepalive_idle_conns":
                    upstream["max_idle_conns"] = self.b.scalar(int, self.b.one_arg(sub), name)
                else:
                    raise fail(sub.name, f"unknown subdirective `{name}` in transport http")
            except AdaptError as exc:
                self.b.errors.append(exc.diagnostic)
        return use_tls

    def _duration(self, tok: Token, name: str) -> float:
        secs = parse_duration(self.b.text(tok))
        if secs is None:
            raise fail(tok, f"{name}: `{tok.shown}` is not a duration (e.g. 30s, 5m, 1h30m)")
        return secs

    def _upstream_url(self, tok: Token, use_tls: bool) -> str:
        text = self.b.text(tok)
        scheme = "https" if use_tls else "http"
        for candidate in ("http://", "https://"):
            if text.startswith(candidate):
                scheme, text = candidate[:-3], text[len(candidate) :]
                if use_tls:
                    scheme = "https"
        if "://" in text:
            raise fail(tok, f"upstream `{tok.shown}`: only http:// and https:// upstreams are supported")
        if "/" in text:
            raise fail(tok, f"upstream `{tok.shown}`: upstream addresses take only scheme, host and port")
        if text.startswith(":"):
            text = "127.0.0.1" + text
        return f"{scheme}://{text}"
