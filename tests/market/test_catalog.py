"""Open catalogs: the DCAT/ODRL export validates against its JSON-LD context (pyld, offline) and
round-trips through import into another exchange, where the listings are searchable."""

from __future__ import annotations

import copy
import json

import pytest
from fastapi.testclient import TestClient
from pyld import jsonld

from suanshu.api.app import create_app
from suanshu.core.errors import Refused, UsageError
from suanshu.core.settings import load_settings
from suanshu.market import catalog, orgs, search
from suanshu.market.exchange import Exchange

VOCABS = (catalog.DCAT, catalog.DCT, catalog.ODRL, catalog.FOAF, catalog.SUANSHU)
BASE = "https://hunan.example"


def properties(node, out: list) -> list:
    """Every (property) key below node, compacted or expanded, JSON-LD keywords aside."""
    if isinstance(node, list):
        for n in node:
            properties(n, out)
    elif isinstance(node, dict):
        for k, v in node.items():
            if not k.startswith("@"):
                out.append(k)
            if k != "@context":
                properties(v, out)
    return out


def test_export_validates_against_its_context(world):
    doc = catalog.export_dcat(world.ex, base_url=BASE)
    assert len(doc["dcat:dataset"]) == 3
    expanded = jsonld.expand(doc, {"documentLoader": catalog._no_remote})
    # nothing dropped: every compact key expanded to an IRI in one of the vocabularies
    compact_keys, expanded_keys = properties(doc, []), properties(expanded, [])
    assert len(compact_keys) == len(expanded_keys)
    assert all(k.startswith(VOCABS) for k in expanded_keys)
    # and it compacts back to the same graph
    again = jsonld.expand(jsonld.compact(expanded, {"@context": catalog.CONTEXT},
                                         {"documentLoader": catalog._no_remote}),
                          {"documentLoader": catalog._no_remote})
    assert again == expanded
    quads = jsonld.to_rdf(doc, {"format": "application/n-quads", "documentLoader": catalog._no_remote})
    weather = f"<{BASE}/api/v1/components/{world.components['hunan_weather_monthly']}>"
    assert f"{weather} <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> <{catalog.DCAT}Dataset>" in quads
    assert f"{weather} <{catalog.ODRL}hasPolicy> <{weather[1:-1]}/policy>" in quads
    assert f"<{weather[1:-1]}/policy> <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> <{catalog.ODRL}Offer>" in quads
    assert f'"2.00"^^<{catalog.XSD}decimal>' in quads  # 200 fen per query
    assert f"<{catalog.ODRL}compensate>" in quads and f"<{catalog.ODRL}payAmount>" in quads


def test_policy_terms_become_odrl_constraints():
    policy = {"mode": "dp", "purpose": ["保险精算"], "residency": ["湖南-长沙"], "expiry": "2027-01-01T00:00:00Z"}
    offer = catalog.odrl_offer(policy, 12345, uid="urn:x:p", target="urn:x", assigner="urn:o")
    perm = offer["odrl:permission"][0]
    left = {c["odrl:leftOperand"]: c for c in perm["odrl:constraint"]}
    assert left["odrl:purpose"]["odrl:rightOperand"] == ["保险精算"]
    assert left["odrl:spatial"]["odrl:operator"] == "odrl:isAnyOf"
    assert left["odrl:dateTime"]["odrl:rightOperand"]["@value"] == "2027-01-01T00:00:00Z"
    assert left["suanshu:accessMode"]["odrl:rightOperand"] == "dp"
    pay = perm["odrl:duty"][0]["odrl:constraint"][0]
    assert pay["odrl:rightOperand"]["@value"] == "123.45" and pay["odrl:unit"] == catalog.CNY


