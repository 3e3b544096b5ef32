"""The trade loop through the console's forms (in-process client, real SQLite, real scan and sandbox)."""

from __future__ import annotations

import re

from suanshu.demo import datasets
from suanshu.web import render
from web.conftest import csrf_of

ROWS = 600


def gbk_weather(tmp_path):
    return datasets.write_csv(datasets.meteorology_hourly(rows=ROWS), tmp_path / "湖南气象逐时.csv", encoding="gbk")


def upload(client, path, name=""):
    token = csrf_of(client.get("/vault").text)
    with open(path, "rb") as f:
        return client.post("/vault/upload", data={"csrf_token": token, "name": name},
                           files={"file": (path.name, f, "text/csv")}, follow_redirects=False)


def compose_form(html: str, asset_id: str, **fields) -> dict:
    """The compose form as a browser would submit it with its suggested defaults, plus ``fields``."""
    form = {"csrf_token": csrf_of(html), "asset": asset_id, "mode": "aggregate", "min_group_size": "10",
            "max_rows": "100", "agg-count": "on", "agg-sum": "on", "agg-avg": "on",
            "legality": "气象站业务观测数据，依法取得并有权对外提供"}
    for m in re.finditer(r'<select name="(col-\d+-(?:method|role))"[^>]*>(.*?)</select>', html, re.S):
        selected = re.search(r'<option value="([^"]+)" selected', m.group(2))
        form[m.group(1)] = selected.group(1)
    for m in re.finditer(r'name="(col-\d+-keep)" checked', html):
        form[m.group(1)] = "on"
    return form | fields


def test_provider_uploads_gbk_and_reads_the_scan_report(browser_for, tmp_path):
    meteo = browser_for("meteo")
    r = upload(meteo, gbk_weather(tmp_path), "weather")
    assert r.status_code == 303 and r.headers["location"].startswith("/vault/ast_")
    report = meteo.get(r.headers["location"]).text
    assert "gb18030" in report or "gbk" in report.lower()
    assert "station_name" in report and "检测报告" in report  # zh-CN by default
    assert 'data-chart="chart-types"' in report
    # the vault lists it with its row count
    assert f"{ROWS:,}" in meteo.get("/vault").text


def test_upload_of_a_bad_file_says_what_to_do(browser_for, tmp_path):
    meteo = browser_for("meteo")
    bad = tmp_path / "empty.csv"
    bad.write_bytes(b"")
    r = upload(meteo, bad)
    assert r.status_code in (400, 422) and "vault." in r.text and "重新上传" in r.text
    junk = tmp_path / "降雨 junk.csv"
    junk.write_bytes(bytes(range(128, 256)) * 8)
    r = upload(meteo, junk)
    assert r.status_code in (400, 422) and "降雨 junk.csv" in r.text and "upload.csv" not in r.text


def test_masked_samples_never_show_a_whole_identifier(browser_for, tmp_path):
    meteo = browser_for("meteo")
    subs = datasets.telecom_subscribers(rows=80)
    path = datasets.write_csv(subs, tmp_path / "subscribers.csv")
    report = meteo.get(upload(meteo, path).headers["location"]).text
    ids = subs.column("resident_id").to_pylist()
    assert "CN_RESIDENT_ID" in report
    assert not any(i in report for i in ids)
    masked = re.findall(r'class="mono">(\d{3}\*+\d{4}|\d{4}\*+\w{4})<', report)
    assert masked, "masked resident ids are shown"


