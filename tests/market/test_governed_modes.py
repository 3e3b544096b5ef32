"""The exchange's query path in dp and extract modes, and the contract terms (SQLite and PostgreSQL)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from suanshu.core.errors import Refused
from suanshu.market import components, contracts, orgs, queries, settlement
from suanshu.market.exchange import Exchange
from suanshu.market.models import QueryRun
from suanshu.policy.models import PolicyBudget

CITIES = {"Changsha": 60, "Xiangtan": 45, "Zhuzhou": 40, "Yueyang": 4}
DP_POLICY = {"mode": "dp", "min_group_size": 10, "aggregates": ["count", "sum", "avg"],
             "columns": {"city": "dimension", "fee": "aggregate", "mobile": "hidden"},
             "dp": {"epsilon_per_query": 0.5, "epsilon_total": 1.0, "bounds": {"fee": [0, 500]}}}  # fmt: skip


@pytest.fixture
def ex(settings):
    exchange = Exchange.open(settings)
    orgs.ensure_operator(exchange)
    orgs.create_org(exchange, None, "telco", ["provider"], region="cn-hunan")
    orgs.create_org(exchange, None, "bank", ["buyer"], region="cn-beijing")
    settlement.deposit(exchange, orgs.local_actor(exchange, orgs.OPERATOR_ORG), "bank", 1_000_000)
    yield exchange
    exchange.close()


@pytest.fixture
def asset_file(tmp_path):
    rng = random.Random(7)
    lines = ["city,fee,mobile"]
    for city, n in CITIES.items():
        lines += [f"{city},{rng.randint(50, 400)},138{rng.randint(0, 99_999_999):08d}" for _ in range(n)]
    path = tmp_path / "subscribers.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def publish(ex, asset_file, name, policy, *, asset=True):
    provider = orgs.local_actor(ex, "telco")
    if asset:
        from suanshu.market import assets

        assets.add_asset(ex, provider, asset_file, name="subscribers")
    return components.publish(ex, provider, components.ComponentSpec(
        name=name, asset="subscribers", sql=None, policy=policy, price_fen=100, desensitize={}))


def test_dp_queries_spend_the_contract_budget_then_stop(ex, asset_file):
    publish(ex, asset_file, "fees", DP_POLICY)
    buyer = orgs.local_actor(ex, "bank")
    contract = contracts.request(ex, buyer, "fees", 10_000, purpose="risk")
    sql = "SELECT city, count(*), avg(fee) FROM fees GROUP BY city ORDER BY city"
    for spent in (0.5, 1.0):
        result = queries.run(ex, buyer, contract.id, sql)
        assert [row[0] for row in result.rows] == ["Changsha", "Xiangtan", "Zhuzhou"]  # Yueyang < 10
        assert all(0 <= row[2] <= 500 for row in result.rows)  # averages clamped to the bounds
        assert result.receipt["mode"] == "dp" and result.receipt["epsilon_spent"] == 0.5
        assert result.receipt["epsilon_spent_total"] == spent
    with pytest.raises(Refused) as info:
        queries.run(ex, buyer, contract.id, sql)
    assert info.value.code == "query.budget_exhausted"
    with ex.db.transaction() as s:
        budget = s.get(PolicyBudget, contract.id)
        assert (budget.spent, budget.reserved) == (10**9, 0)
        runs = s.scalars(select(QueryRun).where(QueryRun.contract_id == contract.id).order_by(QueryRun.id)).all()
        assert [r.status for r in runs] == ["succeeded", "succeeded", "denied"]
        assert runs[-1].error_code == "query.budget_exhausted" and runs[-1].price_fen == 0


def test_a_refused_dp_query_costs_no_epsilon(ex, asset_file):
    publish(ex, asset_file, "fees", DP_POLICY)
    buyer = orgs.local_actor(ex, "bank")
    contract = contracts.request(ex, buyer, "fees", 10_000)
    with pytest.raises(Refused) as info:
        queries.run(ex, buyer, contract.id, "SELECT city, sum(fee) AS s FROM fees GROUP BY city ORDER BY s LIMIT 1")
    assert info.value.code == "query.dp_not_allowed"
    with ex.db.transaction() as s:
        assert s.get(PolicyBudget, contract.id) is None


def test_extract_mode_rows_and_the_gate(ex, asset_file):
    extract = {"mode": "extract", "max_rows": 5, "columns": {"city": "dimension", "fee": "aggregate"}}
    publish(ex, asset_file, "rows", extract)
    # the gate scans every column extract mode releases: clear mobile numbers are refused
    with pytest.raises(Refused) as info:
        publish(ex, asset_file, "leaky", {**extract, "columns": {"city": "dimension", "mobile": "aggregate"}},
                asset=False)
    assert info.value.code == "gate.personal_info_in_clear"
    buyer = orgs.local_actor(ex, "bank")
    contract = contracts.request(ex, buyer, "rows", 10_000)
    result = queries.run(ex, buyer, contract.id, "SELECT city, fee FROM rows WHERE city = 'Yueyang' ORDER BY fee")
    assert len(result.rows) == 4 and result.receipt["mode"] == "extract" and result.receipt["epsilon_spent"] == 0
    assert len(queries.run(ex, buyer, contract.id, "SELECT city FROM rows").rows) == 5


def test_purpose_expiry_and_residency_are_enforced(ex, asset_file):
    terms = {"mode": "aggregate", "min_group_size": 10, "columns": {"city": "dimension", "fee": "aggregate"}}
    soon = (datetime.now(UTC) + timedelta(days=10)).replace(microsecond=0)
    publish(ex, asset_file, "scoped", {**terms, "purpose": ["risk"], "expiry": soon.isoformat()})
    publish(ex, asset_file, "abroad", {**terms, "residency": ["eu-west"]}, asset=False)
    publish(ex, asset_file, "expiring", {**terms, "expiry": "2000-01-01T00:00:00Z"}, asset=False)
    buyer = orgs.local_actor(ex, "bank")
    with pytest.raises(Refused) as info:
        contracts.request(ex, buyer, "scoped", 10_000, purpose="marketing")
    assert info.value.code == "policy.purpose_not_allowed"
    contract = contracts.request(ex, buyer, "scoped", 10_000, purpose="risk", days=365)
    assert contract.expires_at == soon  # a contract ends no later than the policy it carries
    assert queries.run(ex, buyer, contract.id, "SELECT count(*) FROM scoped").rows
    with pytest.raises(Refused) as info:
        contracts.request(ex, buyer, "expiring", 10_000)
    assert info.value.code == "policy.expired"
    abroad = contracts.request(ex, buyer, "abroad", 10_000)
    with pytest.raises(Refused) as info:  # the data (and so the compute) sits in cn-hunan
        queries.run(ex, buyer, abroad.id, "SELECT count(*) FROM abroad")
    assert info.value.code == "policy.residency_violation"


def test_concurrent_dp_queries_on_one_contract_never_overspend(ex, asset_file):
    """Six buyers' threads race on one contract whose ε covers two queries: exactly two answer."""
    import threading

    publish(ex, asset_file, "fees", DP_POLICY)
    buyer = orgs.local_actor(ex, "bank")
    contract = contracts.request(ex, buyer, "fees", 10_000)
    barrier, codes, lock = threading.Barrier(6), [], threading.Lock()

    def query():
        barrier.wait()
        try:
            queries.run(ex, buyer, contract.id, "SELECT city, count(*) FROM fees GROUP BY city")
            code = "ok"
        except Refused as e:
            code = e.code
        with lock:
            codes.append(code)

    threads = [threading.Thread(target=query) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes) == ["ok", "ok"] + ["query.budget_exhausted"] * 4
    with ex.db.transaction() as s:
        budget = s.get(PolicyBudget, contract.id)
        assert (budget.spent, budget.reserved) == (10**9, 0)


