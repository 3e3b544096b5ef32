"""Demands (场景需求) through the console's forms: post as buyer, bid from the provider's inbox,
compare bids, accept one and land on its contract; another org never sees the bids."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from suanshu.core.clock import SHANGHAI, utcnow
from suanshu.demo import datasets
from suanshu.demo.story import COMPONENTS
from suanshu.market import assets, components, orgs
from suanshu.market.components import ComponentSpec
from web.conftest import csrf_of

WEATHER = COMPONENTS["hunan-meteo"]


@pytest.fixture
def weather_listed(exchange, tmp_path):
    """hunan-meteo's weather component, listed through the services (the console flow test covers the forms)."""
    provider = orgs.local_actor(exchange, "hunan-meteo")
    file = datasets.write_csv(datasets.meteorology_hourly(rows=600), tmp_path / "weather.csv")
    assets.add_asset(exchange, provider, file, name=WEATHER["asset"])
    return components.publish(exchange, provider, ComponentSpec(**WEATHER))


def post_demand(client, **fields):
    deadline = (utcnow() + timedelta(days=7)).astimezone(SHANGHAI).strftime("%Y-%m-%dT%H:%M")
    form = {"csrf_token": csrf_of(client.get("/demands").text), "title": "长沙 2023 年逐时天气",
            "description": "训练水稻产量模型需要湖南逐时降雨与气温", "tags": "气象，降雨", "region": "湖南-长沙",
            "budget": "5000.50", "deadline": deadline}
    return client.post("/demands", data=form | fields, follow_redirects=False)


def test_post_bid_compare_accept_and_the_contract_appears(browser_for, exchange, weather_listed):
    insurer, meteo, hpc = browser_for("insurer"), browser_for("meteo"), browser_for("hpc")
    r = post_demand(insurer)
    assert r.status_code == 303, r.text
    url = r.headers["location"]
    demand_id = url.rsplit("/", 1)[1]
    mine = insurer.get("/demands").text
    assert "我的需求" in mine and f'href="/demands/{demand_id}"' in mine
    assert "¥5,000.50" in insurer.get(url).text  # the budget went in as 500,050 fen

    # the provider's inbox names the demand, and its bid form offers its listed component
    inbox = meteo.get("/demands").text
    assert "收件箱" in inbox and f'href="/demands/{demand_id}"' in inbox
    page = meteo.get(url).text
    assert f'value="component:{weather_listed.id}"' in page
    r = meteo.post(f"{url}/bids", data={"csrf_token": csrf_of(page), "offer": f"component:{weather_listed.id}",
                                         "price": "1.50", "note": "含2023全年"}, follow_redirects=False)
    assert r.status_code == 303, r.text

    # the buyer's inbox says a bid arrived (a buyer has an inbox too)
    news = insurer.get("/demands").text
    assert "收件箱" in news and "hunan-meteo" in news and f'href="/demands/{demand_id}"' in news
    # the buyer sees the bid with bidder, kind, component, price and note, and an Accept button
    board = insurer.get(url).text
    row = re.search(r"<tr><td>hunan-meteo</td>.*?</tr>", board, re.S).group(0)
    assert "数据" in row and weather_listed.id in row and "¥1.50" in row and "含2023全年" in row
    bid_id = re.search(r'name="bid" value="(bid_[^"]+)"', row).group(1)

    # a foreign org sees the open demand but not the bids on it
    foreign = hpc.get(url)
    assert foreign.status_code == 200 and "含2023全年" not in foreign.text and bid_id not in foreign.text

    # accepting without the CSRF token is refused; with it, the contract is signed
    assert insurer.post(f"{url}/accept", data={"bid": bid_id}).status_code == 403
    r = insurer.post(f"{url}/accept", data={"csrf_token": csrf_of(board), "bid": bid_id}, follow_redirects=False)
    assert r.status_code == 303, r.text
    awarded = insurer.get(url).text
    contract_id = re.search(r'href="/contracts/(ctr_[^"]+)"', awarded).group(1)
    assert "合约已签订" in awarded and 'name="bid"' not in awarded
    assert "湖南省逐时气象观测" in insurer.get("/contracts").text
    assert insurer.get(f"/contracts/{contract_id}").status_code == 200
    # once awarded, the demand is closed to orgs that took no part in it
    assert hpc.get(url).status_code == 404


def test_bad_budget_and_foreign_accept_are_refused_with_a_code(browser_for, weather_listed):
    insurer, meteo = browser_for("insurer"), browser_for("meteo")
    r = post_demand(insurer, budget="a lot")
    assert r.status_code == 422 and "money.invalid" in r.text
    url = post_demand(insurer).headers["location"]
    page = meteo.get(url).text
    r = meteo.post(f"{url}/accept", data={"csrf_token": csrf_of(page), "bid": "bid_x"})
    assert r.status_code == 403  # only buyers accept


POOL = {"name": "x86-hpc", "kind": "hpc", "arch": "x86_64", "region": "湖南-长沙", "cpu": 256, "memory_gb": 1024,
        "price": {"cpu_hour": 100, "memory_gb_hour": 10}, "transfer_fen_per_gb": {"湖南-长沙": 0}}
COMPUTE = {"cpu": "16", "memory_gb": "64", "hours": "10", "data_region": "湖南-长沙", "data_gb": "2",
           "residency": "湖南-长沙"}


