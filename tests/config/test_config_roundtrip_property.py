"""Property tests: generated Caddyfiles adapt to the model the generator meant, and
Config -> TOML -> Config is the identity (so `adapt` output always loads back equal)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ferrogate.config.emit import emit_toml
from ferrogate.config.load import load
from ferrogate.config.model import (
    ApiKey,
    Config,
    Fallback,
    HeaderOp,
    Limits,
    Model,
    Provider,
    Reliability,
    Respond,
    Route,
    Telemetry,
    Upstream,
)
from ferrogate.config.toml import parse_toml

NAME = st.from_regex(r"[a-z][a-z0-9-]{0,8}", fullmatch=True)
# Text that is safe inside a Caddyfile double-quoted token (placeholders need braces).
TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="{}\r"), max_size=20)
PRICE = st.decimals(min_value=0, max_value=1000, places=3, allow_nan=False, allow_infinity=False)
CAPS = st.lists(st.sampled_from(["chat", "streaming", "tools", "vision", "embeddings", "json_schema"]), min_size=1, max_size=4, unique=True)
SCOPES = st.lists(st.sampled_from(["models.read", "chat.completions", "embeddings.create", "tools.read"]), min_size=1, max_size=3, unique=True)
HEADER_NAME = st.from_regex(r"X-[A-Za-z][A-Za-z0-9-]{0,8}", fullmatch=True)
PATH = st.from_regex(r"/[a-z]{1,6}", fullmatch=True)


def q(text: str) -> str:
    """A Caddyfile double-quoted token."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass
class Generated:
    caddyfile: str
    providers: list[Provider] = field(default_factory=list)
    models: list[Model] = field(default_factory=list)
    api_keys: list[ApiKey] = field(default_factory=list)
    routes: list[Route] = field(default_factory=list)
    upstreams: list[Upstream] = field(default_factory=list)


# Named functions, not lambdas: hypothesis describes a lambda by parsing this file's source,
# which CPython 3.11 can fail deep in a run ("AST constructor recursion depth mismatch").


def _no_v_path(ps: list[str]) -> bool:
    return "/v" not in ps


