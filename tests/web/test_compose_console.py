"""Compose in the console: every policy mode, join roles, generalization, errors next to the fields
with nothing typed lost, and the policy explained live (htmx partial)."""

from __future__ import annotations

import re

import pytest

from suanshu.demo import datasets
from suanshu.market import components
from web.conftest import csrf_of

COLUMNS = ["station_id", "station_name", "city", "observed_at", "temperature_c", "precipitation_mm",
           "humidity_pct", "wind_speed_ms"]
LEGALITY = "气象站自有观测数据，依法采集"


def upload(client, table, tmp_path, name: str) -> tuple[str, str]:
    """Upload ``table`` as a CSV through the console: (asset id, the compose form's HTML)."""
    path = datasets.write_csv(table, tmp_path / f"{name}.csv")
    token = csrf_of(client.get("/vault").text)
    with open(path, "rb") as f:
        r = client.post("/vault/upload", data={"csrf_token": token, "name": name},
                        files={"file": (path.name, f, "text/csv")}, follow_redirects=False)
    asset_id = r.headers["location"].rsplit("/", 1)[1]
    return asset_id, client.get(f"/components/new?asset={asset_id}").text


@pytest.fixture
def composer(browser_for, tmp_path):
    meteo = browser_for("meteo")
    asset_id, html = upload(meteo, datasets.meteorology_hourly(rows=300), tmp_path, "weather")
    return meteo, asset_id, html


def form_of(html: str, asset_id: str, roles: dict[str, str], **fields) -> dict:
    """Every column kept as is, with the given roles (others hidden), plus ``fields``."""
    form = {"csrf_token": csrf_of(html), "asset": asset_id, "name": "w", "title": "天气", "price": "1.00",
            "legality": LEGALITY, "min_group_size": "5", "agg-count": "on", "agg-sum": "on", "agg-avg": "on"}
    for i, col in enumerate(COLUMNS):
        form |= {f"col-{i}-keep": "on", f"col-{i}-method": "none", f"col-{i}-role": roles.get(col, "hidden")}
    return form | fields


def idx(col: str) -> int:
    return COLUMNS.index(col)


def test_the_form_offers_every_mode_role_and_desensitization(composer):
    _meteo, _asset, html = composer
    for mode in ("aggregate", "dp", "extract", "job"):
        assert f'id="mode-{mode}" value="{mode}"' in html
    assert '<option value="join"' in html and '<option value="generalize:age"' in html
    assert "hx-post=\"/compose/words\"" in html and "data-policy-words" in html  # explained from the first view
    assert "聚合模式无法阻止差分攻击" in html  # the aggregate mode's differencing limit, in Chinese


def test_dp_errors_sit_next_to_their_fields_and_nothing_typed_is_lost(composer, exchange):
    meteo, asset_id, html = composer
    roles = {"city": "dimension", "temperature_c": "aggregate", "precipitation_mm": "aggregate"}
    t = idx("temperature_c")
    form = form_of(html, asset_id, roles, mode="dp", eps_q="2", eps_total="1", title="湖南气温（差分隐私）",
                   description="按城市统计", **{f"col-{t}-lo": "-40", f"col-{t}-hi": "-50", "agg-max": "on"})
    r = meteo.post("/components/new", data=form)
    assert r.status_code == 422
    page = r.text
    errors = dict(re.findall(r'data-field-error="([^"]+)">([^<]+)<', page))
    assert set(errors) >= {"eps_total", f"col-{t}-hi", f"col-{idx('precipitation_mm')}-lo", "aggregates"}
    assert 'id="eps_total" name="eps_total" value="1" aria-invalid="true"' in page
    # what was typed comes back: texts, mode, the numbers, the role choices
    assert "湖南气温（差分隐私）" in page and "按城市统计" in page and LEGALITY in page
    assert 'id="mode-dp" value="dp" checked' in page and f'name="col-{t}-lo" value="-40"' in page
    assert '<option value="aggregate" selected' in page and 'name="agg-max" checked' in page
    assert not components.list_components(exchange, _provider(exchange))


def _provider(exchange):
    from suanshu.market import orgs
    return orgs.local_actor(exchange, "hunan-meteo")


