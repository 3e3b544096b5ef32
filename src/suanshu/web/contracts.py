"""Contracts: the list (as buyer and as provider, with revenue), one contract with its query
workbench (SQL editor, result table, chart, refusals explained), and the buyer's bills."""

from __future__ import annotations

import hashlib
import numbers
import secrets
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Annotated, NamedTuple

import pyarrow as pa
import pyarrow.parquet as pq
from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select

from suanshu.billing.models import Invoice, InvoiceLine
from suanshu.compute.models import Job
from suanshu.core.errors import SuanshuError, UsageError
from suanshu.core.orgs import Role
from suanshu.market import queries, settlement, workspace
from suanshu.market.models import QueryRun
from suanshu.web import errors, forms
from suanshu.web.auth import Posted, User, need
from suanshu.web.i18n import _
from suanshu.web.render import keyset_page, page

router = APIRouter(include_in_schema=False)
CHART_ROWS = 50
MAX_OWN_BYTES = 20 * 1024 * 1024  # a workbench upload is a small lookup table; bigger ones go through the API
OWN_SUFFIXES = (".csv", ".txt", ".tsv", ".xlsx", ".parquet")


@router.get("/contracts")
def contract_list(request: Request, who: User):
    need(who, Role.BUYER, Role.PROVIDER, Role.OPERATOR, Role.AUDITOR)
    ex = request.app.state.exchange
    actor = who.actor

    def section(side: str, param: str):
        return keyset_page(request, param, lambda after, n: workspace.contract_rows(ex, actor, side=side, after=after,
                                                                                     limit=n),
                           key=lambda row: row.contract.id)

    bought, bought_pages = section("buyer", "bought") if actor.has(Role.BUYER) else ([], None)
    sold, sold_pages = section("provider", "sold") if actor.has(Role.PROVIDER) else ([], None)
    sees_all = actor.has(Role.OPERATOR) or actor.has(Role.AUDITOR)
    others, others_pages = section("other", "others") if sees_all else ([], None)
    revenue = workspace.revenue(ex, actor) if actor.has(Role.PROVIDER) else None
    chart = None
    if revenue and revenue["days"]:
        chart = {"type": "bar", "x": [d for d, _v in revenue["days"]],
                 "series": [{"name": _("earned (yuan)"), "data": [v / 100 for _d, v in revenue["days"]]}]}
    return page(request, "contracts.html", bought=bought, sold=sold, others=others, revenue=revenue,
                revenue_chart=chart, pages={"bought": bought_pages, "sold": sold_pages, "others": others_pages})


def chart_of(columns: list[str], rows: list[list]) -> dict | None:
    """A bar chart of the result: the first non-numeric column along x, numeric columns as series."""
    if not rows:
        return None
    numeric = [i for i, _c in enumerate(columns)
               if all(isinstance(r[i], numbers.Number) and not isinstance(r[i], bool) for r in rows if r[i] is not None)
               and any(r[i] is not None for r in rows)]
    labels = [i for i in range(len(columns)) if i not in numeric]
    if not numeric:
        return None
    x = [" / ".join(str(r[i]) for i in labels) if labels else str(n + 1) for n, r in enumerate(rows[:CHART_ROWS])]
    series = [{"name": columns[i], "data": [float(r[i]) if r[i] is not None else None for r in rows[:CHART_ROWS]]}
              for i in numeric]
    return {"type": "bar", "x": x, "series": series}


def _contract_and_runs(request: Request, who, contract_id: str, base: str | None = None):
    """The contract, its component, one page of its query history and the history's page links."""
    found: dict = {}

    def runs_page(after, n):
        found["contract"], found["component"], runs = workspace.contract_detail(
            request.app.state.exchange, who.actor, contract_id, runs_after=after, runs_limit=n)
        return runs

    runs, runs_pages = keyset_page(request, "runs", runs_page, base=base)
    return found["contract"], found["component"], runs, runs_pages


def detail(request: Request, who, contract_id: str, status: int = 200, **extra):
    contract, component, runs, runs_pages = _contract_and_runs(request, who, contract_id)
    extra.setdefault("request_key", new_request_key())
    return page(request, "contract.html", status_code=status, k=contract, comp=component, runs=runs,
                runs_pages=runs_pages, is_buyer=contract.buyer_org_id == who.actor.org_id,
                joins=join_columns(contract.policy), **extra)


@router.get("/contracts/{contract_id}")
def contract(request: Request, who: User, contract_id: str, signed: str = ""):
    try:
        return detail(request, who, contract_id,
                       notice=_("Signed. The budget is held; write a query below.") if signed else None)
    except SuanshuError as err:
        return page(request, "message.html", status_code=err.http_status, error=errors.box(err))


