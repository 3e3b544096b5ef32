"""Console lists that grow come in pages (keyset through ``market.paging``; the catalog's ranking by
offset): every row once, in order, with plain links between pages."""

from __future__ import annotations

import re

import pytest
from web.conftest import csrf_of

from suanshu.demo import datasets
from suanshu.market import assets, components, contracts, orgs, search
from suanshu.market.components import ComponentSpec
from suanshu.web import catalog, render, review

POLICY = {"mode": "aggregate", "min_group_size": 5, "columns": {"city": "dimension", "temperature_c": "aggregate"}}


@pytest.fixture
def listed(exchange, tmp_path):
    meteo = orgs.local_actor(exchange, "hunan-meteo")
    path = datasets.write_csv(datasets.meteorology_hourly(rows=120), tmp_path / "w.csv")
    assets.add_asset(exchange, meteo, path, name="weather")

    def make(name: str, state: str = "listed"):
        return components.publish(exchange, meteo, ComponentSpec(
            name=name, asset="weather", sql=None, policy=POLICY, price_fen=100, desensitize={},
            title=f"湖南气温 {name}"), state=state)

    return make


def walk(client, url: str, marker: str) -> list[list[str]]:
    """Follow the next links from ``url``; the ids matching ``marker`` on each page."""
    pages = []
    while url:
        html = client.get(url).text
        pages.append(re.findall(marker, html))
        nxt = re.search(r'<a href="([^"]+)" rel="next"', html)
        url = nxt.group(1).replace("&amp;", "&") if nxt else None
        assert len(pages) < 20
    return pages


def test_contracts_and_query_history_page_newest_first(exchange, listed, browser_for, monkeypatch):
    monkeypatch.setattr(render, "PAGE", 3)
    comp = listed("w")
    buyer = orgs.local_actor(exchange, "xiangnong-insurance")
    signed = [contracts.request(exchange, buyer, comp.id, 500).id for _ in range(7)]
    insurer = browser_for("insurer")
    pages = walk(insurer, "/contracts", r'href="/contracts/(ctr_[^"]+)"')
    assert [len(p) for p in pages] == [3, 3, 1]
    assert [c for p in pages for c in p] == signed[::-1]  # every contract once, newest first
    second = insurer.get("/contracts", params={"bought": pages[0][-1]}).text
    assert 'href="/contracts" data-page="first"' in second and 'aria-label="买入合约分页"' in second

    url = f"/contracts/{signed[0]}"
    token = csrf_of(insurer.get(url).text)
    for n in range(4):
        r = insurer.post(url + "/query", data={"csrf_token": token, "sql": f"SELECT city, count(*) AS n{n} FROM w GROUP BY city"},
                         headers={"HX-Request": "true"})
    # the history the answer refreshes in place keeps its pager, linking to the contract's page
    assert f'href="{url}?runs=' in r.text and "/query?runs=" not in r.text
    runs = walk(insurer, url, r"AS (n\d) FROM")
    assert [r for p in runs for r in p] == ["n3", "n2", "n1", "n0"] and len(runs) == 2


def test_catalog_pages_by_number(exchange, listed, browser_for, monkeypatch):
    monkeypatch.setattr(catalog, "PER_PAGE", 2)
    for i in range(5):
        listed(f"w{i}")
    search.invalidate(exchange)
    insurer = browser_for("insurer")
    first = insurer.get("/catalog", params={"q": "气温"}).text
    assert 'aria-current="page">1</a>' in first and ">3</a>" in first
    seen = [t for p in walk(insurer, "/catalog?q=气温", r"湖南气温 (w\d)") for t in p]
    assert sorted(seen) == [f"w{i}" for i in range(5)]
    last = insurer.get("/catalog", params={"q": "气温", "page": 3}).text
    assert 'rel="prev"' in last and 'rel="next"' not in last


def test_review_queue_and_jobs_page(exchange, listed, browser_for, monkeypatch):
    monkeypatch.setattr(review, "REVIEW_PAGE", 2)
    monkeypatch.setattr(render, "PAGE", 2)
    waiting = [listed(f"r{i}", state="in_review").id for i in range(3)]
    op = browser_for("op")
    queue = walk(op, "/review", r'action="/review/(cmp_[^"]+)"')
    assert [c for p in queue for c in p] == waiting  # oldest first: the order they were submitted

    comp = listed("agg")
    contract = contracts.request(exchange, orgs.local_actor(exchange, "xiangnong-insurance"), comp.id, 500)
    insurer = browser_for("insurer")
    token = csrf_of(insurer.get(f"/contracts/{contract.id}").text)
    for _ in range(3):  # refused (aggregate mode takes no jobs), but listed as jobs all the same
        insurer.post(f"/contracts/{contract.id}/jobs", data={"csrf_token": token, "program": "print(1)"})
    jobs = walk(insurer, "/jobs", r'href="/jobs/(job_[^"]+)"')
    assert [len(p) for p in jobs] == [2, 1] and len({j for p in jobs for j in p}) == 3


