"""The operator's dashboard: per-day aggregates computed in SQL (``market.dashboard``) agree with
a plain Python count over the rows, on Beijing calendar days, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from suanshu.api.app import create_app
from suanshu.core.clock import SHANGHAI, utcnow
from suanshu.core.errors import SuanshuError
from suanshu.core.ids import new_id
from suanshu.demo import datasets
from suanshu.market import assets, components, contracts, dashboard, orgs, queries, settlement, users
from suanshu.market.components import ComponentSpec
from suanshu.market.exchange import Exchange
from suanshu.market.models import Contract, QueryRun
from web.conftest import PASSWORD, sign_in

WEATHER_POLICY = {"mode": "aggregate", "columns": {"city": "dimension", "temperature_c": "aggregate"},
                  "min_group_size": 5}


@pytest.fixture
def trade(settings, tmp_path):
    """A listed component, a contract, an answered and a refused query, plus runs placed on both
    sides of a Beijing midnight."""
    ex = Exchange.open(settings)
    orgs.ensure_operator(ex)
    orgs.create_org(ex, None, "meteo", ["provider"], region="湖南-长沙", display_name="气象")
    orgs.create_org(ex, None, "insurer", ["buyer"], region="湖南-长沙", display_name="保险")
    users.create_user(ex, None, "exchange", "op", PASSWORD)
    op = orgs.local_actor(ex, "exchange")
    settlement.deposit(ex, op, "insurer", 100_000, "test funds")
    meteo, buyer = orgs.local_actor(ex, "meteo"), orgs.local_actor(ex, "insurer")
    csv = datasets.write_csv(datasets.meteorology_hourly(rows=200), tmp_path / "w.csv")
    assets.add_asset(ex, meteo, csv, name="weather")
    comp = components.publish(ex, meteo, ComponentSpec(name="rain", asset="weather", sql=None, policy=WEATHER_POLICY,
                                                       price_fen=250, desensitize={}))
    contract = contracts.request(ex, buyer, comp.id, 10_000)
    queries.run(ex, buyer, contract.id, "SELECT city, count(*) AS n FROM rain GROUP BY city")
    with pytest.raises(SuanshuError):
        queries.run(ex, buyer, contract.id, "SELECT station_id FROM rain")
    midnight = datetime.combine(utcnow().astimezone(SHANGHAI).date() - timedelta(days=3), datetime.min.time(),
                                SHANGHAI).astimezone(UTC)
    with ex.db.transaction() as s:
        for at, fen in ((midnight - timedelta(seconds=1), 100), (midnight, 700), (midnight + timedelta(hours=23), 5)):
            s.add(QueryRun(id=new_id("qry"), contract_id=contract.id, sql="-", query_sha256="0" * 64,
                           status="succeeded", price_fen=fen, receipt={}, created_at=at))
    yield ex, op, midnight
    ex.close()


def _python_reference(ex):
    """What the dashboard used to compute: every row read into Python."""
    day = lambda dt: dt.astimezone(SHANGHAI).strftime("%Y-%m-%d")  # noqa: E731
    gmv, answered, refused, signed = Counter(), Counter(), Counter(), Counter()
    with ex.db.transaction() as s:
        for run in s.query(QueryRun):
            (answered if run.status == "succeeded" else refused)[day(run.created_at)] += 1
            gmv[day(run.created_at)] += run.price_fen
        for c in s.query(Contract):
            signed[day(c.created_at)] += 1
    return gmv, answered, refused, signed


def test_sql_aggregates_match_a_python_count_on_beijing_days(trade):
    ex, op, midnight = trade
    act = dashboard.activity(ex, op, days=30)
    gmv, answered, refused, signed = _python_reference(ex)
    per_day = {d: i for i, d in enumerate(act.days)}
    assert set(act.days) == set(gmv) | set(signed)
    for d, i in per_day.items():
        assert act.series["gmv_fen"][i] == gmv[d]
        assert act.series["queries"][i] == answered[d]
        assert act.series["denied"][i] == refused[d]
        assert act.series["contracts"][i] == signed[d]
    # one second before Beijing midnight is the previous day; midnight itself starts the next
    before = (midnight - timedelta(seconds=1)).astimezone(SHANGHAI).strftime("%Y-%m-%d")
    after = midnight.astimezone(SHANGHAI).strftime("%Y-%m-%d")
    assert act.series["gmv_fen"][per_day[before]] == 100 and act.series["gmv_fen"][per_day[after]] == 705
    assert act.totals["gmv_fen"] == 100 + 705 + 250 and act.totals["assets"] == 1 and act.listed == 1
    # a window of two days leaves the older runs out
    assert before not in dashboard.activity(ex, op, days=2).days


def test_only_operator_and_auditor_see_the_exchange(trade):
    ex, _op, _m = trade
    with pytest.raises(SuanshuError) as err:
        dashboard.activity(ex, orgs.local_actor(ex, "insurer"))
    assert err.value.code.startswith("auth.")
    with pytest.raises(SuanshuError) as err:
        dashboard.activity(ex, orgs.local_actor(ex, "exchange"), days=0)
    assert err.value.code == "dashboard.bad_window"


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_dashboard_page_shows_charts_table_and_window(trade):
    ex, _op, midnight = trade
    with TestClient(create_app(ex)) as client:
        assert sign_in(client, "op").status_code == 303
        page = client.get("/dashboard", params={"days": 30}).text
        assert 'data-chart="chart-gmv"' in page and 'data-chart="chart-trade"' in page
        assert "¥10.55" in page  # GMV over the window, in yuan with fen
        assert 'href="/dashboard?days=30" aria-current="page"' in page
        assert midnight.astimezone(SHANGHAI).strftime("%Y-%m-%d") in page
        week = client.get("/dashboard", params={"days": 7}).text  # the runs 3 days ago are in, all of them
        assert "¥10.55" in week and 'href="/dashboard?days=7" aria-current="page"' in week


def test_provider_revenue_is_summed_in_sql(trade):
    from suanshu.market import workspace

    ex, _op, _m = trade
    with ex.db.transaction() as s:
        expected = sum(int(r.receipt.get("provider_fen", 0)) for r in s.query(QueryRun) if r.status == "succeeded")
    got = workspace.revenue(ex, orgs.local_actor(ex, "meteo"))
    assert expected > 0 and got["total_fen"] == expected == sum(v for _d, v in got["days"])
    assert got["components"] == [("rain", expected)]
