"""Compose, the pagers and the phone-sized layout in a real browser: Debian's Chromium driven by
Playwright (executable_path, never a downloaded browser) against the real app served by uvicorn
over a real SQLite exchange. Screenshots go to .artifacts/screenshots/compose-*.png."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest

from suanshu.demo import datasets
from suanshu.market import assets, components, orgs, search
from suanshu.market.components import ComponentSpec
from suanshu.web import catalog, render
from web.conftest import PASSWORD

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parents[2] / ".artifacts" / "screenshots"
PHONE = {"width": 390, "height": 844}

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed")


@pytest.fixture
def served(app, exchange, tmp_path):
    import uvicorn

    if not all(render.vendor_present().values()):
        pytest.fail("ECharts/htmx are not in src/suanshu/web/static/vendor/: run `make assets`")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(500):  # readiness, bounded
        if server.started:
            break
        threading.Event().wait(0.02)
    path = datasets.write_csv(datasets.meteorology_hourly(rows=200), tmp_path / "w.csv")
    asset, _report = assets.add_asset(exchange, orgs.local_actor(exchange, "hunan-meteo"), path, name="weather")
    yield f"http://127.0.0.1:{port}", asset
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                              args=["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"])
        yield b
        b.close()


def signed_in(browser, url: str, username: str, viewport=None):
    context = browser.new_context(viewport=viewport or {"width": 1280, "height": 800}, locale="zh-CN")
    page = context.new_page()
    page.goto(url + "/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/catalog")
    return context, page


def test_compose_switches_modes_by_keyboard_explains_live_and_keeps_input(browser, served):
    url, asset = served
    ctx, page = signed_in(browser, url, "meteo")
    page.goto(f"{url}/components/new?asset={asset.id}")
    assert page.is_visible("#min_group_size") and not page.is_visible("#eps_q") and not page.is_visible("#job_cpu")
    page.fill("#title", "湖南气温（差分隐私）")
    page.focus("#mode-aggregate")
    page.keyboard.press("ArrowDown")  # the next radio: dp
    assert page.is_checked("#mode-dp") and page.is_visible("#eps_q") and page.is_visible("#eps_total")
    assert not page.is_visible("#max_rows")
    # the explanation follows the form (htmx): dp's budget words appear without a reload
    page.wait_for_selector("#policy-words :text('ε 0.5')")
    page.fill("#eps_total", "0.1")
    page.wait_for_selector("#policy-words [data-policy-problems]")
    page.screenshot(path=str(SHOTS / "compose-dp.png"), full_page=True)
    page.fill("#name", "wx_dp")
    page.fill("#legality", "自有气象站观测数据")
    page.click("button:has-text('提交审核')")
    page.wait_for_selector("[data-field-error=eps_total]")
    assert page.get_attribute("#eps_total", "aria-invalid") == "true"
    assert page.input_value("#title") == "湖南气温（差分隐私）" and page.input_value("#eps_total") == "0.1"
    assert page.is_checked("#mode-dp") and page.is_visible("[data-field-error=eps_total]")
    page.screenshot(path=str(SHOTS / "compose-errors.png"), full_page=True)
    ctx.close()

    ctx, page = signed_in(browser, url, "meteo", viewport=PHONE)
    page.goto(f"{url}/components/new?asset={asset.id}")
    # phone: the page itself never scrolls sideways (wide tables scroll inside their own box)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.screenshot(path=str(SHOTS / "compose-phone.png"), full_page=True)
    ctx.close()


def test_catalog_pages_are_reached_with_the_keyboard(browser, served, exchange, monkeypatch):
    url, _asset = served
    monkeypatch.setattr(catalog, "PER_PAGE", 1)
    meteo = orgs.local_actor(exchange, "hunan-meteo")
    for i in range(3):
        components.publish(exchange, meteo, ComponentSpec(
            name=f"wx{i}", asset="weather", sql=None, price_fen=100, desensitize={}, title=f"湖南气温{i}",
            policy={"mode": "aggregate", "min_group_size": 5, "columns": {"city": "dimension"}}))
    search.invalidate(exchange)
    ctx, page = signed_in(browser, url, "insurer", viewport=PHONE)
    page.goto(url + "/catalog?q=气温")
    for _ in range(60):  # Tab through the page until the pager's next link has the focus
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.getAttribute('rel')") == "next":
            break
    page.keyboard.press("Enter")
    page.wait_for_url("**page=2*")
    assert page.locator("nav.pager a[aria-current=page]").inner_text() == "2"
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.screenshot(path=str(SHOTS / "compose-catalog-page2-phone.png"), full_page=True)
    ctx.close()
