"""Metering, rating, invoices, statements, reconciliation and the hold sweeper, on both backends."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from suanshu.billing import rating
from suanshu.core.errors import Conflict, UsageError
from suanshu.demo import datasets
from suanshu.ledger import engine as ledger_engine
from suanshu.market import assets, billing, components, contracts, orgs, settlement
from suanshu.market.exchange import Exchange

PLAN = {"per_query_fen": 250, "per_1000_rows_fen": 40, "per_epsilon_fen": 50_000,
        "resource_hour_fen": {"cpu": 5, "ascend-910b": 1200}, "monthly_fee_fen": 10_000,
        "included": {"queries": 2}, "minimum_fen": 0}
POLICY = {"mode": "aggregate", "min_group_size": 30,
          "columns": {"city": "dimension", "temperature_c": "aggregate"}, "aggregates": ["count", "avg"]}
T0 = datetime(2026, 11, 1, tzinfo=UTC)


def test_rating_lines():
    t = rating.Totals()
    for type_, data in [("query", {"rows": 1500}), ("query", {"rows": 10, "micro_epsilon": 250_000}),
                        ("query", {}), ("resource", {"resource": "ascend-910b", "seconds": 5400}),
                        ("resource", {"resource": "cpu", "seconds": 1}), ("epsilon", {"micro_epsilon": 3})]:
        t.add(f"suanshu.usage.{type_}", data)
    lines = {line.kind: line.amount_fen for line in rating.rate(PLAN, t)}
    # 3 queries, 2 included; 1510 rows * 40/1000 = 60.4 -> 60; ε 0.250003 * 50000 = 12500.15 -> 12500;
    # 1.5 h * 1200 = 1800; 1 s of cpu * 5/3600 -> 0
    assert lines == {"subscription": 10_000, "queries": 250, "rows": 60, "epsilon": 12_500,
                     "resource:ascend-910b": 1800, "resource:cpu": 0}
    assert rating.rate({"minimum_fen": 999, "per_query_fen": 1}, t)[-1].amount_fen == 996
    with pytest.raises(Exception):
        rating.check_plan({"per_query_fen": -1})


@pytest.fixture
def market(settings, tmp_path):
    ex = Exchange.open(settings)
    orgs.ensure_operator(ex)
    for name, role in (("meteo", "provider"), ("insurer", "buyer")):
        orgs.create_org(ex, None, name, [role])
    csv = datasets.write_csv(datasets.meteorology_hourly(rows=300), tmp_path / "w.csv")
    meteo, buyer = orgs.local_actor(ex, "meteo"), orgs.local_actor(ex, "insurer")
    assets.add_asset(ex, meteo, csv, name="weather")
    components.publish(ex, meteo, components.ComponentSpec("weather_city", "weather", None, POLICY, 100, {}))
    settlement.deposit(ex, orgs.local_actor(ex, _operator_name(ex)), "insurer", 1_000_000)
    contract = contracts.request(ex, buyer, "weather_city", 5000, days=30)
    yield ex, contract
    ex.close()


def _operator_name(ex):
    from suanshu.core.orgs import OPERATOR_ORG

    return OPERATOR_ORG


def _events(contract_id: str) -> list[dict]:
    out = []
    for i in range(40):
        kind = ("query", "resource")[i % 2]
        data = {"rows": i * 7} if kind == "query" else {"resource": "ascend-910b", "seconds": 60 * i}
        out.append({"id": f"ev-{i}", "source": "suanshu/queries", "type": f"suanshu.usage.{kind}",
                    "subject": contract_id, "time": (T0 + timedelta(hours=i)).isoformat(), "data": data})
    return out


def test_duplicates_and_reordering_never_change_an_invoice(market):
    ex, contract = market
    op = orgs.local_actor(ex, _operator_name(ex))
    events = _events(contract.id)
    shuffled = events + random.Random(7).sample(events, 15)  # resends
    random.Random(3).shuffle(shuffled)
    for i in range(0, len(shuffled), 9):  # arriving in small batches, out of order
        billing.ingest_usage(ex, op, shuffled[i:i + 9])
    inv = billing.issue_invoice(ex, op, contract.id, PLAN, T0, T0 + timedelta(days=30))
    t = rating.Totals()
    for e in events:
        t.add(e["type"], e["data"])
    assert inv.total_fen == sum(line.amount_fen for line in rating.rate(PLAN, t)) and inv.events == 40
    again = billing.issue_invoice(ex, op, contract.id, PLAN, T0, T0 + timedelta(days=30))
    assert again.id == inv.id and again.total_fen == inv.total_fen
    report = billing.reconcile(ex)
    assert report["ok"] and report["invoices"] == 1 and report["total_fen"] == inv.total_fen, report


def test_late_usage_is_billed_on_the_next_invoice(market):
    ex, contract = market
    op = orgs.local_actor(ex, _operator_name(ex))
    plan = {"per_query_fen": 300}
    billing.ingest_usage(ex, op, _events(contract.id)[:4])  # 2 queries in the first period
    first = billing.issue_invoice(ex, op, contract.id, plan, T0, T0 + timedelta(days=1))
    with ex.db.transaction() as s:
        before = billing.invoice_json(s, first)
    late = {"id": "late-1", "source": "suanshu/queries", "type": "suanshu.usage.query", "subject": contract.id,
            "time": (T0 + timedelta(hours=1)).isoformat(), "data": {}}
    assert billing.ingest_usage(ex, op, [late, late])["new"] == 1
    with ex.db.transaction() as s:
        assert billing.invoice_json(s, first) == before and first.total_fen == 600
    second = billing.issue_invoice(ex, op, contract.id, plan, T0 + timedelta(days=1), T0 + timedelta(days=2))
    assert second.total_fen == 300 and second.events == 1
    assert billing.reconcile(ex)["ok"]


def test_statement_csv_and_html(market):
    ex, contract = market
    op = orgs.local_actor(ex, _operator_name(ex))
    billing.ingest_usage(ex, op, _events(contract.id)[:2])
    inv = billing.issue_invoice(ex, op, contract.id, {"per_query_fen": 1234}, T0, T0 + timedelta(days=1))
    now = datetime.now(UTC)
    st = billing.statement(ex, None, "insurer", now - timedelta(days=1), now + timedelta(days=1))
    assert st["opening_fen"] == 0 and st["closing_fen"] == 1_000_000 - 1234
    assert [r["code"] for r in st["rows"]] == ["deposit", "charge"]
    csv_text = billing.statement_csv(st)
    assert csv_text.splitlines()[-1].endswith(str(1_000_000 - 1234)) and inv.transfers[0] in csv_text
    page = billing.statement_html(st)
    assert "对账单" in page and "¥9,987.66" in page.replace("¥9987.66", "¥9,987.66")


def test_sweeper_voids_holds_of_expired_contracts(market):
    ex, contract = market
    rows = {r.account: r for r in settlement.balances(ex, None) if r.org == "insurer"}
    assert next(iter(rows.values())).held_fen == 5000
    assert billing.sweep_expired(ex) == []  # not expired yet
    assert billing.sweep_expired(ex, now=contract.expires_at + timedelta(seconds=1)) == [contract.id]
    assert billing.sweep_expired(ex, now=contract.expires_at + timedelta(days=1)) == []  # once
    cash = next(r for r in settlement.balances(ex, None) if r.org == "insurer")
    assert (cash.held_fen, cash.available_fen) == (0, 1_000_000)
    with ex.db.transaction() as s:
        assert s.get(type(contract), contract.id).state == "expired"


@given(price=st.integers(0, 10**12), bps=st.integers(0, 10_000), compute_part=st.floats(0, 1))
def test_three_way_split_sums_exactly_and_follows_the_remainder_rule(price, bps, compute_part):
    compute = int(price * compute_part)
    sp = settlement.split_charge(price, bps, compute)
    assert sp.data_provider_fen + sp.compute_provider_fen + sp.operator_fen == price
    assert min(sp.data_provider_fen, sp.compute_provider_fen, sp.operator_fen) >= 0
    assert sp.operator_fen == price * bps // 10_000  # rounded down on the whole price
    assert sp.compute_provider_fen == compute * (10_000 - bps) // 10_000
    assert settlement.split_charge(price, bps) == settlement.Split(price - price * bps // 10_000, 0,
                                                                   price * bps // 10_000)


def test_split_rejects_bad_parts():
    for args in [(100, 500, 101), (100, 500, -1), (100, 10_001, 0), (-1, 0, 0)]:
        with pytest.raises(Exception) as err:
            settlement.split_charge(*args)
        assert err.value.code == "money.bad_split"


def test_job_charge_three_way_chain_from_a_hold(market):
    """What a compute job does: hold at start, post as usage is rated, release the rest."""
    ex, _ = market
    orgs.create_org(ex, None, "npu-pool", ["compute"])
    with ex.db.transaction() as s:
        ids = billing.org_names(s)
        org = {name: oid for oid, name in ids.items()}
        hold = settlement.hold(s, org["insurer"], 10_000, {"job": "job_1"})
        c1 = settlement.charge(s, hold_id=hold, buyer_org_id=org["insurer"], provider_org_id=org["meteo"],
                               price=1_001, remaining_after=6_000, commission_bps=1_000, memo={"job": "job_1"},
                               compute_provider_org_id=org["npu-pool"], compute_fen=700, ids_from="job_1/1")
        # 1001: operator 100 (100.1 down), compute 630 (700 less 10 %), data gets the rest: 271
        assert (c1.operator_fen, c1.compute_provider_fen, c1.provider_fen) == (100, 630, 271)
        assert len(c1.transfers) == 5 and c1.new_hold_id
        c2 = settlement.charge(s, hold_id=c1.new_hold_id, buyer_org_id=org["insurer"],
                               provider_org_id=org["meteo"], price=500, remaining_after=0, commission_bps=1_000,
                               memo={"job": "job_1"}, compute_provider_org_id=org["npu-pool"], compute_fen=500,
                               ids_from="job_1/2")
        assert c2.new_hold_id is None and c2.provider_fen == 0 and c2.compute_provider_fen == 450
        # the hold is resolved: posting it again fails and writes nothing
        with pytest.raises(Exception) as err:
            settlement.charge(s, hold_id=c1.new_hold_id, buyer_org_id=org["insurer"],
                              provider_org_id=org["meteo"], price=1, remaining_after=0, commission_bps=0,
                              memo={}, ids_from="job_1/3")
        assert err.value.code == "ledger.pending_transfer_already_posted"
    rows = {(r.org, r.code): r for r in settlement.balances(ex, None)}
    assert rows[("insurer", "cash")].held_fen == 5000  # the contract's hold; the job's is gone
    assert rows[("insurer", "cash")].available_fen == 1_000_000 - 5000 - 1_501
    assert rows[("npu-pool", "cash")].posted_fen == 630 + 450
    assert rows[("meteo", "cash")].posted_fen == 271 + 0
    assert sum(r.posted_fen for r in rows.values() if r.code != "bank") == 1_000_000
    with ex.db.transaction() as s:
        assert ledger_engine.verify(s).ok


def test_failed_leg_fails_the_whole_charge(market):
    ex, _ = market
    with ex.db.transaction() as s:
        org = {name: oid for oid, name in billing.org_names(s).items()}
    with pytest.raises(Exception) as err, ex.db.transaction() as s:
        # no hold: straight from cash, more than the buyer has available -> the chain fails as one
        settlement.charge(s, hold_id=None, buyer_org_id=org["insurer"], provider_org_id=org["meteo"],
                          price=2_000_000, remaining_after=0, commission_bps=500, memo={})
    assert err.value.code == "ledger.exceeds_credits"
    rows = {(r.org, r.code): r for r in settlement.balances(ex, None)}
    assert rows[("meteo", "cash")].posted_fen == 0 and rows[("insurer", "cash")].posted_fen == 1_000_000


def test_cancel_voids_the_hold_once(market):
    ex, contract = market
    buyer, other = orgs.local_actor(ex, "insurer"), orgs.local_actor(ex, "meteo")
    with pytest.raises(Exception) as err:
        billing.cancel_contract(ex, other, contract.id)  # not the provider's to cancel
    assert err.value.code == "auth.role_required"
    orgs.create_org(ex, None, "other-buyer", ["buyer"])
    with pytest.raises(Exception) as err:  # another buyer cannot see it, let alone cancel it
        billing.cancel_contract(ex, orgs.local_actor(ex, "other-buyer"), contract.id)
    assert err.value.code == "contract.not_found"
    out = billing.cancel_contract(ex, buyer, contract.id)
    assert out["state"] == "cancelled" and out["released_transfer"]
    cash = next(r for r in settlement.balances(ex, None) if r.org == "insurer")
    assert (cash.held_fen, cash.available_fen) == (0, 1_000_000)
    with pytest.raises(Exception) as err:
        billing.cancel_contract(ex, buyer, contract.id)
    assert err.value.code == "contract.not_active"
    assert billing.sweep_expired(ex, now=contract.expires_at + timedelta(days=1)) == []  # not twice
    with ex.db.transaction() as s:
        assert ledger_engine.verify(s).ok
        from suanshu.ledger import seals

        assert seals.verify(s).ok  # deposit, hold and void all went through sealed batches


def test_invoice_posts_from_the_contract_hold_when_it_covers_it(market):
    """Usage rated into an invoice is posted from the hold taken at contract start; the rest
    stays held. An invoice larger than what is left is charged to cash instead."""
    ex, contract = market
    op = orgs.local_actor(ex, _operator_name(ex))
    billing.ingest_usage(ex, op, _events(contract.id)[:2])
    inv = billing.issue_invoice(ex, op, contract.id, {"per_query_fen": 1200}, T0, T0 + timedelta(days=1))
    cash = next(r for r in settlement.balances(ex, None) if r.org == "insurer" and r.code == "cash")
    assert (cash.held_fen, cash.posted_fen) == (5000 - 1200, 1_000_000 - 1200)
    with ex.db.transaction() as s:
        c = s.get(type(contract), contract.id)
        assert c.spent_fen == 1200 and c.hold_transfer_id == inv.transfers[1]  # the re-hold
    big = billing.issue_invoice(ex, op, contract.id, {"monthly_fee_fen": 9000}, T0 + timedelta(days=1),
                                T0 + timedelta(days=2))
    cash = next(r for r in settlement.balances(ex, None) if r.org == "insurer" and r.code == "cash")
    assert (cash.held_fen, cash.posted_fen) == (3800, 1_000_000 - 1200 - 9000)
    assert billing.reconcile(ex)["ok"] and big.provider_fen + big.operator_fen == 9000
    from suanshu.ledger import seals

    with ex.db.transaction() as s:
        assert seals.verify(s).to_dict() | {"transfers": 0, "seals": 0} == {
            "ok": True, "transfers": 0, "seals": 0, "transfer": None, "reason": ""}
        assert seals.verify(s).transfers >= 8  # deposit, hold, post + re-hold + 2 legs, charge + legs


def _usage(contract_id, type_, data, id_="q1"):
    return {"id": id_, "source": "qa", "type": f"suanshu.usage.{type_}", "subject": contract_id,
            "time": "2026-11-10T00:00:00Z", "data": data}


def _stored_events(ex) -> int:
    from sqlalchemy import func, select

    from suanshu.billing.models import UsageEvent

    with ex.db.transaction() as s:
        return s.scalar(select(func.count()).select_from(UsageEvent))


@pytest.mark.parametrize("type_, data, field", [
    ("resource", {"resource": "cpu", "seconds": -36000}, "data.seconds"),
    ("query", {"count": -1}, "data.count"),
    ("query", {"count": "many"}, "data.count"),
    ("query", {"count": True}, "data.count"),
    ("query", {"rows": 1.5}, "data.rows"),
    ("query", {"micro_epsilon": float("nan")}, "data.micro_epsilon"),
    ("rows", {"rows": 10**16}, "data.rows"),
    ("rows", {"rows": 10**5000}, "data.rows"),
    ("epsilon", {"micro_epsilon": None}, "data.micro_epsilon"),
    ("bytes", {}, "data.bytes"),
    ("resource", {"seconds": 60}, "data.resource"),
    ("resource", {"resource": "", "seconds": 60}, "data.resource"),
    ("refund", {"count": 1}, "unknown usage type"),
])
def test_usage_quantities_are_whole_numbers_from_zero(market, type_, data, field):
    """QA: a negative or non-numeric quantity was stored, then lowered (or crashed) every invoice."""
    ex, contract = market
    op = orgs.local_actor(ex, _operator_name(ex))
    good = _usage(contract.id, "query", {"count": 10}, "ok")
    with pytest.raises(UsageError) as err:
        billing.ingest_usage(ex, op, [good, _usage(contract.id, type_, data)])
    assert err.value.code == "usage.bad_event" and field in err.value.message and "qa/q1" in err.value.message
    assert _stored_events(ex) == 0  # the batch is refused whole: nothing half-stored
    with pytest.raises(UsageError) as err:
        rating.Totals().add(f"suanshu.usage.{type_}", data, event="qa/q1")
    assert err.value.code == "billing.bad_usage_event" and "qa/q1" in err.value.message


def test_an_invoice_refuses_a_bad_event_stored_before_ingest_checked(market):
    """Rows stored before the check: the invoice names the event and issues nothing (no traceback,
    no negative line, no top-up to a minimum the plan does not have)."""
    from sqlalchemy import select

    from suanshu.billing.models import Invoice, UsageEvent

    ex, contract = market
    op = orgs.local_actor(ex, _operator_name(ex))
    billing.ingest_usage(ex, op, [_usage(contract.id, "query", {"count": 10}, "n1")])
    for i, data in enumerate([{"resource": "cpu", "seconds": -36000}, {"count": "many"}]):
        with ex.db.transaction() as s:
            s.add(UsageEvent(source="qa", id=f"old{i}", type=f"suanshu.usage.{('resource', 'query')[i]}",
                             subject=contract.id, time=T0, data=data))
        with pytest.raises(UsageError) as err:
            billing.issue_invoice(ex, op, contract.id, {"per_query_fen": 30, "resource_hour_fen": {"cpu": 20}},
                                  T0, T0 + timedelta(days=30))
        assert err.value.code == "billing.bad_usage_event" and f"qa/old{i}" in err.value.message
        with ex.db.transaction() as s:
            assert s.scalars(select(Invoice)).all() == []
            assert all(e.invoice_id is None for e in s.scalars(select(UsageEvent)))
            s.delete(s.get(UsageEvent, ("qa", f"old{i}")))
    inv = billing.issue_invoice(ex, op, contract.id, {"per_query_fen": 30, "resource_hour_fen": {"cpu": 20}},
                                T0, T0 + timedelta(days=30))
    assert inv.total_fen == 300 and billing.reconcile(ex)["ok"]


def test_statement_data_is_utc_to_the_second_and_the_page_is_beijing_time(market):
    """QA: JSON rows carried Beijing local minutes with no zone next to a UTC period."""
    import re

    from suanshu.core.clock import local

    ex, _ = market
    now = datetime.now(UTC)
    st = billing.statement(ex, None, "insurer", now - timedelta(days=1), now + timedelta(days=1))
    times = [r["time"] for r in st["rows"]]
    assert times and all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", t) for t in times), times
    assert abs(datetime.fromisoformat(times[0]) - now) < timedelta(minutes=5)
    csv_text = billing.statement_csv(st)
    assert csv_text.startswith("time (UTC),") and times[0] in csv_text
    page = billing.statement_html(st)
    assert local(datetime.fromisoformat(times[0])) in page and times[0] not in page


def test_a_resource_with_a_long_name_is_invoiced(market):
    """An accelerator may be named in 41 characters: its line's kind ("resource:" + the name) fits."""
    from sqlalchemy import select

    from suanshu.billing.models import InvoiceLine

    ex, contract = market
    op = orgs.local_actor(ex, _operator_name(ex))
    name = "ascend-910b-" + "x" * 29  # 41 characters, the longest a pool takes
    event = _usage(contract.id, "resource", {"resource": name, "seconds": 3600}) | {"time": T0.isoformat()}
    billing.ingest_usage(ex, op, [event])
    inv = billing.issue_invoice(ex, op, contract.id, {"resource_hour_fen": {name: 7}}, T0, T0 + timedelta(days=1))
    with ex.db.transaction() as s:
        kinds = s.scalars(select(InvoiceLine.kind).where(InvoiceLine.invoice_id == inv.id)).all()
    assert f"resource:{name}" in kinds


