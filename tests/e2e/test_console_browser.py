"""The console in a real browser: Debian's Chromium driven by Playwright, against a real
`suanshu serve` on a free loopback port over a fresh data dir.

A provider uploads a GBK CSV with personal information and publishes a desensitized component;
the operator approves it (when the review service is installed); a buyer finds it by a Chinese
word, signs, runs a query and sees the result, the chart and the bill; a refused query shows its
code and reason. Then a scenario demand: the buyer posts one with compute needs, the provider
bids its component from its inbox, the buyer compares the data bid and the pools' auction and
accepts both in one step, the contract appears and a query under it is charged the bid's price. Every step leaves a screenshot in
.artifacts/screenshots/ (1280x800 and phone).
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest

from suanshu.core.clock import SHANGHAI, utcnow
from suanshu.demo import datasets
from suanshu.web import render

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SHOTS = Path(__file__).resolve().parents[2] / ".artifacts" / "screenshots"
PASSWORD = "browser-test-pw"
DESKTOP = {"width": 1280, "height": 800}
POOL = {"name": "x86-hpc", "kind": "hpc", "arch": "x86_64", "region": "湖南-长沙", "cpu": 256, "memory_gb": 1024,
        "price": {"cpu_hour": 100, "memory_gb_hour": 10}, "transfer_fen_per_gb": {"湖南-长沙": 0}}
PHONE = {"width": 390, "height": 844}

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(),
                                reason="Debian's chromium is not installed (`make test` installs it)")


def _cli(home: Path, *args: str, stdin: str | None = None) -> str:
    exe = Path(sys.executable).parent / "suanshu"
    out = subprocess.run([str(exe), *args], input=stdin, capture_output=True, text=True,
                         env=os.environ | {"SUANSHU_HOME": str(home)}, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_until_serving(url: str, proc: subprocess.Popen) -> None:
    for _ in range(300):  # readiness poll, bounded: the server must answer before the browser starts
        if proc.poll() is not None:
            raise RuntimeError(f"suanshu serve exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url + "/login") as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("suanshu serve did not start")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if not all(render.vendor_present().values()):
        pytest.fail("ECharts/htmx are not in src/suanshu/web/static/vendor/: run `make assets`")
    home = tmp_path_factory.mktemp("console-home")
    _cli(home, "init")
    _cli(home, "org", "create", "xiangxin-telecom", "-r", "provider", "--display-name", "湘信通信湖南分公司",
         "--region", "湖南-长沙")
    _cli(home, "org", "create", "furong-analytics", "-r", "buyer", "--display-name", "芙蓉零售数据分析")
    _cli(home, "ledger", "deposit", "furong-analytics", "5000")
    _cli(home, "org", "create", "changsha-hpc", "-r", "compute", "--display-name", "长沙超算中心",
         "--region", "湖南-长沙")
    _cli(home, "pool", "add", "changsha-hpc", json.dumps(POOL))
    for org, user in [("xiangxin-telecom", "telecom"), ("furong-analytics", "analyst"), ("exchange", "operator")]:
        _cli(home, "user", "create", org, user, "--password-stdin", stdin=PASSWORD + "\n")
    port = _free_port()
    log = (home / "serve.log").open("w")
    proc = subprocess.Popen([str(Path(sys.executable).parent / "suanshu"), "serve", "--host", "127.0.0.1",
                             "--port", str(port)], env=os.environ | {"SUANSHU_HOME": str(home)},
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_serving(url, proc)
        yield {"url": url, "home": home}
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        yield b
        b.close()


def shot(page, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def signed_in(browser, server, username: str, viewport=DESKTOP):
    context = browser.new_context(viewport=viewport, locale="zh-CN", timezone_id="Asia/Shanghai")
    page = context.new_page()
    page.goto(server["url"] + "/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/catalog$"))
    return context, page


def test_trade_loop_in_the_browser(browser, server, tmp_path):
    subscribers = datasets.telecom_subscribers(rows=400)
    gbk = datasets.write_csv(subscribers, tmp_path / "湘信用户.csv", encoding="gbk")

    # 1. the provider uploads a GBK CSV and reads its scan report
    ctx, page = signed_in(browser, server, "telecom")
    page.goto(server["url"] + "/vault")
    shot(page, "01-vault-empty")
    page.set_input_files("#file", str(gbk))
    page.fill("#name", "subscribers")
    page.click("form[data-upload] button[type=submit]")
    page.wait_for_url(re.compile(r".*/vault/ast_\w+$"))
    assert page.locator("text=CN_RESIDENT_ID").count() > 0
    assert page.locator("#chart-types ~ *, [data-chart='chart-types'] svg").count() > 0
    shot(page, "02-scan-report")
    resident_ids = subscribers.column("resident_id").to_pylist()
    assert not any(i in page.content() for i in resident_ids[:50])  # samples are masked

    # 2. composes a desensitized component from the scan's suggestions and submits it
    page.click("text=用这张表组建数据元件")
    page.fill("#name", "subscriber_churn")
    page.fill("#title", "湘信用户流失与消费画像")
    page.fill("#description", "按城市、套餐聚合的月消费与流失率；身份证号哈希、手机号掩码")
    page.fill("#tags", "通信, 用户画像")
    page.fill("#price", "3.00")
    page.fill("#min_group_size", "10")
    page.fill("#legality", "本公司在提供通信服务中依法收集，用户协议已告知并取得同意")  # 数据来源合法性声明
    assert page.locator("header nav >> text=数据金库").count() == 1  # the provider's navigation stays
    shot(page, "03-compose")
    page.click("button:has-text('提交审核')")
    page.wait_for_url(re.compile(r".*/components\?done=\w+$"))
    shot(page, "04-submitted")
    ctx.close()

    # 3. the operator approves it in the review queue, seeing the table's grade and findings
    ctx, page = signed_in(browser, server, "operator")
    page.goto(server["url"] + "/review")
    entry = page.locator("[data-review='subscriber_churn']")
    assert entry.locator("text=general-4").count() > 0
    assert entry.locator("text=CN_RESIDENT_ID").count() > 0
    shot(page, "05-review-queue")
    entry.locator("button[value=approve]").click()
    page.wait_for_url(re.compile(r".*/review\?done=approved$"))
    shot(page, "06-review-done")
    ctx.close()

    # 4. the buyer finds it by a Chinese word, signs, queries, sees result, chart and bill
    ctx, page = signed_in(browser, server, "analyst")
    page.fill("#q", "流失")
    page.click("form[role=search] button[type=submit]")
    page.click("text=湘信用户流失与消费画像")
    assert page.locator("text=聚合模式无法阻止差分攻击").count() > 0
    shot(page, "07-component")
    page.fill("#budget", "60.00")
    page.click("button:has-text('签约并冻结预算')")
    page.wait_for_url(re.compile(r".*/contracts/ctr_\w+\?signed=1$"))
    page.fill("#sql", "SELECT city, plan, count(*) AS users, round(avg(monthly_fee_fen) / 100, 2) AS arpu "
                      "FROM subscriber_churn GROUP BY city, plan ORDER BY users DESC")
    page.click("button:has-text('运行查询')")
    page.wait_for_selector("#result table[data-result] tbody tr")
    page.wait_for_selector("#result [data-chart='chart-result'] svg")
    assert "¥3.00" in page.inner_text("#result")
    page.wait_for_selector("#history td:has-text('已应答')")  # history refreshed out of band
    assert "¥57.00" in page.inner_text("#contract-stats")  # and the budget left
    shot(page, "08-query-result")

    # 5. a refused query shows its code and reason, and costs nothing
    page.fill("#sql", "SELECT resident_id FROM subscriber_churn")
    page.click("button:has-text('运行查询')")
    page.wait_for_selector("#result [data-refusal]")
    refusal = page.inner_text("#result [data-refusal]")
    assert "query.column_not_allowed" in refusal and "未产生任何费用" in refusal
    assert "查询用到了策略隐藏的字段" in refusal  # the reason in the page's language, then the service's
    shot(page, "09-query-refused")

    page.click("nav >> text=账单")
    charges = page.locator("table[data-charges]")
    assert "湘信用户流失与消费画像" in charges.inner_text() and "¥3.00" in charges.inner_text()
    shot(page, "10-bills")
    ctx.close()

    # 6. the same pages at phone size, and the English switch
    ctx, page = signed_in(browser, server, "analyst", viewport=PHONE)
    page.goto(server["url"] + "/catalog?q=流失")
    shot(page, "11-phone-catalog")
    page.goto(server["url"] + "/contracts")
    page.click("text=湘信用户流失与消费画像")
    shot(page, "12-phone-contract")
    page.click("text=English")
    assert page.locator("text=Query workbench").count() == 1
    shot(page, "13-phone-english")
    ctx.close()

    # 7. the auditor's log verifies
    ctx, page = signed_in(browser, server, "operator")
    page.goto(server["url"] + "/audit")
    assert page.locator("[data-verify]").inner_text().startswith("校验通过")
    shot(page, "14-audit")
    page.goto(server["url"] + "/dashboard")
    page.wait_for_selector("[data-chart='chart-gmv'] svg")
    shot(page, "15-dashboard")
    ctx.close()

    # 8. a scenario demand: the buyer posts data and compute needs; the pool bids by itself
    ctx, page = signed_in(browser, server, "analyst")
    page.goto(server["url"] + "/demands")
    page.fill("input[name=title]", "湖南用户流失分析（含算力）")
    page.fill("textarea[name=description]", "需要按城市的用户流失统计，并在长沙训练流失预测模型")
    page.fill("input[name=tags]", "通信, 流失")
    page.fill("input[name=budget]", "500")
    page.fill("input[name=deadline]", (utcnow() + timedelta(days=7)).astimezone(SHANGHAI).strftime("%Y-%m-%dT%H:%M"))
    for field, value in {"cpu": "8", "memory_gb": "16", "hours": "2", "data_region": "湖南-长沙",
                         "data_gb": "1"}.items():
        page.fill(f"#{field}", value)
    shot(page, "16-demand-post")
    page.click("form[action='/demands'] button[type=submit]")
    page.wait_for_url(re.compile(r".*/demands/dmd_\w+$"))
    demand_url = page.url
    assert "¥19.20" in page.inner_text("table[data-bids=compute] tr[data-winner]")  # 8 cpu·2 h ¥16 + 16 GB·2 h ¥3.20
    ctx.close()

    # the provider finds it in its inbox and bids its listed component
    ctx, page = signed_in(browser, server, "telecom")
    page.goto(server["url"] + "/demands")
    page.click("text=湖南用户流失分析（含算力）")
    page.wait_for_url(demand_url)
    page.select_option("select[name=offer]", label="数据: 湘信用户流失与消费画像")
    page.fill("input[name=price]", "2.00")
    page.fill("input[name=note]", "按城市、套餐聚合")
    page.click("button:has-text('提交报价')")
    page.wait_for_url(demand_url)
    assert "按城市、套餐聚合" in page.inner_text("table[data-bids=data]")
    shot(page, "17-demand-bid")
    ctx.close()

    # the buyer compares the bids side by side, picks the data bid, keeps the auction's winner, accepts
    ctx, page = signed_in(browser, server, "analyst")
    page.goto(demand_url)
    row = page.locator("table[data-bids=data] tr", has_text="湘信通信湖南分公司")
    assert "¥2.00" in row.inner_text()
    assert page.locator("tr[data-winner] input[type=checkbox]").is_checked()
    shot(page, "18-demand-compare")
    row.locator("input[type=radio]").check()
    page.click("button:has-text('接受所选报价')")
    page.wait_for_selector("[data-awarded] a")
    assert page.locator("[data-compute-held]").count() == 1
    shot(page, "19-demand-awarded")
    page.click("[data-awarded] a")
    page.wait_for_url(re.compile(r".*/contracts/ctr_\w+$"))
    assert "湘信用户流失与消费画像" in page.content() and "¥480.80" in page.content()  # ¥500 less the compute
    shot(page, "20-demand-contract")
    # a query under it is charged the bid's price, not the list price (¥3.00)
    page.fill("#sql", "SELECT city, count(*) AS users FROM subscriber_churn GROUP BY city")
    page.click("button:has-text('运行查询')")
    page.wait_for_selector("#result table[data-result] tbody tr")
    assert "¥2.00" in page.inner_text("#result")
    page.wait_for_selector("#contract-stats:has-text('¥478.80')")
    shot(page, "21-demand-query")
    ctx.close()


def test_keyboard_alone_signs_in_and_reaches_the_content(browser, server):
    context = browser.new_context(viewport=DESKTOP, locale="zh-CN")
    page = context.new_page()
    page.goto(server["url"] + "/login")
    assert page.evaluate("document.activeElement.id") == "username"  # autofocus
    page.keyboard.type("analyst")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "password"
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/catalog$"))
    page.keyboard.press("Tab")  # the first stop on every page skips the navigation
    assert page.evaluate("document.activeElement.className") == "skip"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    context.close()