def test_dp_job_and_join_components_are_published_with_their_policy(composer, exchange):
    meteo, asset_id, html = composer
    t, p = idx("temperature_c"), idx("precipitation_mm")
    dp = form_of(html, asset_id, {"city": "dimension", "temperature_c": "aggregate", "precipitation_mm": "aggregate"},
                 name="w_dp", mode="dp", eps_q="0.5", eps_total="5",
                 **{f"col-{t}-lo": "-40", f"col-{t}-hi": "50", f"col-{p}-lo": "0", f"col-{p}-hi": "300"})
    job = form_of(html, asset_id, {"city": "dimension", "temperature_c": "aggregate"}, name="w_job", mode="job",
                  job_cpu="2", job_memory="4", job_hours="1.5", job_output_kb="512", job_overlap="2")
    joined = form_of(html, asset_id, {"city": "dimension", "station_id": "join", "temperature_c": "aggregate"},
                     name="w_join", residency="湖南-长沙", expiry="2099-01-01",
                     **{f"col-{idx('observed_at')}-method": "generalize:date"})
    for form in (dp, job, joined):
        r = meteo.post("/components/new", data=form, follow_redirects=False)
        assert r.status_code == 303, re.findall(r'data-field-error="[^"]+">[^<]+<|<code>[^<]+</code>', r.text)
    made = {c.name: c for c in components.list_components(exchange, _provider(exchange))}
    assert made["w_dp"].policy["dp"] == {"epsilon_per_query": 0.5, "epsilon_total": 5.0,
                                         "bounds": {"temperature_c": [-40, 50], "precipitation_mm": [0, 300]}}
    assert made["w_job"].policy["job"]["max_output_bytes"] == 512 * 1024
    assert made["w_job"].policy["job"]["max_row_overlap"] == 0.02
    assert made["w_join"].policy["columns"]["station_id"] == "join"
    assert made["w_join"].desensitize["observed_at"]["kind"] == "date"
    assert made["w_join"].policy["expiry"] == "2098-12-31T16:00:00Z"  # Beijing midnight, stored in UTC


def test_extract_refuses_a_join_column_next_to_the_columns(composer):
    meteo, asset_id, html = composer
    form = form_of(html, asset_id, {"city": "dimension", "station_id": "join"}, mode="extract", max_rows="50")
    r = meteo.post("/components/new", data=form)
    assert r.status_code == 422 and 'data-field-error="columns"' in r.text


def test_the_policy_is_explained_live_as_the_form_changes(composer):
    meteo, asset_id, html = composer
    t = idx("temperature_c")
    form = form_of(html, asset_id, {"city": "dimension", "temperature_c": "aggregate", "station_id": "join"},
                   mode="dp", eps_q="0.5", eps_total="5", **{f"col-{t}-lo": "-40", f"col-{t}-hi": "50"})
    r = meteo.post("/compose/words", data=form, headers={"HX-Request": "true"})
    assert r.status_code == 200 and "<html" not in r.text and "data-policy-words" in r.text
    assert "ε 0.5" in r.text and "station_id" in r.text  # budget and the join column in plain words
    incomplete = meteo.post("/compose/words", data=form | {"eps_total": ""}, headers={"HX-Request": "true"})
    assert "data-policy-problems" in incomplete.text


def test_a_gate_refusal_names_the_columns_in_clear_and_keeps_the_form(browser_for, tmp_path):
    """The compliance gate refuses personal information in clear: the page says which columns (and
    still explains the policy being composed) instead of failing."""
    meteo = browser_for("meteo")
    table = datasets.telecom_subscribers(rows=200)
    asset_id, html = upload(meteo, table, tmp_path, "subscribers")
    form = {"csrf_token": csrf_of(html), "asset": asset_id, "name": "subs", "title": "用户", "price": "1.00",
            "legality": LEGALITY, "mode": "aggregate", "min_group_size": "5", "agg-count": "on"}
    roles = {"mobile": "dimension", "monthly_fee_fen": "aggregate"}
    for i, col in enumerate(table.column_names):
        form |= {f"col-{i}-keep": "on", f"col-{i}-method": "none", f"col-{i}-role": roles.get(col, "hidden")}
    r = meteo.post("/components/new", data=form)
    assert r.status_code == 403, r.text[:500]  # a refusal, not a 500
    assert "gate.personal_info_in_clear" in r.text and "<code>mobile</code>" in r.text
    assert 'value="subs"' in r.text and "data-policy-words" in r.text  # nothing typed lost, words still there