def _store_old(ex, contract_id, id_, type_, data):
    """A row as ingest stored it before it checked quantities: straight into the table."""
    from suanshu.billing.models import UsageEvent

    with ex.db.transaction() as s:
        s.add(UsageEvent(source="qa", id=id_, type=f"suanshu.usage.{type_}", subject=contract_id, time=T0, data=data))


def _voids(ex) -> list:
    from sqlalchemy import select

    from suanshu.audit.models import AuditEvent

    with ex.db.transaction() as s:
        return [(e.actor, e.subject, e.payload) for e in s.scalars(
            select(AuditEvent).where(AuditEvent.action == "usage.void").order_by(AuditEvent.seq))]


def test_the_operator_voids_a_bad_stored_event_and_the_invoice_issues_without_it(market):
    """A stored event rating refuses blocked every invoice of its contract for good: the operator
    voids it (the message says how), the row stays marked, the audit log keeps who and why."""
    from sqlalchemy import select

    from suanshu.billing.models import UsageEvent

    ex, contract = market
    op = orgs.local_actor(ex, _operator_name(ex))
    plan = {"per_query_fen": 30, "resource_hour_fen": {"cpu": 20}}
    billing.ingest_usage(ex, op, [_usage(contract.id, "query", {"count": 10}, "n1")])
    _store_old(ex, contract.id, "old 1", "resource", {"resource": "cpu", "seconds": -36000})
    with pytest.raises(UsageError) as err:
        billing.issue_invoice(ex, op, contract.id, plan, T0, T0 + timedelta(days=30))
    assert err.value.code == "billing.bad_usage_event" and "qa/old 1" in err.value.message
    assert "suanshu ledger void-usage qa 'old 1' --reason" in err.value.message, err.value.message
    assert err.value.details == {"source": "qa", "id": "old 1"}

    out = billing.void_usage(ex, op, "qa", "old 1", reason="  负数用量：计量 bug，已于上游修复  ")
    assert out["voided"] and out["void_reason"] == "负数用量：计量 bug，已于上游修复"
    assert out["voided_by"] == op.label and out["voided_at"].endswith("Z") and out["invoice_id"] is None
    assert out["data"] == {"resource": "cpu", "seconds": -36000} and out["subject"] == contract.id
    inv = billing.issue_invoice(ex, op, contract.id, plan, T0, T0 + timedelta(days=30))
    assert inv.total_fen == 300 and inv.events == 1 and billing.reconcile(ex)["ok"]
    with ex.db.transaction() as s:
        rows = {e.id: e for e in s.scalars(select(UsageEvent))}
        assert rows["n1"].invoice_id == inv.id
        assert rows["old 1"].invoice_id is None and rows["old 1"].voided_at is not None  # kept, never invoiced
    assert _voids(ex) == [(op.label, contract.id, {
        "source": "qa", "id": "old 1", "type": "suanshu.usage.resource", "time": "2026-11-01T00:00:00Z",
        "data": {"resource": "cpu", "seconds": -36000}, "reason": "负数用量：计量 bug，已于上游修复"})]
    later = billing.issue_invoice(ex, op, contract.id, plan, T0 + timedelta(days=30), T0 + timedelta(days=60))
    assert later.events == 0 and later.total_fen == 0  # a voided event never lands on a later invoice either


