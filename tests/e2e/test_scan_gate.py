"""Issue 3's end-to-end check: a GB18030 CSV with personal information is ingested and scanned;
the compliance gate refuses a component that shows it in clear and lists one whose columns are
generalized, hashed or dropped — and a rescan of what a buyer sees finds nothing."""

from __future__ import annotations

import random

import pytest
from fixtures.scan_corpus import Gen

from suanshu.core.errors import Refused
from suanshu.market import assets, components, orgs
from suanshu.market.exchange import Exchange

POLICY = {"mode": "aggregate", "min_group_size": 5, "aggregates": ["count", "sum", "avg"],
          "columns": {"area_year": "dimension", "district": "dimension", "age": "dimension",
                      "location": "dimension", "fee": "aggregate"}}


@pytest.fixture
def ex(settings):
    exchange = Exchange.open(settings)
    orgs.ensure_operator(exchange)
    orgs.create_org(exchange, None, "clinic", ["provider"], region="cn-hunan")
    yield exchange
    exchange.close()


@pytest.fixture
def gb18030_csv(tmp_path):
    g, rng = Gen(21), random.Random(21)
    lines = ["姓名,area_year,district,age,location,手机,fee"]
    for _ in range(300):
        lines.append(",".join([g.name(), g.rid(), g.address(), str(rng.randrange(18, 90)), f'"{g.coord()}"',
                               g.mobile().replace(" ", ""), str(rng.randrange(50, 500))]))
    path = tmp_path / "病人.csv"
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("gb18030"))
    return path


def spec(name, rules):
    return components.ComponentSpec(name=name, asset="patients", sql=None, policy=POLICY, price_fen=100,
                                    desensitize=rules)


def test_gate_refuses_clear_and_lists_generalized(ex, gb18030_csv):
    provider = orgs.local_actor(ex, "clinic")
    asset, scan = assets.add_asset(ex, provider, gb18030_csv, name="patients")
    assert asset.encoding == "gb18030" and scan.grade == "general-4"
    types = {c["name"]: {t["type"] for t in c["types"]} for c in scan.report["columns"]}
    assert {"CN_RESIDENT_ID"} <= types["area_year"] and {"ADDRESS"} <= types["district"]
    assert {"GEO_COORDINATE"} <= types["location"] and {"PERSON_NAME"} <= types["姓名"]

    with pytest.raises(Refused) as refused:
        components.publish(ex, provider, spec("patients_clear", {"姓名": {"method": "drop"},
                                                                  "手机": {"method": "drop"}}))
    assert refused.value.code == "gate.personal_info_in_clear"
    assert {p["column"] for p in refused.value.details["problems"]} >= {"area_year", "district", "location"}

    rules = {"姓名": {"method": "drop"}, "手机": {"method": "hash"},
             "area_year": {"method": "generalize", "kind": "resident_id", "area_digits": 4},
             "district": {"method": "generalize", "kind": "address"},
             "age": {"method": "generalize", "kind": "age", "width": 10},
             "location": {"method": "generalize", "kind": "coordinate", "decimals": 2}}
    listed = components.publish(ex, provider, spec("patients_general", rules))
    assert listed.state == "listed" and listed.gate["passed"]
    assert listed.desensitize["area_year"] == {"method": "generalize", "kind": "resident_id", "area_digits": 4}