def test_round_trip_into_another_exchange(world, tmp_path):
    doc = catalog.export_dcat(world.ex, base_url=BASE)
    other = Exchange.open(load_settings(tmp_path / "other-home", f"sqlite:///{tmp_path / 'other.db'}"))
    try:
        orgs.ensure_operator(other)
        result = catalog.import_dcat(other, None, doc)
        assert result == {"source": f"{BASE}/api/v1/catalog/dcat", "added": 3, "updated": 0, "datasets": 3}
        listings = {e.title: e for e in catalog.list_external(other)}
        weather = listings["湖南省逐时气象观测（按站点/月聚合）"]
        assert (weather.price_fen, weather.publisher, weather.region, weather.mode) == (
            200, "湖南省气象数据中心", "湖南-长沙", "aggregate")
        assert set(weather.tags) == {"气象", "逐时", "湖南", "2023"}
        # the offer survives: re-exporting the imported offer's price gives the same fen
        assert catalog._price_fen(weather.offer) == 200
        hits = search.search(other, "天气 湖南").hits
        assert hits and hits[0].doc.kind == "external" and hits[0].doc.source == result["source"]
        assert search.search(other, "天气", include_external=False).total == 0
        # re-import updates in place; a compaction with another context reads the same
        recompacted = jsonld.compact(jsonld.expand(doc, {"documentLoader": catalog._no_remote}),
                                     {"@context": {"d": catalog.DCAT, "t": catalog.DCT, "o": catalog.ODRL,
                                                   "f": catalog.FOAF, "s": catalog.SUANSHU}},
                                     {"documentLoader": catalog._no_remote})
        assert catalog.import_dcat(other, None, recompacted)["updated"] == 3
        assert len(catalog.list_external(other)) == 3
    finally:
        other.close()


def test_bad_documents_are_refused_offline(world):
    ex = world.ex
    with pytest.raises(UsageError) as err:
        catalog.import_dcat(ex, None, {"@context": "https://example.org/remote.jsonld", "@type": "dcat:Catalog"})
    assert err.value.code == "catalog.bad_jsonld"
    with pytest.raises(UsageError) as err:
        catalog.import_dcat(ex, None, {"@context": catalog.CONTEXT, "@type": "dcat:Dataset", "@id": "urn:x"})
    assert err.value.code == "catalog.bad_dcat"
    no_id = copy.deepcopy(catalog.export_dcat(ex, base_url=BASE))
    del no_id["dcat:dataset"][0]["@id"]
    with pytest.raises(UsageError):
        catalog.import_dcat(ex, None, no_id)
    with pytest.raises(Refused):
        catalog.import_dcat(ex, world.actor("insurer"), catalog.export_dcat(ex, base_url=BASE))


def test_dcat_over_the_api_and_the_cli(world, tmp_path, monkeypatch):
    ex = world.ex
    with TestClient(create_app(ex)) as client:
        r = client.get("/api/v1/catalog/dcat")  # open to connectors: no token
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/ld+json")
        assert {d["dct:identifier"] for d in r.json()["dcat:dataset"]} == set(world.components.values())
    from typer.testing import CliRunner

    from suanshu.cli.main import app

    monkeypatch.setenv("SUANSHU_HOME", str(ex.settings.home))
    monkeypatch.setenv("SUANSHU_DATABASE_URL", ex.settings.database_url)
    result = CliRunner().invoke(app, ["catalog", "export", "--format", "dcat", "--base-url", BASE])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    assert printed["@type"] == "dcat:Catalog" and len(printed["dcat:dataset"]) == 3
    path = tmp_path / "remote.jsonld"
    remote = copy.deepcopy(printed)
    remote["@id"] = "https://other-exchange.example/catalog"
    path.write_text(json.dumps(remote, ensure_ascii=False), encoding="utf-8")
    result = CliRunner().invoke(app, ["catalog", "import", str(path), "-f", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["added"] == 3
    found = CliRunner().invoke(app, ["catalog", "search", "坡度", "-f", "json"])
    kinds = sorted(h["kind"] for h in json.loads(found.output)["hits"])
    assert kinds == ["component", "external"]
