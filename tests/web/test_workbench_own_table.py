"""The query workbench: a buyer attaches their own small table (GBK CSV) for the join role, and
refusals about it are explained in plain words."""

from __future__ import annotations

import pytest

from suanshu.demo import datasets
from suanshu.market import assets, components, contracts, orgs
from suanshu.market.components import ComponentSpec
from web.conftest import csrf_of

POLICY = {"mode": "aggregate", "min_group_size": 5, "aggregates": ["count", "avg"],
          "columns": {"station_id": "join", "city": "dimension", "temperature_c": "aggregate"}}


@pytest.fixture
def signed(exchange, browser_for, tmp_path):
    weather = datasets.meteorology_hourly(rows=400)
    path = datasets.write_csv(weather, tmp_path / "weather.csv")
    meteo = orgs.local_actor(exchange, "hunan-meteo")
    assets.add_asset(exchange, meteo, path, name="weather")
    comp = components.publish(exchange, meteo, ComponentSpec(name="wx", asset="weather", sql=None, policy=POLICY,
                                                             price_fen=100, desensitize={}))
    contract = contracts.request(exchange, orgs.local_actor(exchange, "xiangnong-insurance"), comp.id, 5_000)
    stations = sorted(set(weather.column("station_id").to_pylist()))
    insurer = browser_for("insurer")
    return insurer, f"/contracts/{contract.id}", stations


SQL = ("SELECT o.segment, count(*) AS n FROM wx AS t JOIN own AS o ON t.station_id = o.station_id "
       "GROUP BY o.segment ORDER BY o.segment")


def gbk_csv(rows: list[tuple[str, str]]) -> bytes:
    return ("station_id,segment\n" + "".join(f"{a},{b}\n" for a, b in rows)).encode("gbk")


def test_the_workbench_offers_the_upload_only_where_the_policy_has_join_columns(signed):
    insurer, url, _stations = signed
    page = insurer.get(url).text
    assert 'enctype="multipart/form-data"' in page and 'id="own_file"' in page
    assert "关联您自己的表（关联字段：station_id）" in page


def test_a_gbk_csv_joins_and_the_answer_says_so(signed):
    insurer, url, stations = signed
    token = csrf_of(insurer.get(url).text)
    own = gbk_csv([(s, "沿江" if i % 2 else "山区") for i, s in enumerate(stations)])
    r = insurer.post(url + "/query", data={"csrf_token": token, "sql": SQL, "own_name": "own"},
                     files={"own_file": ("我的站点.csv", own, "text/csv")}, headers={"HX-Request": "true"})
    assert r.status_code == 200 and "data-result" in r.text, r.text[-2000:]
    assert "沿江" in r.text and "山区" in r.text and "data-own-used" in r.text and "我的站点.csv" in r.text
    # without htmx the whole page comes back with the answer in it
    plain = insurer.post(url + "/query", data={"csrf_token": token, "sql": SQL},
                         files={"own_file": ("mine.csv", own, "text/csv")})
    assert plain.status_code == 200 and "<html" in plain.text and "沿江" in plain.text


def test_refusals_about_the_own_table_are_explained(signed):
    insurer, url, stations = signed
    token = csrf_of(insurer.get(url).text)
    repeated = gbk_csv([(stations[0], "甲"), (stations[0], "乙")] + [(s, "丙") for s in stations[1:]])
    r = insurer.post(url + "/query", data={"csrf_token": token, "sql": SQL},
                     files={"own_file": ("dup.csv", repeated, "text/csv")}, headers={"HX-Request": "true"})
    assert "data-refusal" in r.text and "query.own_keys_not_unique" in r.text
    assert "每个键只能有一行" in r.text and "未产生任何费用" in r.text
    r = insurer.post(url + "/query", data={"csrf_token": token, "sql": SQL},
                     files={"own_file": ("notes.pdf", b"%PDF-1.4", "application/pdf")}, headers={"HX-Request": "true"})
    assert "query.bad_own_table" in r.text and "无法使用您上传的表" in r.text
    # the key column may not be shown
    r = insurer.post(url + "/query", data={"csrf_token": token,
                                           "sql": "SELECT t.station_id, count(*) FROM wx AS t GROUP BY t.station_id"},
                     headers={"HX-Request": "true"})
    assert "data-refusal" in r.text and "query.column_not_allowed" in r.text
