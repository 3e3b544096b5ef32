"""The registration certificate (登记证书) from the console: approving a component registers it, and
its page links to the signed, printable certificate with the statement and the audit proof link."""

from __future__ import annotations

import json
import re

from suanshu.demo import datasets
from suanshu.demo.story import COMPONENTS
from suanshu.market import assets, orgs, registration, review
from suanshu.market.components import ComponentSpec

WEATHER = COMPONENTS["hunan-meteo"]


def test_the_certificate_of_an_approved_component(browser_for, exchange, tmp_path):
    provider = orgs.local_actor(exchange, "hunan-meteo")
    assets.add_asset(exchange, provider, datasets.write_csv(datasets.meteorology_hourly(rows=300),
                                                            tmp_path / "w.csv"), name=WEATHER["asset"])
    waiting = review.submit(exchange, provider, ComponentSpec(**WEATHER))
    insurer = browser_for("insurer")
    assert insurer.get(f"/components/{waiting.id}/certificate").status_code == 404  # not listed: not visible
    review.approve(exchange, orgs.local_actor(exchange, "exchange"), waiting.id)

    page = insurer.get(f"/catalog/{waiting.id}").text
    assert f'href="/components/{waiting.id}/certificate"' in page and "登记证书" in page
    cert = insurer.get(f"/components/{waiting.id}/certificate")
    assert cert.status_code == 200 and cert.headers["content-type"].startswith("text/html")
    assert WEATHER["source_legality_statement"] in cert.text
    doc = json.loads(re.search(r'<script type="application/json" id="registration">(.*?)</script>', cert.text,
                               re.S).group(1))
    assert registration.verify(doc) and f"http://testserver/api/v1/audit/proof/{doc['audit_seq']}" in cert.text