def test_compute_needs_the_auction_and_accepting_its_winner(browser_for, exchange, weather_listed):
    from suanshu.market import pools

    pool = pools.register(exchange, orgs.local_actor(exchange, "changsha-hpc"), POOL)
    insurer, meteo, hpc = browser_for("insurer"), browser_for("meteo"), browser_for("hpc")
    r = post_demand(insurer, **COMPUTE)
    assert r.status_code == 303, r.text
    url = r.headers["location"]
    board = insurer.get(url).text
    assert "16 CPU 核数, 64 GB" in board and "湖南-长沙 (2 GB)" in board
    # the pool bid from its price plan (16 cpu x 10 h x ¥1 + 64 GB x 10 h x ¥0.10 = ¥224) and wins so far
    auto = re.search(r"<tr data-winner>.*?</tr>", board, re.S).group(0)
    assert "x86-hpc" in auto and "¥224.00" in auto and "价格方案" in auto
    auto_id = re.search(r'type="checkbox" name="bid" value="(bid_[^"]+)" checked', auto).group(1)

    # the compute provider reads its own bid and undercuts it with a typed price; the data provider bids too
    page = hpc.get(url).text
    assert "¥224.00" in page and f'value="pool:{pool.id}"' in page
    assert hpc.post(f"{url}/bids", data={"csrf_token": csrf_of(page), "offer": f"pool:{pool.id}", "price": "200",
                                         "note": "整机包时"}, follow_redirects=False).status_code == 303
    page = meteo.get(url).text
    assert "x86-hpc" not in page  # a data provider sees no pool's bid
    meteo.post(f"{url}/bids", data={"csrf_token": csrf_of(page), "offer": f"component:{weather_listed.id}",
                                    "price": "1.50"}, follow_redirects=False)

    board = insurer.get(url).text
    winner = re.search(r"<tr data-winner>.*?</tr>", board, re.S).group(0)
    assert "¥200.00" in winner and "人工报价" in winner and auto_id not in winner
    winner_id = re.search(r'name="bid" value="(bid_[^"]+)"', winner).group(1)
    data_id = re.search(r'type="radio" name="bid" value="(bid_[^"]+)"', board).group(1)
    # only the auction's winner can be accepted
    r = insurer.post(f"{url}/accept", data={"csrf_token": csrf_of(board), "bid": [data_id, auto_id]})
    assert r.status_code == 403 and "demand.not_auction_winner" in r.text
    r = insurer.post(f"{url}/accept", data={"csrf_token": csrf_of(board), "bid": [data_id, winner_id]},
                     follow_redirects=False)
    assert r.status_code == 303, r.text
    awarded = insurer.get(url).text
    assert re.search(r'href="/contracts/ctr_\w+"', awarded) and "算力价款已为中标算力池冻结" in awarded
    assert 'name="bid"' not in awarded
    with exchange.db.transaction() as s:
        from suanshu.market.tables import Bid

        assert s.get(Bid, winner_id).hold_transfer_id and s.get(Bid, auto_id).state == "rejected"


def test_bad_compute_needs_are_refused_with_a_code(browser_for, weather_listed):
    insurer = browser_for("insurer")
    r = post_demand(insurer, cpu="many", hours="2")
    assert r.status_code == 422 and "demand.invalid" in r.text
    r = post_demand(insurer, cpu="4")  # no hours
    assert r.status_code == 422 and "demand.invalid" in r.text


def test_the_inbox_speaks_the_viewers_language(browser_for, exchange, weather_listed):
    from suanshu.market import demands
    from suanshu.market.tables import Notification

    insurer, meteo = browser_for("insurer"), browser_for("meteo")
    url = post_demand(insurer).headers["location"]
    demand_id = url.rsplit("/", 1)[1]
    page = meteo.get(url).text
    meteo.post(f"{url}/bids", data={"csrf_token": csrf_of(page), "offer": f"component:{weather_listed.id}",
                                    "price": "1.50"})
    board = insurer.get(url).text
    bid_id = re.search(r'name="bid" value="(bid_[^"]+)"', board).group(1)
    insurer.post(f"{url}/accept", data={"csrf_token": csrf_of(board), "bid": bid_id})
    with exchange.db.transaction() as s:  # a row written before notifications kept their parameters
        s.add(Notification(id="ntf_0old", org_id=orgs.local_actor(exchange, "hunan-meteo").org_id,
                           kind="demand.match", subject=demand_id,
                           message="新的场景需求与您的产品或算力匹配：旧需求"))

    english = browser_for("meteo", lang="en").get("/demands").text
    assert "A new demand matches your components or pools: 长沙 2023 年逐时天气" in english
    assert "Your bid on the demand “长沙 2023 年逐时天气” won" in english
    assert "与您的产品或算力匹配：长沙" not in english and "已中标" not in english
    assert "新的场景需求与您的产品或算力匹配：旧需求" in english  # shown as stored
    chinese = meteo.get("/demands").text
    assert "新的场景需求与您的产品或算力匹配：长沙 2023 年逐时天气" in chinese
    assert "您对需求“长沙 2023 年逐时天气”的报价已中标" in chinese
    # the API and CLI keep their text
    texts = [demands.notification_json(n)["message"]
             for n in demands.notifications(exchange, orgs.local_actor(exchange, "hunan-meteo"))]
    assert "您对需求“长沙 2023 年逐时天气”的报价已中标" in texts and "新的场景需求与您的产品或算力匹配：旧需求" in texts
