"""Bad input in console forms and links: the form comes back with the user's values, the message
and its stable code (never a bare validation error as JSON); states, modes and the job's placement
read in the page's language."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta
from html import unescape

import pytest
from web.conftest import csrf_of

from suanshu.compute.models import Job
from suanshu.core.clock import SHANGHAI, utcnow
from suanshu.demo import datasets
from suanshu.market import assets, components, contracts, orgs, pools
from suanshu.market.components import ComponentSpec
from suanshu.web import words

COLUMNS = {"city": "dimension", "temperature_c": "aggregate"}
AGGREGATE = {"mode": "aggregate", "min_group_size": 5, "columns": COLUMNS}
JOB = {"mode": "job", "columns": COLUMNS,
       "job": {"max_cpu": 2, "max_memory_gb": 2, "max_hours": 1, "max_output_bytes": 65536}}
JOB_WORD = "计算下沉作业"
PROGRAM = "import os\nprint('雨量汇总', os.environ['SUANSHU_OUTPUT'])\n"


@pytest.fixture
def listed(exchange, tmp_path):
    """Two listed components over one weather asset: aggregate (``agg``) and job mode (``job``)."""
    meteo = orgs.local_actor(exchange, "hunan-meteo")
    path = datasets.write_csv(datasets.meteorology_hourly(rows=120), tmp_path / "w.csv")
    assets.add_asset(exchange, meteo, path, name="weather")
    return {name: components.publish(exchange, meteo, ComponentSpec(
        name=name, asset="weather", sql=None, policy=policy, price_fen=100, desensitize={}, title=f"湖南气温 {name}"),
        state="listed") for name, policy in (("agg", AGGREGATE), ("job", JOB))}


def field(html: str, name: str) -> str | None:
    """The value an input (or the text a textarea) shows, unescaped."""
    m = re.search(rf'<input[^>]*name="{name}"[^>]*value="([^"]*)"', html) or \
        re.search(rf'<textarea[^>]*name="{name}"[^>]*>(.*?)</textarea>', html, re.DOTALL)
    return unescape(m.group(1)) if m else None


def not_json(r) -> None:
    assert r.headers["content-type"].startswith("text/html"), r.text
    assert "request.invalid" not in r.text


def deadline(days: float) -> str:
    return (utcnow() + timedelta(days=days)).astimezone(SHANGHAI).strftime("%Y-%m-%dT%H:%M")


def test_a_refused_demand_comes_back_with_what_was_typed(browser_for, listed):
    insurer = browser_for("insurer")
    form = {"csrf_token": csrf_of(insurer.get("/demands").text), "title": "长沙逐时降雨",
            "description": "训练水稻产量模型", "tags": "气象", "budget": "5000", "deadline": deadline(7),
            "cpu": "4", "hours": "2"}
    for fields, code in [({"budget": "-100"}, "money.invalid"), ({"budget": "一百元"}, "money.invalid"),
                         ({"deadline": deadline(-1)}, "demand.invalid"), ({"title": ""}, "demand.invalid"),
                         ({"budget": ""}, "money.invalid"), ({"cpu": "abc"}, "demand.invalid")]:
        r = insurer.post("/demands", data=form | fields)
        not_json(r)
        assert r.status_code == 422 and f"<code>{code}</code>" in r.text, (fields, r.text)
        sent = form | fields
        for name in ("title", "description", "budget", "deadline", "cpu", "hours"):
            assert field(r.text, name) == sent[name], (fields, name)


def test_a_refused_bid_comes_back_with_price_offer_and_note(browser_for, listed):
    insurer, meteo = browser_for("insurer"), browser_for("meteo")
    url = insurer.post("/demands", data={"csrf_token": csrf_of(insurer.get("/demands").text), "title": "湖南气温",
                                         "budget": "500", "deadline": deadline(3)},
                       follow_redirects=False).headers["location"]
    token = csrf_of(meteo.get(url).text)
    offer = f"component:{listed['job'].id}"
    for price, code in [("-1", "money.invalid"), ("", "money.invalid")]:
        r = meteo.post(f"{url}/bids", data={"csrf_token": token, "offer": offer, "price": price, "note": "含全年"})
        not_json(r)
        assert r.status_code == 422 and f"<code>{code}</code>" in r.text
        assert field(r.text, "price") == price and field(r.text, "note") == "含全年"
        assert f'value="{offer}" selected' in r.text
    r = insurer.post(f"{url}/accept", data={"csrf_token": csrf_of(insurer.get(url).text)})  # nothing chosen
    not_json(r)
    assert r.status_code == 422 and "<code>demand.bad_accept</code>" in r.text


def test_a_refused_job_keeps_its_program(exchange, browser_for, listed):
    contract = contracts.request(exchange, orgs.local_actor(exchange, "xiangnong-insurance"), listed["job"].id, 500)
    insurer = browser_for("insurer")
    url = f"/contracts/{contract.id}"
    token = csrf_of(insurer.get(url).text)
    for fields in ({"cpu": "-1"}, {"cpu": "abc"}, {"hours": "很久"}):
        form = {"csrf_token": token, "program": PROGRAM, "cpu": "1", "memory_gb": "1", "hours": "0.5"} | fields
        r = insurer.post(f"{url}/jobs", data=form)
        not_json(r)
        assert r.status_code == 422 and "<code>job.bad_request</code>" in r.text, r.text
        assert field(r.text, "program") == PROGRAM
        assert all(field(r.text, k) == form[k] for k in ("cpu", "memory_gb", "hours"))
    assert "/jobs/job_" not in insurer.get("/jobs").text  # nothing was submitted


def test_a_refused_signature_keeps_the_form(browser_for, listed):
    insurer = browser_for("insurer")
    url = f"/catalog/{listed['agg'].id}"
    token = csrf_of(insurer.get(url).text)
    for fields, code in [({"days": "abc"}, "contract.bad_term"), ({"budget": ""}, "money.invalid")]:
        form = {"csrf_token": token, "budget": "100", "purpose": "保险定价", "days": "365"} | fields
        r = insurer.post(f"{url}/sign", data=form)
        not_json(r)
        assert r.status_code == 422 and f"<code>{code}</code>" in r.text
        assert all(field(r.text, k) == form[k] for k in ("budget", "purpose", "days"))


def test_bad_query_parameters_give_a_page_and_roles_come_first(browser_for, listed):
    insurer, op = browser_for("insurer"), browser_for("op")
    r = insurer.get("/catalog", params={"page": "abc"})
    not_json(r)
    assert r.status_code == 200 and "湖南气温" in r.text  # the first page
    for url in ("/dashboard?days=abc", "/audit?before=abc"):
        assert insurer.get(url).status_code == 403
        r = op.get(url)
        not_json(r)
        assert r.status_code == 200
    assert "<code>audit.bad_before</code>" in op.get("/audit?before=abc").text


def test_a_page_past_the_last_says_so(browser_for, listed):
    insurer = browser_for("insurer")
    html = insurer.get("/catalog", params={"page": "999"}).text
    assert "目录还是空的" not in html and "没有第 999 页" in html
    first = re.search(r'<a href="([^"]+)" data-first-page>', html).group(1)
    assert "湖南气温" in insurer.get(unescape(first)).text


def test_states_and_modes_are_words_of_the_page_language(exchange, browser_for, listed):
    insurer, meteo = browser_for("insurer"), browser_for("meteo")
    url = insurer.post("/demands", data={"csrf_token": csrf_of(insurer.get("/demands").text), "title": "湖南气温",
                                         "budget": "500", "deadline": deadline(3)},
                       follow_redirects=False).headers["location"]
    meteo.post(f"{url}/bids", data={"csrf_token": csrf_of(meteo.get(url).text), "price": "1",
                                    "offer": f"component:{listed['agg'].id}"})
    board = insurer.get(url).text
    assert "<b>征集中</b>" in board and "<td>已提交</td>" in board
    assert re.search(r"<td>征集中</td>", insurer.get("/demands").text)
    bid_id = re.search(r'name="bid" value="(bid_[^"]+)"', board).group(1)
    insurer.post(f"{url}/accept", data={"csrf_token": csrf_of(board), "bid": bid_id})
    board = insurer.get(url).text
    assert "<b>已成交</b>" in board and "<td>已中标</td>" in board
    contract_id = re.search(r'href="/contracts/(ctr_[^"]+)"', board).group(1)
    assert "模式: 聚合查询" in insurer.get(f"/contracts/{contract_id}").text
    own = meteo.get("/components").text
    assert "<td>聚合查询</td>" in own and f"<td>{JOB_WORD}</td>" in own
    english = browser_for("insurer", lang="en")
    assert "<b>awarded</b>" in english.get(url).text and "<td>won</td>" in english.get(url).text


def job_row(exchange, listed, **placement) -> Job:
    contract = contracts.request(exchange, orgs.local_actor(exchange, "xiangnong-insurance"), listed["job"].id, 500)
    pool = pools.register(exchange, orgs.local_actor(exchange, "changsha-hpc"), {
        "name": "changsha-x86-general", "kind": "hpc", "arch": "x86_64", "region": "湖南-长沙", "cpu": 64,
        "memory_gb": 256, "price": {"cpu_hour": 100, "memory_gb_hour": 10}, "transfer_fen_per_gb": {"湖南-长沙": 15}})
    runner = {"host": "qa-host-7", "pid": 4242, "start": 99}
    record = {"attempts": [{"pool": pool.id, "executor": "local", "started_at": "2025-01-02T03:04:05Z",
                            "runner": runner, "ref": "local:4242", "workspace": "/tmp/suanshu-job-xyz"}],
              "blocked": [], "pool": pool.id, "pool_name": pool.name, "region": pool.region,
              "compute_provider": "changsha-hpc", "executor": "local", "cost": 140,
              "breakdown": {"hours": 1, "fen_per_hour": {"cpu": 100, "memory": 10, "accelerators": {}, "total": 110},
                            "compute": 110, "data_gb": 2, "transfer_fen_per_gb": 15, "transfer": 30, "cost": 140},
              "why": "cheapest feasible", "hold_fen": 240, "runner": runner} | placement
    job = Job(id="job_seen", contract_id=contract.id, buyer_org_id=contract.buyer_org_id, state="failed",
              program="print(1)", program_sha256=hashlib.sha256(b"print(1)").hexdigest(), request={},
              pool_id=pool.id, placement=record, price_fen=0, error_code="job.failed", error_message="exit 1",
              finished_at=datetime(2025, 1, 2, 3, 30, tzinfo=UTC))
    with exchange.db.transaction() as s:
        s.add(job)
    return job


def test_the_job_page_reads_its_placement_for_people(exchange, browser_for, listed):
    job = job_row(exchange, listed)
    insurer = browser_for("insurer")
    html = insurer.get("/jobs/job_seen").text
    assert "<b>changsha-x86-general</b>" in html and f"<b>{job.pool_id}</b>" not in html
    table = re.search(r"<table data-placement>.*?</table>", html, re.DOTALL).group(0)
    assert "湖南-长沙" in table and "\\u" not in html
    assert "1 小时 × 每小时 ¥1.10 = ¥1.10" in table and "2 GB × 每 GB ¥0.15 = ¥0.30" in table
    assert "¥1.40" in table and "¥2.40" in table
    assert "2025-01-02 11:04" in table and "2025-01-02 11:30" in table  # Beijing time
    for internal in ("qa-host-7", "4242", "/tmp/", "2025-01-02T03:04:05Z"):
        assert internal not in html
    assert "<td>失败" in insurer.get("/jobs").text
    assert "qa-host-7" in browser_for("op").get("/jobs/job_seen").text  # the operator may read the record


def test_sizes_have_units():
    assert [words.size(n) for n in (812, 12_595, 5 * 1024**2)] == ["812 B", "12.3 KB", "5.0 MB"]