def test_compose_list_sign_query_refuse_and_bill(browser_for, tmp_path, exchange):
    meteo, insurer = browser_for("meteo"), browser_for("insurer")
    asset_url = upload(meteo, gbk_weather(tmp_path), "weather").headers["location"]
    asset_id = asset_url.rsplit("/", 1)[1]
    html = meteo.get(f"/components/new?asset={asset_id}").text
    form = compose_form(html, asset_id, name="hunan_rain", title="湖南降雨月度统计", price="2.50",
                        description="按城市聚合的降水与气温", tags="气象, 降雨")
    r = meteo.post("/components/new", data=form, follow_redirects=False)
    assert r.status_code == 303, r.text[-3000:]
    assert "审核中" in meteo.get("/components").text
    assert "湖南降雨月度统计" not in insurer.get("/catalog", params={"q": "降雨"}).text  # not listed yet

    # the operator sees it in the queue with its grade, refuses a rejection without reason, approves
    op = browser_for("op")
    queue = op.get("/review").text
    assert "湖南降雨月度统计" in queue and "general-" in queue
    cid = re.search(r'action="/review/(cmp_[^"]+)"', queue).group(1)
    r = op.post(f"/review/{cid}", data={"csrf_token": csrf_of(queue), "decision": "reject", "reason": ""})
    assert r.status_code == 422 and "review.reason_required" in r.text
    r = op.post(f"/review/{cid}", data={"csrf_token": csrf_of(queue), "decision": "approve", "reason": "ok"},
                follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/review?done=approved"
    assert "已上架" in meteo.get("/components").text

    # the buyer finds it by a Chinese word inside the title
    found = insurer.get("/catalog", params={"q": "降雨"}).text
    cid = re.search(r'href="/catalog/(cmp_[^"]+)"', found).group(1)
    page = insurer.get(f"/catalog/{cid}").text
    assert "¥2.50" in page and "差分" in page  # the differencing warning in plain words
    assert "长沙市" in page or "<td>" in page
    r = insurer.post(f"/catalog/{cid}/sign", data={"csrf_token": csrf_of(page), "budget": "100.00",
                                                     "purpose": "", "days": "30"}, follow_redirects=False)
    assert r.status_code == 303
    contract_url = r.headers["location"].split("?")[0]
    page = insurer.get(contract_url).text
    token = csrf_of(page)
    sql = ("SELECT city, count(*) AS n, round(avg(temperature_c), 1) AS t FROM hunan_rain "
           "GROUP BY city ORDER BY city")
    answer = insurer.post(contract_url + "/query", data={"csrf_token": token, "sql": sql},
                          headers={"HX-Request": "true"})
    assert answer.status_code == 200 and "data-result" in answer.text and "<html" not in answer.text
    assert 'data-chart="chart-result"' in answer.text and "¥2.50" in answer.text
    refused = insurer.post(contract_url + "/query", data={"csrf_token": token,
                                                          "sql": "SELECT station_id FROM hunan_rain"})
    assert refused.status_code == 403 and "data-refusal" in refused.text and "query." in refused.text
    assert "未产生任何费用" in refused.text
    bills = insurer.get("/invoices").text
    assert "¥2.50" in bills and "湖南降雨月度统计" in bills
    assert "还没有作业" in insurer.get("/jobs").text
    # a job under an aggregate contract is recorded as denied, with its code shown on the job's page
    job = insurer.post(contract_url + "/jobs", data={"csrf_token": token, "program": "print(1)"})
    assert "/jobs/job_" in str(job.url) and "<code>policy.mode_mismatch</code>" in job.text
    assert "policy.mode_mismatch" in insurer.get("/jobs").text
    revenue = meteo.get("/contracts").text
    assert "湖南降雨月度统计" in revenue and 'data-chart="chart-revenue"' in revenue


def test_english_switch_and_default_chinese(browser_for):
    zh = browser_for("insurer")
    assert "目录" in zh.get("/catalog").text
    r = zh.get("/lang/en?next=/catalog", follow_redirects=False)
    assert r.status_code == 303 and "suanshu_lang=en" in r.headers["set-cookie"]
    zh.cookies.set("suanshu_lang", "en")
    page = zh.get("/catalog").text
    assert "Catalog" in page and '<html lang="en">' in page and "目录" not in page.replace("e.g.", "")


def test_operator_dashboard_and_auditor_log_verify(browser_for):
    op = browser_for("op")
    assert "交易所还没有任何活动" in op.get("/dashboard").text or "chart-gmv" in op.get("/dashboard").text
    audit = op.get("/audit").text
    assert "data-verify" in audit and "校验通过" in audit and "user.sign_in" in audit
    filtered = op.get("/audit", params={"action": "org.create"}).text
    assert "org.create" in filtered and "user.sign_in</code>" not in filtered


def test_console_renders_without_vendor_files_and_says_so(browser_for, monkeypatch, tmp_path):
    monkeypatch.setattr(render, "VENDOR", tmp_path / "no-vendor")
    page = browser_for("insurer").get("/catalog").text
    assert "echarts.min.js" not in page and "make assets" in page


def test_every_marked_string_has_a_chinese_translation():
    from babel.messages.extract import extract_from_dir

    from suanshu.web import i18n

    web = render.HERE
    method_map = [("**/templates/**.html", "jinja2"), ("**.py", "python")]
    options = {"**/templates/**.html": {"extensions": "jinja2.ext.i18n"}}
    ids = {msg[2] if isinstance(msg[2], str) else msg[2][0]
           for msg in extract_from_dir(web, method_map, options_map=options)}
    zh = i18n.translations("zh-CN")
    untranslated = sorted(m for m in ids if zh.ugettext(m) == m and m not in {"SQL", "CPU"})
    assert not untranslated, untranslated


def test_rejection_reason_reaches_the_provider_who_resubmits(browser_for, tmp_path):
    meteo, op = browser_for("meteo"), browser_for("op")
    asset_id = upload(meteo, gbk_weather(tmp_path), "weather").headers["location"].rsplit("/", 1)[1]
    html = meteo.get(f"/components/new?asset={asset_id}").text
    form = compose_form(html, asset_id, name="rain_v", title="降水统计", price="1.00")
    assert meteo.post("/components/new", data=form, follow_redirects=False).status_code == 303
    queue = op.get("/review").text
    cid = re.search(r'action="/review/(cmp_[^"]+)"', queue).group(1)
    op.post(f"/review/{cid}", data={"csrf_token": csrf_of(queue), "decision": "reject", "reason": "请补充数据来源说明"})
    mine = meteo.get("/components").text
    assert "已驳回" in mine and "请补充数据来源说明" in mine
    r = meteo.post(f"/components/{cid}/resubmit", data={"csrf_token": csrf_of(mine)}, follow_redirects=False)
    assert r.status_code == 303 and "审核中" in meteo.get("/components").text
    assert cid in op.get("/review").text
