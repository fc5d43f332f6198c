"""The dashboard in a real browser (Debian's chromium through Playwright) against a running
gateway: sign in, every section renders without console errors, a key made in the page serves
the data plane, disabling it there gets 401, and the page fits a phone's width."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.admin_gateway import admin_config
from tests.support.gateway import DEFAULT_READY_SECS, Gateway, start_gateway

CHROMIUM = Path("/usr/lib/chromium/chromium")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="chromium is not installed (make system-deps)")

TOKEN = "admin-token-for-the-dashboard"
CONFIG = admin_config("from-config", "sk-dashboard-config-key")
SECTIONS = ["status", "providers", "models", "keys", "tenants", "policies", "profiles", "requests", "usage", "audit"]


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    gateway = start_gateway(CONFIG, "toml", workers=2, env={"FG_ADMIN_TOKEN": TOKEN}, directory=tmp_path_factory.mktemp("dashboard"))
    try:
        gateway.wait_ready(DEFAULT_READY_SECS)
        yield gateway
    finally:
        gateway.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM))
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: object, gw: Gateway) -> Iterator[object]:
    """A signed-in page; fails the test on any console error or page error."""
    context = browser.new_context()  # type: ignore[attr-defined]
    tab = context.new_page()
    errors: list[str] = []
    tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    tab.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    tab.goto(gw.admin_url + "/admin")
    tab.fill("#token", TOKEN)
    tab.click("#login-form button")
    tab.wait_for_selector("#tabs a[aria-current=page]")
    yield tab
    context.close()
    assert errors == [], errors


def _chat_status(gw: Gateway, secret: str) -> int:
    with httpx.Client(base_url=gw.base_url, timeout=10) as client:
        return client.post(
            "/v1/chat/completions",
            json={"model": "m", "messages": [{"role": "user", "content": "hi"}]},
            headers={"Authorization": f"Bearer {secret}"},
        ).status_code


def _all_answer(gw: Gateway, secret: str, status: int, within: float = 1.0) -> bool:
    deadline = time.monotonic() + within
    while True:
        if all(_chat_status(gw, secret) == status for _ in range(10)):
            return True
        if time.monotonic() > deadline:
            return False


def test_the_page_loads_without_credentials_and_asks_for_the_token(browser: object, gw: Gateway) -> None:
    context = browser.new_context()  # type: ignore[attr-defined]
    tab = context.new_page()
    answer = tab.goto(gw.admin_url + "/admin")
    assert answer.status == 200
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
    assert tab.is_visible("#login") and not tab.is_visible("#tabs a")
    context.close()


def test_a_wrong_token_is_refused_in_the_page(browser: object, gw: Gateway) -> None:
    context = browser.new_context()  # type: ignore[attr-defined]
    tab = context.new_page()
    tab.goto(gw.admin_url + "/admin")
    tab.fill("#token", "not-the-token")
    tab.click("#login-form button")
    tab.wait_for_selector("#login-message:not([hidden])")
    assert "refused" in tab.inner_text("#login-message")
    context.close()


@pytest.mark.parametrize("section", SECTIONS)
def test_every_section_renders_without_errors(page: object, section: str) -> None:
    page.goto(page.url.split("#")[0] + "#" + section)  # type: ignore[attr-defined]
    page.wait_for_selector(f"#tabs a[href='#{section}'][aria-current=page]")  # type: ignore[attr-defined]
    page.wait_for_selector("#view > *")  # type: ignore[attr-defined]
    assert page.is_hidden("#error"), page.inner_text("#error")  # type: ignore[attr-defined]


def test_a_key_made_in_the_page_serves_and_disabling_it_there_gets_401(page: object, gw: Gateway) -> None:
    page.goto(page.url.split("#")[0] + "#keys")  # type: ignore[attr-defined]
    page.fill("input[name=id]", "made-in-browser")  # type: ignore[attr-defined]
    page.fill("input[name=rpm]", "100")  # type: ignore[attr-defined]
    page.click("text=Create key")  # type: ignore[attr-defined]
    secret = page.inner_text("#secret")  # type: ignore[attr-defined]
    assert secret.startswith("sk-fg-")
    assert _all_answer(gw, secret, 200)
    row = page.locator("tr[data-id='made-in-browser']")  # type: ignore[attr-defined]
    row.locator("text=Disable").click()
    row.locator("text=disabled").wait_for()
    assert _all_answer(gw, secret, 401)
    page.reload()  # type: ignore[attr-defined]
    page.wait_for_selector("tr[data-id='made-in-browser']")  # type: ignore[attr-defined]
    assert secret not in page.content()  # type: ignore[attr-defined]


def _chat_request_id(gw: Gateway, secret: str) -> str:
    with httpx.Client(base_url=gw.base_url, timeout=10) as client:
        answer = client.post(
            "/v1/chat/completions",
            json={"model": "m", "messages": [{"role": "user", "content": "see me"}]},
            headers={"Authorization": f"Bearer {secret}"},
        )
    assert answer.status_code == 200
    return answer.headers["x-request-id"]


def _until_row(page: object, selector: str, refresh: str, within: float = 10.0) -> None:
    """Press ``refresh`` until ``selector`` is on the page (records reach the store within a second)."""
    deadline = time.monotonic() + within
    while page.locator(selector).count() == 0:  # type: ignore[attr-defined]
        assert time.monotonic() < deadline, f"{selector} never appeared"
        page.click(refresh)  # type: ignore[attr-defined]
        page.wait_for_timeout(200)  # type: ignore[attr-defined]


def test_a_request_made_with_a_key_from_the_page_appears_in_its_request_log(page: object, gw: Gateway) -> None:
    page.goto(page.url.split("#")[0] + "#keys")  # type: ignore[attr-defined]
    page.fill("input[name=id]", "seen-in-log")  # type: ignore[attr-defined]
    page.click("text=Create key")  # type: ignore[attr-defined]
    request_id = _chat_request_id(gw, page.inner_text("#secret"))  # type: ignore[attr-defined]
    page.goto(page.url.split("#")[0] + "#requests")  # type: ignore[attr-defined]
    page.fill("input[name=key_id]", "seen-in-log")  # type: ignore[attr-defined]
    _until_row(page, f"tr[data-id='{request_id}']", "text=Filter")
    row = page.locator(f"tr[data-id='{request_id}']")  # type: ignore[attr-defined]
    assert "seen-in-log" in row.inner_text() and "200" in row.inner_text()
    assert page.locator("#view tbody tr").count() == 1  # type: ignore[attr-defined]


def test_the_usage_page_charts_and_totals_a_keys_requests(page: object, gw: Gateway) -> None:
    _chat_request_id(gw, "sk-dashboard-config-key")
    page.goto(page.url.split("#")[0] + "#usage")  # type: ignore[attr-defined]
    deadline = time.monotonic() + 10
    while page.locator("tr[data-id='from-config']").count() == 0:  # type: ignore[attr-defined]
        assert time.monotonic() < deadline
        page.reload()  # type: ignore[attr-defined]
        page.wait_for_selector("#view > *")  # type: ignore[attr-defined]
    assert page.locator("svg.chart rect").count() >= 1  # type: ignore[attr-defined]
    cells = page.locator("tr[data-id='from-config'] td").all_inner_texts()  # type: ignore[attr-defined]
    assert int(cells[1]) >= 1  # requests


@pytest.mark.parametrize("section", ["keys", "requests", "usage"])
def test_the_busiest_pages_fit_a_phone(browser: object, gw: Gateway, section: str) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844})  # type: ignore[attr-defined]
    tab = context.new_page()
    tab.goto(gw.admin_url + "/admin#" + section)
    tab.fill("#token", TOKEN)
    tab.click("#login-form button")
    tab.wait_for_selector("#view > *")
    assert tab.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    context.close()


def test_the_keys_page_fits_a_phone(browser: object, gw: Gateway) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844})  # type: ignore[attr-defined]
    tab = context.new_page()
    tab.goto(gw.admin_url + "/admin#keys")
    tab.fill("#token", TOKEN)
    tab.click("#login-form button")
    tab.wait_for_selector("tr[data-id='from-config']")
    assert tab.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    context.close()
