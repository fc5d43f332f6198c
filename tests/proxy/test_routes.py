"""Route matching, prefix rewriting, header edits and static responses, end to end."""

from __future__ import annotations

from collections.abc import Mapping

import httpx
import pytest

from ferrogate._fastpath.pool import PoolSet
from ferrogate.app import WorkerState, build_app
from ferrogate.proxy.placeholders import ProxyConfigError
from tests.proxy.gateway import gateway, make_config
from tests.proxy.upstreams import TestUpstream

pytestmark = pytest.mark.anyio


def routes_to(url: str, *routes: Mapping[str, object]) -> dict[str, object]:
    return {"upstreams": [{"name": "app", "urls": [url]}], "routes": list(routes)}


async def test_prefix_route_strips_and_adds_prefixes_keeping_the_query() -> None:
    async with TestUpstream() as up:
        cfg = routes_to(
            up.url,
            {"paths": ["/api/*"], "strip_prefix": "/api", "add_prefix": "/v2", "upstream": "app"},
        )
        async with gateway(make_config(**cfg)) as gw, httpx.AsyncClient(base_url=gw.url) as c:
            r = await c.get("/api/users/7?full=1")
            assert r.headers["x-path"] == "/v2/users/7?full=1"
            assert (await c.get("/api")).status_code == 404  # /api/* does not match /api


async def test_exact_path_and_catch_all_routes_are_tried_in_order() -> None:
    async with TestUpstream() as up:
        cfg = routes_to(
            up.url,
            {"paths": ["/healthz"], "respond": {"status": 200, "body": "ok"}},
            {"paths": ["*"], "upstream": "app"},
        )
        async with gateway(make_config(**cfg)) as gw, httpx.AsyncClient(base_url=gw.url) as c:
            r = await c.get("/healthz")
            assert (r.status_code, r.text) == (200, "ok")
            assert r.headers["content-type"] == "text/plain; charset=utf-8"
            assert (await c.get("/healthz/x")).headers["x-path"] == "/healthz/x"
        assert [q.target for q in up.requests] == [b"/healthz/x"]


async def test_path_matching_ignores_case_like_caddy() -> None:
    cfg = make_config(routes=[{"paths": ["/Docs/*"], "respond": {"status": 204}}])
    async with gateway(cfg) as gw, httpx.AsyncClient(base_url=gw.url) as c:
        assert (await c.get("/docs/a")).status_code == 204
        assert (await c.get("/DOCS/a")).status_code == 204


async def test_host_matcher_ignores_case_and_port() -> None:
    cfg = make_config(
        routes=[
            {"hosts": ["API.example.com"], "respond": {"status": 200, "body": "api"}},
            {"hosts": ["*.example.com"], "respond": {"status": 200, "body": "wild"}},
            {"respond": {"status": 200, "body": "default"}},
        ]
    )
    async with gateway(cfg) as gw, httpx.AsyncClient(base_url=gw.url) as c:
        assert (await c.get("/", headers={"host": "api.EXAMPLE.com:8443"})).text == "api"
        assert (await c.get("/", headers={"host": "www.example.com"})).text == "wild"
        assert (await c.get("/", headers={"host": "a.b.example.com"})).text == "default"
        assert (await c.get("/", headers={"host": "example.org"})).text == "default"


async def test_method_matcher() -> None:
    cfg = make_config(
        routes=[{"methods": ["post"], "paths": ["/m"], "respond": {"status": 201, "body": "made"}}]
    )
    async with gateway(cfg) as gw, httpx.AsyncClient(base_url=gw.url) as c:
        assert (await c.post("/m")).status_code == 201
        assert (await c.get("/m")).status_code == 404


async def test_respond_route_sends_configured_headers_and_status() -> None:
    cfg = make_config(
        routes=[
            {
                "respond": {
                    "status": 418,
                    "body": "{}",
                    "headers": {"Content-Type": "application/json"},
                },
                "response_headers": [{"action": "set", "name": "X-Static", "value": "yes"}],
            }
        ]
    )
    async with gateway(cfg) as gw, httpx.AsyncClient(base_url=gw.url) as c:
        r = await c.get("/")
    assert (r.status_code, r.text, r.headers["content-type"]) == (418, "{}", "application/json")
    assert r.headers["x-static"] == "yes"