def test_every_answer_and_refusal_is_audited_with_its_receipt(ex, asset_file):
    import hashlib

    from suanshu.audit.models import AuditEvent

    publish(ex, asset_file, "fees", DP_POLICY)
    buyer = orgs.local_actor(ex, "bank")
    contract = contracts.request(ex, buyer, "fees", 10_000)
    sql = "SELECT city, count(*) FROM fees GROUP BY city"
    result = queries.run(ex, buyer, contract.id, sql)
    with pytest.raises(Refused):
        queries.run(ex, buyer, contract.id, "SELECT mobile, count(*) FROM fees GROUP BY mobile")
    receipt = result.receipt
    assert receipt["contract"] == contract.id and receipt["rows_out"] == 3 == len(result.rows)
    assert receipt["query_sha256"] == hashlib.sha256(sql.encode()).hexdigest() and receipt["epsilon_spent"] == 0.5
    respaced = queries.run(ex, buyer, contract.id, sql.lower().replace(" from ", "\n  FROM "))
    assert respaced.receipt["query_normalised_sha256"] == receipt["query_normalised_sha256"]
    assert respaced.receipt["query_sha256"] != receipt["query_sha256"]
    with ex.db.transaction() as s:
        answered = s.scalars(select(AuditEvent).where(AuditEvent.action == "query.answer")).all()
        denied = s.scalars(select(AuditEvent).where(AuditEvent.action == "query.deny")).all()
        assert [e.subject for e in answered] == [receipt["query"], respaced.receipt["query"]]
        logged = answered[0].payload
        assert {k: logged[k] for k in ("contract", "query_sha256", "epsilon_spent", "rows_out", "mode")} == {
            "contract": contract.id, "query_sha256": receipt["query_sha256"], "epsilon_spent": 0.5,
            "rows_out": 3, "mode": "dp"}  # fmt: skip
        assert answered[0].seq == receipt["audit_seq"] and answered[0].hash == receipt["audit_hash"]
        assert [(e.payload["contract"], e.payload["code"]) for e in denied] == [(contract.id, "query.column_not_allowed")]
        logged_text = repr([e.payload for e in denied])  # no mobile number reaches the log
        assert not [m for m in (line.split(",")[2] for line in asset_file.read_text().splitlines()[1:])
                    if m in logged_text]