def test_a_query_form_sent_again_is_answered_again_and_charged_once(exchange, listed, browser_for):
    """A reload after a query without JavaScript (or a double click) sends the same form again: it
    carries the key it was rendered with, so the first answer is shown and nothing is charged again."""
    from sqlalchemy import func, select

    from suanshu.market.models import Contract, QueryRun

    comp = listed("w")
    contract = contracts.request(exchange, orgs.local_actor(exchange, "xiangnong-insurance"), comp.id, 500)
    insurer = browser_for("insurer")
    url = f"/contracts/{contract.id}"

    def key_of(html: str) -> str:
        return re.search(r'name="request_key" value="([^"]+)"', html).group(1)

    def runs() -> int:
        with exchange.db.transaction() as s:
            return s.scalar(select(func.count()).select_from(QueryRun).where(QueryRun.contract_id == contract.id))

    def spent() -> int:
        with exchange.db.transaction() as s:
            return s.get(Contract, contract.id).spent_fen

    html = insurer.get(url).text
    form = {"csrf_token": csrf_of(html), "request_key": key_of(html), "sql": "SELECT city, count(*) AS n FROM w GROUP BY city"}
    first, again = insurer.post(url + "/query", data=form), insurer.post(url + "/query", data=form)
    assert first.status_code == again.status_code == 200
    assert "data-replayed" not in first.text and "data-replayed" in again.text
    rows = re.compile(r"<table data-result>.*?</table>", re.DOTALL)
    assert rows.search(first.text).group() == rows.search(again.text).group()
    assert runs() == 1 and spent() == 100

    # the page with the answer carries a new key: the next query from it is a new one
    assert key_of(first.text) != form["request_key"]
    insurer.post(url + "/query", data=form | {"request_key": key_of(first.text)})
    assert runs() == 2
    # the workbench (htmx) gets a new key with each answer, swapped into the form out of band
    answer = insurer.post(url + "/query", data=form | {"request_key": "htmx-1"}, headers={"HX-Request": "true"})
    assert 'id="request-key"' in answer.text and key_of(answer.text) != "htmx-1" and runs() == 3
    refused = form | {"request_key": "refused-1", "sql": "SELECT * FROM w"}
    assert [insurer.post(url + "/query", data=refused).status_code for _ in range(2)] == [403, 403]


def test_bills_list_every_charge_and_total_what_they_list(exchange, listed, browser_for):
    """Answered queries and finished jobs are both charges; the total is the sum of the rows shown."""
    import hashlib

    from suanshu.compute.models import Job
    from suanshu.core.clock import utcnow

    comp = listed("w")
    buyer = orgs.local_actor(exchange, "xiangnong-insurance")
    contract = contracts.request(exchange, buyer, comp.id, 500)
    insurer = browser_for("insurer")
    url = f"/contracts/{contract.id}"
    token = csrf_of(insurer.get(url).text)
    insurer.post(url + "/query", data={"csrf_token": token, "sql": "SELECT city, count(*) AS n FROM w GROUP BY city"})
    with exchange.db.transaction() as s:  # a finished job's charge, as market.jobs records it
        s.add(Job(id="job_billed", contract_id=contract.id, buyer_org_id=contract.buyer_org_id, state="succeeded",
                  program="print(1)", program_sha256=hashlib.sha256(b"print(1)").hexdigest(), request={},
                  price_fen=350, receipt={"audit_seq": 7}, finished_at=utcnow()))
    bills = insurer.get("/invoices").text
    rows = re.findall(r'<td class="n">(¥[\d.,]+)</td>', bills)
    assert sorted(rows) == ["¥1.00", "¥3.50"] and 'href="/jobs/job_billed"' in bills
    assert re.search(r'<th class="n">¥4.50</th>', bills)  # the footer
    assert "<b>¥4.50</b>" in bills  # the card


def test_a_job_form_sent_twice_submits_one_job(exchange, listed, browser_for):
    from sqlalchemy import func, select

    from suanshu.compute.models import Job

    comp = listed("agg")
    contract = contracts.request(exchange, orgs.local_actor(exchange, "xiangnong-insurance"), comp.id, 500)
    insurer = browser_for("insurer")
    html = insurer.get(f"/contracts/{contract.id}").text
    form = {"csrf_token": csrf_of(html), "program": "print(1)", "request_key": "job-form-1"}
    first, again = (insurer.post(f"/contracts/{contract.id}/jobs", data=form, follow_redirects=False) for _ in range(2))
    assert first.headers["location"] == again.headers["location"]  # the same job
    insurer.post(f"/contracts/{contract.id}/jobs", data=form | {"request_key": "job-form-2"})
    with exchange.db.transaction() as s:
        assert s.scalar(select(func.count()).select_from(Job).where(Job.contract_id == contract.id)) == 2
