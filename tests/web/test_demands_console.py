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