def test_a_buyer_joins_their_own_table_on_a_join_column(ex, asset_file):
    import pyarrow as pa

    from suanshu.audit.models import AuditEvent

    join_policy = {"mode": "aggregate", "min_group_size": 10,
                   "columns": {"city": "dimension", "fee": "aggregate", "mobile": "join"}}  # fmt: skip
    publish(ex, asset_file, "fees", join_policy)
    buyer = orgs.local_actor(ex, "bank")
    contract = contracts.request(ex, buyer, "fees", 10_000)
    lines = asset_file.read_text().splitlines()[1:]
    mobiles = [line.split(",")[2] for line in lines]
    # the bank knows 30 of the subscribers as "gold" and 5 as "new" (below the threshold of 10)
    crm = pa.table({"mobile": mobiles[:35] + ["13800000000"], "tier": ["gold"] * 30 + ["new"] * 5 + ["gold"]})
    sql = "SELECT o.tier, count(*) AS n, sum(f.fee) AS s FROM fees f JOIN crm o ON f.mobile = o.mobile GROUP BY o.tier"
    result = queries.run(ex, buyer, contract.id, sql, own={"crm": crm})
    fees = [int(line.split(",")[1]) for line in lines]
    assert result.rows == [["gold", 30, sum(fees[:30])]]  # "new" (5 subscribers) never leaves
    assert result.receipt["own_tables"]["crm"]["rows"] == 36 and len(result.receipt["own_tables"]["crm"]["sha256"]) == 64
    # the key itself is never output; the buyer's table may not take the component's name
    with pytest.raises(Refused) as info:
        queries.run(ex, buyer, contract.id, "SELECT f.mobile, count(*) FROM fees f JOIN crm o ON f.mobile = o.mobile "
                    "GROUP BY 1", own={"crm": crm})  # fmt: skip
    assert info.value.code == "query.column_not_allowed"
    from suanshu.core.errors import UsageError

    with pytest.raises(UsageError) as info:
        queries.run(ex, buyer, contract.id, "SELECT count(*) FROM fees", own={"fees": crm})
    assert info.value.code == "sandbox.name_taken"
    with ex.db.transaction() as s:
        logged = s.scalars(select(AuditEvent).where(AuditEvent.action == "query.answer")).one().payload
        assert logged["own_tables"] == result.receipt["own_tables"]


def test_own_tables_travel_inline_through_the_api(ex, asset_file):
    from fastapi.testclient import TestClient

    from suanshu.api.app import create_app

    publish(ex, asset_file, "fees", {"mode": "aggregate", "min_group_size": 10,
                                     "columns": {"city": "dimension", "fee": "aggregate", "mobile": "join"}})
    token = orgs.issue_token(ex, "bank")
    contract = contracts.request(ex, orgs.local_actor(ex, "bank"), "fees", 10_000)
    mobiles = [line.split(",")[2] for line in asset_file.read_text().splitlines()[1:]]
    own = {"crm": {"columns": ["mobile", "tier"], "rows": [[m, "gold"] for m in mobiles[:30]]}}
    sql = "SELECT o.tier, count(*) AS n FROM fees f JOIN crm o ON f.mobile = o.mobile GROUP BY o.tier"
    url, auth = f"/api/v1/contracts/{contract.id}/queries", {"Authorization": f"Bearer {token}"}
    with TestClient(create_app(ex)) as client:
        r = client.post(url, json={"sql": sql, "own": own}, headers=auth)
        assert r.status_code == 200, r.text
        assert r.json()["rows"] == [["gold", 30]] and r.json()["receipt"]["own_tables"]["crm"]["rows"] == 30
        ragged = {"crm": {"columns": ["mobile", "tier"], "rows": [[mobiles[0]]]}}
        r = client.post(url, json={"sql": sql, "own": ragged}, headers=auth)
        assert r.status_code == 422 and r.json()["error"]["code"] == "query.bad_own_table"


def test_a_query_on_a_spent_contract_is_a_refusal_on_record(ex, asset_file):
    """Every refusal is recorded, the contract's own (money spent, expired) as the policy's are."""
    from suanshu.audit.models import AuditEvent

    publish(ex, asset_file, "fees", DP_POLICY)
    buyer = orgs.local_actor(ex, "bank")
    contract = contracts.request(ex, buyer, "fees", 100, purpose="risk")  # one query at 100 fen
    sql = "SELECT city, count(*) FROM fees GROUP BY city"
    queries.run(ex, buyer, contract.id, sql)
    with pytest.raises(Refused) as info:
        queries.run(ex, buyer, contract.id, sql)
    assert info.value.code == "contract.budget_exhausted"
    with ex.db.transaction() as s:
        runs = s.scalars(select(QueryRun).where(QueryRun.contract_id == contract.id).order_by(QueryRun.id)).all()
        denials = s.scalars(select(AuditEvent).where(AuditEvent.action == "query.deny")).all()
    assert [(r.status, r.error_code) for r in runs] == [("succeeded", None), ("denied", "contract.budget_exhausted")]
    assert [e.payload["code"] for e in denials] == ["contract.budget_exhausted"]
