"""Governed queries under a contract (可用不可见).

The buyer's SQL is checked against the policy frozen in the contract, run in a hardened
DuckDB next to the provider's data, checked again on the way out, charged from the hold
and split, and answered with a receipt whose audit entry records what ran and what it cost.

A buyer may bring their own tables (``own``: name -> Arrow table) for the policy's ``join``
role; they live in the query's sandbox only, and the receipt records each one's name, row
count and SHA-256 (of its Arrow IPC stream), so the audit log says what was joined.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

import pyarrow as pa

from suanshu.audit import log as audit
from suanshu.core.clock import iso, utcnow
from suanshu.core.errors import Refused, SuanshuError, UsageError
from suanshu.core.ids import new_id
from suanshu.core.orgs import Organization, Role
from suanshu.market import components as component_service
from suanshu.market import contracts as contract_service
from suanshu.market import settlement
from suanshu.market.actors import Actor
from suanshu.market.exchange import Exchange
from suanshu.market.models import Component, Contract, QueryRun
from suanshu.policy import budget as budgets
from suanshu.policy.engine import ENGINES, own_tables
from suanshu.policy.model import EPSILON_UNITS, Policy
from suanshu.policy.sqlguard import guard
from suanshu.vault.models import Asset


@dataclass(frozen=True)
class QueryResult:
    columns: list[str]
    rows: list[list]
    receipt: dict


def _usable(contract: Contract) -> None:
    if contract.state != "active":
        raise Refused("contract.not_active", f"contract {contract.id} is {contract.state}")
    if contract.expires_at <= utcnow():
        raise Refused("contract.expired", f"contract {contract.id} expired at {iso(contract.expires_at)}")
    if contract_service.remaining_fen(contract) < contract.price_fen:
        raise Refused("contract.budget_exhausted",
                      f"the budget left ({contract_service.remaining_fen(contract)} fen) does not cover a query "
                      f"({contract.price_fen} fen); sign a new contract")


def _fingerprint(table: pa.Table) -> dict:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return {"rows": table.num_rows, "sha256": hashlib.sha256(sink.getvalue().to_pybytes()).hexdigest()}


MAX_OWN_ROWS = 100_000


def own_table(name: str, columns: list[str], rows: list[list]) -> pa.Table:
    """The buyer's own table, sent inline (API, console), as Arrow for the join role."""
    if not columns or len(set(columns)) != len(columns):
        raise UsageError("query.bad_own_table", f"own table {name!r} needs distinct column names")
    if len(rows) > MAX_OWN_ROWS:
        raise UsageError("query.bad_own_table", f"own table {name!r} has {len(rows)} rows; at most {MAX_OWN_ROWS}")
    if any(len(row) != len(columns) for row in rows):
        raise UsageError("query.bad_own_table", f"every row of own table {name!r} needs {len(columns)} values")
    try:
        return pa.table({c: [row[i] for row in rows] for i, c in enumerate(columns)})
    except (pa.ArrowInvalid, pa.ArrowTypeError) as err:
        raise UsageError("query.bad_own_table", f"own table {name!r}: a column mixes types ({err})") from None


def run(ex: Exchange, actor: Actor, contract_id: str, sql: str,
        own: Mapping[str, pa.Table] | None = None) -> QueryResult:
    actor.require(Role.BUYER)
    with ex.db.transaction() as s:
        contract = contract_service.get_contract(s, actor, contract_id)
        if contract.buyer_org_id != actor.org_id:
            raise Refused("contract.not_buyer", "only the buyer of a contract may query under it")
        component = s.get(Component, contract.component_id)
        asset = s.get(Asset, component.asset_id)
        # Queries run next to the data, in the provider's region (placement on pools: compute issue).
        region = s.get(Organization, contract.provider_org_id).region or None
    policy = Policy.from_dict(contract.policy)
    reservation = None
    try:
        _usable(contract)  # (inside: a query on a spent or expired contract is a refusal on record too)
        if policy.mode not in ENGINES:  # job mode runs programs, never SQL
            raise UsageError("policy.mode_unsupported", f"a {policy.mode!r} contract takes jobs, not SQL queries")
        policy.check_terms(purpose=contract.purpose or None, region=region)
        with component_service.borrow_sandbox(ex, asset, policy.table, component.sql, component.desensitize) as sandbox:
            for name, table in (own or {}).items():
                sandbox.add_table(name, table)
            mine = own_tables(sandbox, list(own or {}))
            if policy.mode == "dp":
                guard(sql, policy, mine)  # a refused query holds no ε
                reservation = budgets.DatabaseBudgetStore(ex.db.transaction).reserve(
                    contract.id, policy.dp.per_query_units, policy.dp.total_units)
            answer = ENGINES[policy.mode](sandbox, policy, sql, max_rows=ex.settings.max_result_rows, own=mine)
    except BaseException as err:
        _release(ex, reservation)
        if isinstance(err, SuanshuError) and err.http_status < 500:  # the exchange's own failure
            _record_denial(ex, actor, contract, sql, err)  # (vault.unavailable) is no refusal
        raise
    try:
        return _settle(ex, actor, contract.id, sql, answer, reservation,
                       {name: _fingerprint(table) for name, table in (own or {}).items()})
    except BaseException as err:
        _release(ex, reservation)  # the settle transaction rolled back, its ε commit with it
        if isinstance(err, SuanshuError):  # the budget ran out under a concurrent query
            _record_denial(ex, actor, contract, sql, err)
        raise