async def test_header_up_set_add_delete_with_placeholders() -> None:
    async with TestUpstream() as up:
        route = {
            "upstream": "app",
            "request_headers": [
                {
                    "action": "set",
                    "name": "X-Orig",
                    "value": "{http.request.method} {http.request.uri}",
                },
                {"action": "set", "name": "X-Host", "value": "{http.request.host}"},
                {"action": "set", "name": "X-Remote", "value": "{http.request.remote.host}"},
                {"action": "set", "name": "X-Ua", "value": "ua={http.request.header.User-Agent}"},
                {"action": "add", "name": "X-Multi", "value": "two"},
                {"action": "set", "name": "X-Env", "value": "{env.TEAM}"},
                {"action": "delete", "name": "X-Secret"},
                {"action": "delete", "name": "X-Debug-*"},
            ],
        }
        cfg = make_config(**routes_to(up.url, route))
        async with (
            gateway(cfg, env={"TEAM": "blue"}) as gw,
            httpx.AsyncClient(base_url=gw.url) as c,
        ):
            await c.get(
                "/p?q=1",
                headers={
                    "host": "Shop.Example:8080",
                    "user-agent": "t/1",
                    "x-multi": "one",
                    "x-secret": "s",
                    "x-debug-a": "1",
                    "x-debug-b": "2",
                },
            )
        seen = up.requests[0]
        assert seen.header(b"x-orig") == b"GET /p?q=1"
        assert seen.header(b"x-host") == b"shop.example"
        assert seen.header(b"x-remote") == b"127.0.0.1"
        assert seen.header(b"x-ua") == b"ua=t/1"
        assert seen.header_all(b"x-multi") == [b"one", b"two"]
        assert seen.header(b"x-env") == b"blue"
        assert seen.header(b"x-secret") is None
        assert seen.header(b"x-debug-a") is None and seen.header(b"x-debug-b") is None
        assert seen.header(b"host") == b"Shop.Example:8080"  # the client's Host is kept


async def test_header_up_can_send_the_upstream_host() -> None:
    async with TestUpstream() as up:
        route = {
            "upstream": "app",
            "request_headers": [{"action": "set", "name": "Host", "value": "{upstream_hostport}"}],
        }
        async with (
            gateway(make_config(**routes_to(up.url, route))) as gw,
            httpx.AsyncClient(base_url=gw.url) as c,
        ):
            await c.get("/")
        assert up.requests[0].header(b"host") == f"127.0.0.1:{up.port}".encode()


async def test_header_down_edits_the_response() -> None:
    async with TestUpstream() as up:
        cfg = routes_to(
            up.url,
            {
                "upstream": "app",
                "response_headers": [
                    {"action": "delete", "name": "X-Path"},
                    {"action": "set", "name": "Cache-Control", "value": "no-store"},
                ],
            },
        )
        cfg["upstreams"][0]["response_headers"] = [  # type: ignore[index]
            {"action": "add", "name": "X-Served-By", "value": "app"}
        ]
        async with gateway(make_config(**cfg)) as gw, httpx.AsyncClient(base_url=gw.url) as c:
            r = await c.get("/x")
        assert "x-path" not in r.headers
        assert r.headers["cache-control"] == "no-store"
        assert r.headers["x-served-by"] == "app"


@pytest.mark.parametrize(
    ("route", "message"),
    [
        ({"upstream": "nope"}, "unknown upstream"),
        (
            {
                "upstream": "app",
                "request_headers": [{"action": "set", "name": "X", "value": "{bogus}"}],
            },
            "unknown placeholder",
        ),
        (
            {
                "upstream": "app",
                "request_headers": [{"action": "set", "name": "X", "value": "{env.MISSING}"}],
            },
            "MISSING is not set",
        ),
        (
            {
                "upstream": "app",
                "request_headers": [{"action": "set", "name": "Bad Name", "value": "v"}],
            },
            "invalid header name",
        ),
        ({"paths": ["nope"], "upstream": "app"}, "must start with '/'"),
        ({"upstream": "app", "respond": {"status": 200}}, "exactly one"),
    ],
)
def test_bad_routes_are_config_errors_naming_the_route(
    route: dict[str, object], message: str
) -> None:
    cfg = make_config(**routes_to("http://127.0.0.1:9", route))
    with pytest.raises(ProxyConfigError, match=message) as info:
        build_app(cfg, WorkerState(pools=PoolSet()), env={})
    assert "routes[0]" in str(info.value)


def test_upstream_url_with_a_path_is_rejected() -> None:
    cfg = make_config(**routes_to("http://127.0.0.1:9/base", {"upstream": "app"}))
    with pytest.raises(ProxyConfigError, match="must not have a path"):
        build_app(cfg, WorkerState(pools=PoolSet()), env={})
