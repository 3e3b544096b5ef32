"""Listing registration (登记): the record, its audit entry, the signed certificate."""

from __future__ import annotations

import json
import re

import pytest
from fastapi.testclient import TestClient
from market_world import LAND, WEATHER
from sqlalchemy import func, select

from suanshu.api.app import create_app
from suanshu.audit import checkpoint, merkle
from suanshu.audit.models import AuditEvent
from suanshu.core.errors import Conflict, Refused, UsageError
from suanshu.core.orgs import OPERATOR_ORG
from suanshu.market import orgs, registration, review
from suanshu.market.components import ComponentSpec
from suanshu.market.models import Component
from suanshu.market.tables import Registration


def test_registration_is_recorded_audited_and_signed(world):
    ex = world.ex
    cid = world.components["hunan_weather_monthly"]
    reg = registration.ensure(ex, world.actor("insurer"), cid)
    assert registration.ensure(ex, None, cid).id == reg.id  # one registration per component version
    rec = reg.record
    assert rec["identifier"] == cid and rec["version"] == 1 and rec["type"] == "统计聚合型"
    assert rec["provider"]["display_name"] == "湖南省气象数据中心" and rec["price_fen_per_query"] == 200
    assert rec["security"]["gate_passed"] and rec["security"]["scan_grade"].startswith("general-")
    assert len(rec["content_sha256"]) == 64 and rec["source"]["rows"] == 1500
    with ex.db.transaction() as s:
        ev = s.get(AuditEvent, reg.audit_seq)
        assert (ev.action, ev.subject) == ("component.register", cid)
        assert ev.payload["record_sha256"] == reg.record_sha256

    doc = registration.signed(ex, reg)
    assert registration.verify(doc)
    assert doc["public_key"] == checkpoint.public_key(ex.settings.home)
    # the embedded inclusion proof checks out against the tree root (RFC 9162)
    p = doc["inclusion_proof"]
    assert merkle.verify_inclusion(bytes.fromhex(p["leaf_hash"]), p["leaf_index"], p["tree_size"],
                                   [bytes.fromhex(h) for h in p["audit_path"]], bytes.fromhex(p["root"]))
    tampered = json.loads(json.dumps(doc))
    tampered["record"]["price_fen_per_query"] = 1
    assert not registration.verify(tampered)
    forged = dict(doc, signature="00" * 64)
    assert not registration.verify(forged)


def test_only_listed_components_register_and_only_providers_state_legality(world):
    ex = world.ex
    cid = world.components["county_crop_yield"]
    with pytest.raises(Refused) as err:
        registration.ensure(ex, world.actor("insurer"), cid, statement="我方声明数据来源合法合规，授权完备。")
    assert err.value.code == "registration.not_provider"
    reg = registration.ensure(ex, world.actor("agri"), cid, statement="合作社填报数据，已取得农户书面授权。")
    assert reg.record["source_legality_statement"] == "合作社填报数据，已取得农户书面授权。"
    with ex.db.transaction() as s:
        comp = s.get(Component, world.components["land_use_stats"])
        comp.state = "delisted"
    with ex.db.transaction() as s:
        with pytest.raises(Refused):
            registration.register(s, s.get(Component, world.components["land_use_stats"]), actor_label="t")