@st.composite
def caddyfiles(draw: st.DrawFn) -> Generated:
    provider_names = draw(st.lists(NAME, min_size=1, max_size=3, unique=True))
    providers = [Provider(name=n, kind="mock") for n in provider_names]
    lines = ["\tai_gateway {"]
    for p in providers:
        lines += [f"\t\tprovider {p.name} {{", "\t\t\tkind mock", "\t\t}"]
    models: list[Model] = []
    for name in draw(st.lists(NAME, max_size=3, unique=True)):
        provider = draw(st.sampled_from(provider_names))
        target = draw(NAME)
        caps = draw(CAPS)
        price = draw(st.none() | PRICE)
        window = draw(st.none() | st.integers(1, 10**6))
        strategy = draw(st.sampled_from(["priority", "weighted", "lowest_cost"]))
        fallbacks = [
            Fallback(provider=draw(st.sampled_from(provider_names)), provider_model=draw(NAME), priority=draw(st.integers(0, 9)), weight=draw(st.integers(0, 9)))
            for _ in range(draw(st.integers(0, 2)))
        ]
        lines.append(f"\t\tmodel {name} -> {provider}:{target} {{")
        lines.append("\t\t\tcapabilities " + " ".join(caps))
        if price is not None:
            lines.append(f"\t\t\tinput_price_per_1m {price}")
        if window is not None:
            lines.append(f"\t\t\tcontext_window {window}")
        lines.append(f"\t\t\trouting_strategy {strategy}")
        for fb in fallbacks:
            lines += [f"\t\t\tfallback {fb.provider}:{fb.provider_model} {{", f"\t\t\t\tpriority {fb.priority}", f"\t\t\t\tweight {fb.weight}", "\t\t\t}"]
        lines.append("\t\t}")
        models.append(Model(name=name, provider=provider, provider_model=target, capabilities=caps, input_price_per_1m=price,
                            context_window=window, routing_strategy=strategy, fallbacks=fallbacks))
    keys: list[ApiKey] = []
    for i, key_id in enumerate(draw(st.lists(NAME, max_size=3, unique=True))):
        secret = f"sk-{i}-" + draw(st.from_regex(r"[A-Za-z0-9]{8,16}", fullmatch=True))
        scopes = draw(SCOPES)
        allowed = draw(st.lists(st.sampled_from([m.name for m in models]), max_size=2, unique=True)) if models else []
        limit = draw(st.none() | st.integers(1, 10_000))
        tenant = draw(st.none() | TEXT)
        lines += [f"\t\tapi_key {key_id} {{", f"\t\t\tkey {secret}", "\t\t\tscopes " + " ".join(scopes)]
        if allowed:
            lines.append("\t\t\tallowed_models " + " ".join(allowed))
        if limit is not None:
            lines.append(f"\t\t\trequest_limit_per_minute {limit}")
        if tenant is not None:
            lines.append(f"\t\t\ttenant {q(tenant)}")
        lines.append("\t\t}")
        keys.append(ApiKey(id=key_id, key=secret, scopes=scopes, allowed_models=allowed, request_limit_per_minute=limit, tenant=tenant))
    lines.append("\t}")

    # Generic routes, each under its own distinct path so the expected order is Caddy's
    # directive order: handle_path groups, then ai_gateway, then respond, then reverse_proxy.
    paths = draw(st.lists(PATH, min_size=0, max_size=4, unique=True).filter(_no_v_path))
    kinds = [draw(st.sampled_from(["respond", "proxy", "handle_path"])) for _ in paths]
    upstreams: list[Upstream] = []
    by_kind: dict[str, list[Route]] = {"handle_path": [], "respond": [], "proxy": []}
    for path, kind in zip(paths, kinds, strict=True):
        if kind == "respond":
            status = draw(st.sampled_from([200, 204, 404, 503]))
            body = draw(TEXT)
            lines.append(f"\trespond {path} {q(body)} {status}")
            by_kind["respond"].append(Route(paths=[path], respond=Respond(status=status, body=body)))
            continue
        name = f"upstream-{len(upstreams) + 1}"
        ports = draw(st.lists(st.integers(1, 65535), min_size=1, max_size=3))
        policy = draw(st.sampled_from(["round_robin", "least_conn", "first", "random"]))
        header = draw(st.none() | st.tuples(HEADER_NAME, TEXT))
        body_lines = [f"\t\tlb_policy {policy}"]
        request_headers = []
        if header is not None:
            body_lines.append(f"\t\theader_up {header[0]} {q(header[1])}")
            request_headers = [HeaderOp(action="set", name=header[0], value=header[1])]
        proxy = ["reverse_proxy " + " ".join(f"127.0.0.1:{p}" for p in ports) + " {", *body_lines, "\t}"]
        upstreams.append(Upstream(name=name, urls=[f"http://127.0.0.1:{p}" for p in ports], lb_policy=policy, request_headers=request_headers))
        if kind == "handle_path":
            lines += [f"\thandle_path {path}/* {{", "\t" + proxy[0].replace("reverse_proxy", "\treverse_proxy"), *("\t" + x for x in proxy[1:]), "\t}"]
            by_kind["handle_path"].append(Route(paths=[f"{path}/*"], strip_prefix=path, upstream=name))
        else:
            lines += [f"\treverse_proxy {path} " + proxy[0].removeprefix("reverse_proxy "), *proxy[1:]]
            by_kind["proxy"].append(Route(paths=[path], upstream=name))
    # Within one directive Caddy puts the longer (more specific) path first; sorted() is stable.
    for kind_routes in by_kind.values():
        kind_routes.sort(key=lambda r: -len(r.paths[0]))
    ai_route = Route(paths=["/v1/*"], ai_gateway=True)
    routes = [*by_kind["handle_path"], ai_route, *by_kind["respond"], *by_kind["proxy"]]
    text = ":8080 {\n" + "\n".join(lines) + "\n}\n"
    return Generated(text, providers, models, keys, routes, upstreams)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(generated=caddyfiles())