def own_table_from_upload(filename: str, data: bytes) -> pa.Table:
    """The buyer's uploaded file as Arrow, read by the vault's ingest (GBK/GB18030 CSV, xlsx, Parquet;
    identifier-like digits stay text), the same reader ``suanshu analyze --own`` uses, so a key
    column gets the type the provider's column got from the same reader."""
    suffix = Path(filename).suffix.lower()
    if suffix not in OWN_SUFFIXES:
        raise UsageError("query.bad_own_table", f"own table file {filename!r}: use CSV, xlsx or Parquet")
    if len(data) > MAX_OWN_BYTES:
        raise UsageError("query.bad_own_table", f"own table file is {len(data):,} bytes; at most {MAX_OWN_BYTES:,} here")
    from suanshu.vault.ingest import ingest_file

    with tempfile.TemporaryDirectory(prefix="suanshu-own-") as tmp:
        src, dest = Path(tmp) / f"upload{suffix}", Path(tmp) / "own.parquet"
        src.write_bytes(data)
        ingest_file(src, dest)
        table = pq.read_table(dest)
    if table.num_rows > queries.MAX_OWN_ROWS:
        raise UsageError("query.bad_own_table", f"own table has {table.num_rows:,} rows; at most {queries.MAX_OWN_ROWS:,}")
    return table


def join_columns(policy: dict) -> list[str]:
    return [c for c, role in policy.get("columns", {}).items() if role == "join"]


@router.post("/contracts/{contract_id}/query")
async def run_query(request: Request, who: Posted, contract_id: str, sql: Annotated[str, Form()],
                    own_file: Annotated[UploadFile | None, File()] = None, own_name: Annotated[str, Form()] = "own",
                    request_key: Annotated[str, Form()] = ""):
    """Run a query from the workbench. The form carries a key of its own (``request_key``, new
    with each form): a reload, a resubmitted page or a double click replays the first answer
    (the same stored outcome as the API's ``Idempotency-Key``) and charges nothing again."""
    need(who, Role.BUYER)
    ex = request.app.state.exchange
    outcome: dict = {"sql": sql, "own_name": own_name}
    data = await own_file.read() if own_file is not None and own_file.filename else None

    def work() -> dict:
        answer = {}
        own = None
        if data is not None:
            table = own_table_from_upload(own_file.filename, data)
            own = {own_name.strip() or "own": table}
            answer["own"] = {"name": own_file.filename, "rows": table.num_rows, "columns": table.column_names}
        result = queries.run(ex, who.actor, contract_id, sql, own)
        return answer | {"columns": result.columns, "rows": result.rows, "receipt": result.receipt,
                         "chart": chart_of(result.columns, result.rows)}

    payload = {"sql": sql, "own_name": own_name, "own_sha256": hashlib.sha256(data).hexdigest() if data else None}
    try:
        answer, outcome["replayed"] = await run_in_threadpool(forms.once, request, who.actor, "console", request_key,
                                                              payload, work)
        outcome |= answer
        status = 200
    except SuanshuError as err:
        outcome["refusal"] = errors.box(err, _("The query was refused"))
        status = 200 if request.headers.get("hx-request") else err.http_status
    if request.headers.get("hx-request"):  # the result, and the history and the form's key refreshed out of band
        contract, _component, runs, runs_pages = await run_in_threadpool(
            lambda: _contract_and_runs(request, who, contract_id, base=f"/contracts/{contract_id}"))
        return page(request, "_result.html", status_code=status, outcome=outcome, runs=runs, k=contract,
                    runs_pages=runs_pages, history_oob=True, request_key=new_request_key())
    try:
        return await run_in_threadpool(lambda: detail(request, who, contract_id, status=status, outcome=outcome))
    except SuanshuError as err:
        return page(request, "message.html", status_code=err.http_status, error=errors.box(err))


def new_request_key() -> str:
    return secrets.token_urlsafe(18)


@router.get("/invoices")
def bills(request: Request, who: User):
    need(who, Role.BUYER, Role.PROVIDER)
    ex = request.app.state.exchange
    rows = workspace.contract_rows(ex, who.actor, side="buyer")
    with ex.db.transaction() as s:
        ids = [r.contract.id for r in rows]
        charges = _charges(s, ids) if ids else []
        invoices = list(s.scalars(select(Invoice).where(Invoice.buyer_org_id == who.actor.org_id)
                                  .order_by(Invoice.created_at.desc())))
        lines = {i.id: list(s.scalars(select(InvoiceLine).where(InvoiceLine.invoice_id == i.id)
                                      .order_by(InvoiceLine.n))) for i in invoices}
    titles = {r.contract.id: r.component.title for r in rows}
    balances = [b for b in settlement.balances(ex, who.actor) if b.code == "cash"]
    return page(request, "bills.html", rows=rows, charges=charges, titles=titles, invoices=invoices, lines=lines,
                balances=balances, total_charged=sum(c.price_fen for c in charges))


class Charge(NamedTuple):
    time: datetime
    contract_id: str
    price_fen: int
    subject: str  # the query run's or the job's id
    audit_seq: int | None


def _charges(s, contract_ids: list[str]) -> list[Charge]:
    """What the contracts charged, newest first: answered queries and finished jobs (data and
    compute), each with the audit entry of its receipt. A running job's hold is not a charge."""
    runs = s.scalars(select(QueryRun).where(QueryRun.contract_id.in_(contract_ids), QueryRun.status == "succeeded"))
    jobs = s.scalars(select(Job).where(Job.contract_id.in_(contract_ids), Job.finished_at.is_not(None),
                                       Job.price_fen > 0))
    charges = [Charge(q.created_at, q.contract_id, q.price_fen, q.id, q.receipt.get("audit_seq")) for q in runs]
    charges += [Charge(j.finished_at, j.contract_id, j.price_fen, j.id, j.receipt.get("audit_seq")) for j in jobs]
    return sorted(charges, key=lambda c: c.time, reverse=True)