def test_certificate_over_the_api_and_cli(world, tmp_path, monkeypatch):
    ex = world.ex
    cid = world.components["hunan_weather_monthly"]
    with TestClient(create_app(ex)) as client:
        h = {"Authorization": f"Bearer {world.tokens['insurer']}"}
        r = client.get(f"/api/v1/components/{cid}/registration", headers=h)
        assert r.status_code == 200 and r.json()["component"] == cid
        seq = r.json()["audit_seq"]
        html = client.get(f"/api/v1/components/{cid}/certificate", headers=h)
        assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
        assert "数据产品登记证书" in html.text and f"/api/v1/audit/proof/{seq}" in html.text
        embedded = json.loads(re.search(r'<script type="application/json" id="registration">(.*?)</script>',
                                        html.text, re.DOTALL).group(1))
        assert registration.verify(embedded) and embedded["audit_seq"] == seq
        # the operator (and auditors) fetch the proof the certificate links to
        op = {"Authorization": f"Bearer {orgs.issue_token(ex, OPERATOR_ORG)}"}
        proof = client.get(f"/api/v1/audit/proof/{seq}", headers=op).json()
        assert proof["leaf_index"] == embedded["inclusion_proof"]["leaf_index"]
        r = client.get("/api/v1/components/cmp_missing/registration", headers=h)
        assert r.status_code == 404
    from typer.testing import CliRunner

    from suanshu.cli.main import app

    monkeypatch.setenv("SUANSHU_HOME", str(ex.settings.home))
    monkeypatch.setenv("SUANSHU_DATABASE_URL", ex.settings.database_url)
    out = tmp_path / "cert.html"
    result = CliRunner().invoke(app, ["component", "certificate", cid, "--out", str(out), "-f", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["audit_seq"] == seq and "登记编号" in out.read_text(encoding="utf-8")
    with ex.db.transaction() as s:
        assert s.scalar(select(AuditEvent.seq).where(AuditEvent.action == "component.register")) == seq


def test_approval_lists_and_registers_in_one_transaction(world):
    ex = world.ex
    meteo, operator = world.actor("meteo"), orgs.local_actor(ex, OPERATOR_ORG)
    spec = ComponentSpec(**dict(WEATHER, name="weather_v2", source_legality_statement="  "))
    with pytest.raises(UsageError) as err:
        review.submit(ex, meteo, spec)
    assert err.value.code == "component.no_legality_statement"
    with pytest.raises(UsageError) as err:
        review.submit(ex, meteo, ComponentSpec(**dict(WEATHER, name="weather_v2", source_legality_statement="长" * 2001)))
    assert err.value.code == "component.bad_legality_statement"

    statement = "本中心国家气象站业务观测数据，依《气象法》取得，有权对外提供。"
    waiting = review.submit(ex, meteo, ComponentSpec(**dict(WEATHER, name="weather_v2",
                                                            source_legality_statement=statement)))
    with ex.db.transaction() as s:
        assert s.scalar(select(Registration).where(Registration.component_id == waiting.id)) is None
    review.approve(ex, operator, waiting.id)
    with ex.db.transaction() as s:
        reg = s.scalar(select(Registration).where(Registration.component_id == waiting.id))
        approve_ev, register_ev = s.scalars(select(AuditEvent).where(AuditEvent.subject == waiting.id).order_by(
            AuditEvent.seq.desc()).limit(2)).all()[::-1]
    assert reg.record["source_legality_statement"] == statement
    # the listing and its registration: consecutive entries of the same transaction, by the operator
    assert (approve_ev.action, register_ev.action) == ("component.approve", "component.register")
    assert register_ev.seq == approve_ev.seq + 1 == reg.audit_seq and register_ev.actor == approve_ev.actor
    assert registration.ensure(ex, None, waiting.id).id == reg.id
    html = registration.certificate_html(ex, reg, base_url="https://exchange.example")
    assert statement in html and f"https://exchange.example/api/v1/audit/proof/{reg.audit_seq}" in html


def test_no_statement_no_listing(world):
    """A version submitted before statements were required cannot be listed: nothing changes."""
    ex = world.ex
    operator = orgs.local_actor(ex, OPERATOR_ORG)
    waiting = review.submit(ex, world.actor("geo"), ComponentSpec(**dict(LAND, name="land_v2")))
    with ex.db.transaction() as s:
        s.get(Component, waiting.id).source_legality_statement = ""
        before = s.scalar(select(func.max(AuditEvent.seq)))
    with pytest.raises(Conflict) as err:
        review.approve(ex, operator, waiting.id)
    assert err.value.code == "registration.no_legality_statement"
    with ex.db.transaction() as s:
        assert s.get(Component, waiting.id).state == "in_review"
        assert s.scalar(select(func.max(AuditEvent.seq))) == before
        assert s.scalar(select(Registration).where(Registration.component_id == waiting.id)) is None