def test_voiding_usage_refusals_and_a_second_void(market):
    ex, contract = market
    op, buyer = orgs.local_actor(ex, _operator_name(ex)), orgs.local_actor(ex, "insurer")
    billing.ingest_usage(ex, op, [_usage(contract.id, "query", {"count": 1}, i) for i in ("a", "b")])
    sqlite = ex.db.engine.dialect.name == "sqlite"  # PostgreSQL's JSON holds no NaN
    if sqlite:
        _store_old(ex, contract.id, "nan", "query", {"count": float("nan")})
    for who, (source, id_), reason, code in [
        (buyer, ("qa", "a"), "mine", "auth.role_required"),
        (op, ("qa", "a"), " \n ", "usage.reason_required"),
        (op, ("qa", "a"), "x" * 2001, "text.too_long"),
        (op, ("qa", "a"), "a\x00b", "usage.bad_reason"),
        (op, ("qa", "missing"), "typo", "usage.not_found"),
        (op, ("qa", "a" * 201), "longer than any stored id", "usage.not_found"),
        (op, ("qa\x00", "a"), "no NUL is stored", "usage.not_found"),
    ]:
        with pytest.raises(Exception) as err:
            billing.void_usage(ex, who, source, id_, reason=reason)
        assert getattr(err.value, "code", None) == code, (reason, err.value)
    first = billing.void_usage(ex, op, "qa", "a", reason="x" * 2000)
    again = billing.void_usage(ex, op, "qa", "a", reason="another reason")  # idempotent: the first void stands
    assert again == first and len(_voids(ex)) == 1
    if sqlite:  # an old NaN quantity is data a JSON reader takes: the string "NaN"
        assert billing.void_usage(ex, op, "qa", "nan", reason="not a number")["data"] == {"count": "NaN"}
        assert _voids(ex)[-1][2]["data"] == {"count": "NaN"}
    inv = billing.issue_invoice(ex, op, contract.id, {"per_query_fen": 7}, T0, T0 + timedelta(days=30))
    assert inv.events == 1 and inv.total_fen == 7
    with pytest.raises(Conflict) as err:
        billing.void_usage(ex, op, "qa", "b", reason="too late")
    assert err.value.code == "usage.already_invoiced" and inv.id in err.value.message
    assert err.value.http_status == 409 and len(_voids(ex)) == 1 + sqlite


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgres"])
def test_a_void_and_an_invoice_never_both_take_an_event(market):
    """PostgreSQL, concurrent writers: an invoice issued while a void of one of its events is open
    waits for it, then leaves the voided event out (it is not stamped both voided and invoiced)."""
    import threading
    import time

    from sqlalchemy import select, text

    from suanshu.billing import usage
    from suanshu.billing.models import UsageEvent

    ex, contract = market
    op = orgs.local_actor(ex, _operator_name(ex))
    billing.ingest_usage(ex, op, [_usage(contract.id, "query", {"count": 1}, i) for i in ("a", "b")])
    issued: list = []
    invoicing = threading.Thread(target=lambda: issued.append(
        billing.issue_invoice(ex, op, contract.id, {"per_query_fen": 5}, T0, T0 + timedelta(days=30))))
    with ex.db.transaction() as s:
        usage.void(s, "qa", "a", reason="计量重复", actor=op.label)  # holds the event's row lock until commit
        invoicing.start()
        with ex.db.engine.connect() as watch:  # until the invoice waits on that lock (not a timing guess)
            for _ in range(1000):
                if watch.execute(text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                      "AND datname = current_database()")).scalar():
                    break
                time.sleep(0.01)
            else:
                pytest.fail("the invoice never waited for the void's lock")
    invoicing.join(30)
    assert issued and issued[0].events == 1 and issued[0].total_fen == 5
    with ex.db.transaction() as s:
        a = s.scalars(select(UsageEvent).where(UsageEvent.id == "a")).one()
        assert a.voided_at is not None and a.invoice_id is None