def _release(ex: Exchange, reservation: budgets.Reservation | None) -> None:
    if reservation is not None:
        budgets.DatabaseBudgetStore(ex.db.transaction).release(reservation)


def _rehold(left: int, price: int) -> int:
    """Keep holding what is left only while it still pays for a query; release a useless remainder."""
    return left if left >= price else 0


def _sha(sql: str) -> str:
    return hashlib.sha256(sql.strip().encode()).hexdigest()


def _record_denial(ex: Exchange, actor: Actor, contract: Contract, sql: str, err: SuanshuError) -> None:
    """Refusals are evidence too: record them, charge nothing."""
    with ex.db.transaction() as s:
        run_id = new_id("qry")
        s.add(QueryRun(id=run_id, contract_id=contract.id, sql=sql, query_sha256=_sha(sql), status="denied",
                       error_code=err.code, receipt={}))
        audit.append(s, actor=actor.label, action="query.deny", subject=run_id,
                     payload={"contract": contract.id, "query_sha256": _sha(sql), "code": err.code})


def _settle(ex: Exchange, actor: Actor, contract_id: str, sql: str, answer,
            reservation: budgets.Reservation | None = None, own: dict | None = None) -> QueryResult:
    with ex.db.transaction() as s:
        # FOR UPDATE: on PostgreSQL two settlements of one contract would otherwise both post the
        # same hold (SQLite's BEGIN IMMEDIATE already serialises them)
        contract = s.get(Contract, contract_id, with_for_update=True)
        _usable(contract)  # again, under the write lock: a concurrent query may have spent the budget
        run_id = new_id("qry")
        price = contract.price_fen
        memo = {"contract": contract.id, "query": run_id}
        charge = None
        if price:
            charge = settlement.charge(
                s, hold_id=contract.hold_transfer_id, buyer_org_id=contract.buyer_org_id,
                provider_org_id=contract.provider_org_id, price=price,
                remaining_after=_rehold(contract_service.remaining_fen(contract) - price, price),
                commission_bps=contract.commission_bps, memo=memo)
            contract.spent_fen += price
            contract.hold_transfer_id = charge.new_hold_id
        receipt = {
            "query": run_id, "contract": contract.id, "component": contract.component_id,
            "component_version": contract.component_version, "query_sha256": _sha(sql),
            "rows_out": answer.rows_out, "min_group_rows": answer.min_group_rows,
            "price_fen": price, "provider_fen": charge.provider_fen if charge else 0,
            "operator_fen": charge.operator_fen if charge else 0,
            "transfers": charge.transfers if charge else [],
            "budget_left_fen": contract_service.remaining_fen(contract), "time": iso(utcnow()),
        }
        # the same query however it is spaced, cased or commented (sqlglot-normalised)
        receipt["query_normalised_sha256"] = answer.sql_sha256
        receipt["mode"] = answer.mode
        receipt["epsilon_spent"] = answer.epsilon_spent
        if own:
            receipt["own_tables"] = own
        if reservation is not None:  # ε is spent in the same transaction as the money
            receipt["epsilon_spent_total"] = budgets.commit_in(s, reservation) / EPSILON_UNITS
        event = audit.append(s, actor=actor.label, action="query.answer", subject=run_id, payload=receipt)
        receipt["audit_seq"] = event.seq
        receipt["audit_hash"] = event.hash
        # Leaf index and tree size: `suanshu audit prove` / GET /audit/proof/{seq} prove this receipt.
        receipt["audit_leaf_index"] = audit.leaf_index(event)
        receipt["audit_tree_size"] = event.seq
        s.add(QueryRun(id=run_id, contract_id=contract.id, sql=sql, query_sha256=receipt["query_sha256"],
                       status="succeeded", rows_out=answer.rows_out, price_fen=price, receipt=receipt))
    return QueryResult(columns=answer.columns, rows=[list(r) for r in answer.rows], receipt=receipt)