def test_generated_caddyfile_adapts_to_the_intended_model_and_round_trips(tmp_path: Path, generated: Generated) -> None:
    path = tmp_path / "Caddyfile"
    path.write_text(generated.caddyfile)
    cfg = load(path, env={}).config
    assert cfg.providers == generated.providers
    assert cfg.models == generated.models
    assert cfg.api_keys == generated.api_keys
    # Upstream numbering follows Caddy's sorted order, so compare upstreams and routes modulo names.
    def unnamed(ups: list[Upstream]) -> list[str]:
        return sorted(msgspec.json.encode(msgspec.structs.replace(u, name="")).decode() for u in ups)

    assert unnamed(cfg.upstreams) == unnamed(generated.upstreams)
    names = {u.name: tuple(u.urls) for u in cfg.upstreams}
    expected_names = {u.name: tuple(u.urls) for u in generated.upstreams}

    def shape(routes: list[Route], table: dict[str, tuple[str, ...]]) -> list[tuple[object, ...]]:
        return [(r.paths, r.strip_prefix, r.respond, r.ai_gateway, table.get(r.upstream or "")) for r in routes]

    assert shape(cfg.routes, names) == shape(generated.routes, expected_names)
    toml_path = tmp_path / "adapted.toml"
    toml_path.write_text(emit_toml(cfg))
    assert load(toml_path, env={}).config == cfg


FLOAT = st.floats(min_value=0.001, max_value=1e6, allow_nan=False, allow_infinity=False)
ANY_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=16)


@st.composite
def configs(draw: st.DrawFn) -> Config:
    routes = [
        Route(
            name=draw(st.none() | ANY_TEXT),
            hosts=draw(st.lists(NAME, max_size=2)),
            paths=draw(st.lists(PATH, max_size=2)),
            methods=draw(st.lists(st.sampled_from(["GET", "POST"]), max_size=2)),
            respond=Respond(status=draw(st.integers(100, 599)), body=draw(ANY_TEXT), headers=draw(st.dictionaries(ANY_TEXT, ANY_TEXT, max_size=2))),
            response_headers=[HeaderOp(action="add", name=draw(HEADER_NAME), value=draw(ANY_TEXT))],
        )
        for _ in range(draw(st.integers(0, 2)))
    ]
    providers = [
        Provider(name=n, kind=draw(st.sampled_from(["mock", "openai", "anthropic"])), base_url=draw(st.none() | ANY_TEXT),
                 headers=draw(st.dictionaries(ANY_TEXT, ANY_TEXT, max_size=2)), enabled=draw(st.booleans()))
        for n in draw(st.lists(NAME, max_size=2, unique=True))
    ]
    models = [
        Model(name=draw(NAME), provider=draw(NAME), provider_model=draw(ANY_TEXT), input_price_per_1m=draw(st.none() | PRICE),
              output_price_per_1m=draw(st.none() | PRICE), capabilities=draw(CAPS),
              fallbacks=[Fallback(provider=draw(NAME), provider_model=draw(ANY_TEXT), input_price_per_1m=draw(st.none() | PRICE))])
        for _ in range(draw(st.integers(0, 2)))
    ]
    return Config(
        listen=draw(st.lists(st.from_regex(r":[1-9][0-9]{0,3}", fullmatch=True), min_size=1, max_size=2)),
        limits=Limits(max_header_bytes=draw(st.integers(1, 10**9)), header_timeout_secs=draw(FLOAT)),
        telemetry=Telemetry(access_log=draw(st.sampled_from(["off", "error", "sampled", "all"])), service_name=draw(ANY_TEXT),
                            otlp_endpoint=draw(st.none() | ANY_TEXT)),
        reliability=Reliability(provider_dispatch_max_retries=draw(st.integers(0, 10)), provider_circuit_breaker_cooldown_secs=draw(FLOAT)),
        routes=routes,
        providers=providers,
        models=models,
        api_keys=[ApiKey(id=draw(ANY_TEXT), key=draw(ANY_TEXT), scopes=draw(SCOPES), cache_enabled=draw(st.none() | st.booleans()))],
    )


@settings(max_examples=100, deadline=None)
@given(config=configs())
def test_config_to_toml_to_config_is_the_identity(config: Config) -> None:
    again, _ = parse_toml(emit_toml(config), "emitted.toml")
    assert again == config
