"""Metering to money: usage ingest, invoices rated from usage and settled as one linked chain,
statements per org and period, a reconciliation report, and the sweeper of expired holds.

Invoices are immutable: one per (contract, period start). Issuing takes every not-yet-invoiced
event of the contract up to the period's end — including late arrivals from earlier periods —
stamps them with the invoice, and posts the charge in the same transaction. So a resent event
(dropped on (source, id)), a reordered stream, or a late event never changes an issued invoice:
the late one is billed on the next. A voided event (``void_usage``: the operator's way out of one
rating refuses) is never invoiced; its row stays.
"""

from __future__ import annotations

import csv
import html
import io
import shlex
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from suanshu.audit import log as audit
from suanshu.billing import rating
from suanshu.billing import usage as usage_store
from suanshu.billing.models import Invoice, InvoiceLine, UsageEvent
from suanshu.core.clock import iso, local, utcnow
from suanshu.core.errors import NotFound, Refused, UsageError
from suanshu.core.ids import new_id
from suanshu.core.money import format_fen
from suanshu.core.orgs import Organization, Role
from suanshu.ledger import engine as ledger
from suanshu.ledger.codes import AccountCode, TransferCode, TransferFlags
from suanshu.ledger.models import Account, Transfer
from suanshu.market import awards
from suanshu.market import contracts as contract_service
from suanshu.market import settlement
from suanshu.market.actors import Actor
from suanshu.market.exchange import Exchange
from suanshu.market.models import Contract


def ingest_usage(ex: Exchange, actor: Actor, events: list[dict]) -> dict:
    """Operator (or a compute provider's meter): store usage events; resends are dropped."""
    actor.require(Role.OPERATOR, Role.COMPUTE)
    with ex.db.transaction() as s:
        new = usage_store.ingest(s, events, actor=actor.label)
    return {"received": len(events), "new": new, "duplicates": len(events) - new}


def void_usage(ex: Exchange, actor: Actor, source: str, id: str, *, reason: str) -> dict:
    """Operator: void a stored usage event no invoice has taken, with a reason (``usage.void``):
    the way out when rating refuses an event (``billing.bad_usage_event``). Idempotent."""
    actor.require(Role.OPERATOR)
    with ex.db.transaction() as s:
        return usage_store.event_json(usage_store.void(s, source, id, reason=reason, actor=actor.label))


def _rate_events(events: list[UsageEvent]) -> rating.Totals:
    """Fold the events in; one rating refuses (stored before ingest checked) names the way out."""
    totals = rating.Totals()
    for e in events:
        try:
            totals.add(e.type, e.data, event=f"usage event {e.source}/{e.id}")
        except UsageError as err:
            if err.code != "billing.bad_usage_event":
                raise
            raise UsageError(err.code, f"{err.message}. The operator can void it to invoice the rest: "
                                       f"suanshu ledger void-usage {shlex.quote(e.source)} {shlex.quote(e.id)} "
                                       "--reason '…' (API: POST /api/v1/usage/void)",
                             source=e.source, id=e.id) from None
    return totals


def issue_invoice(ex: Exchange, actor: Actor, contract_id: str, plan: dict, period_start: datetime,
                  period_end: datetime) -> Invoice:
    """Rate the contract's uninvoiced usage before ``period_end`` and settle it in the same
    transaction: posted from the contract's hold (or charged to cash) and split to provider and
    operator, one linked chain (``_settle_invoice``)."""
    actor.require(Role.OPERATOR)
    rating.check_plan(plan)
    if period_end <= period_start:
        raise UsageError("billing.bad_period", "the period must end after it starts")
    with ex.db.transaction() as s:
        # FOR UPDATE: a concurrent query posts from the same hold (SQLite's write lock serialises too)
        contract = s.get(Contract, contract_id, with_for_update=True)
        if contract is None:
            raise NotFound("contract.not_found", f"no contract {contract_id!r}")
        existing = s.scalar(select(Invoice).where(Invoice.subject == contract.id,
                                                  Invoice.period_start == period_start))
        if existing is not None:
            return existing  # one invoice per contract and period: issuing again changes nothing
        # FOR UPDATE: a concurrent void (``usage.void``) waits, then finds the event invoiced; one
        # that committed first is skipped here (PostgreSQL re-checks the WHERE on a locked row)
        events = list(s.scalars(select(UsageEvent).where(
            UsageEvent.subject == contract.id, UsageEvent.invoice_id.is_(None), UsageEvent.voided_at.is_(None),
            UsageEvent.time < period_end).order_by(UsageEvent.source, UsageEvent.id).with_for_update()))
        lines = rating.rate(plan, _rate_events(events))
        total = sum(line.amount_fen for line in lines)
        invoice_id = new_id("inv")
        charge = _settle_invoice(s, contract, invoice_id, total) if total else None
        provider_fen, operator_fen = (charge.provider_fen, charge.operator_fen) if charge else (0, 0)
        invoice = Invoice(id=invoice_id, subject=contract.id, buyer_org_id=contract.buyer_org_id,
                          provider_org_id=contract.provider_org_id, period_start=period_start,
                          period_end=period_end, plan=plan, events=len(events), total_fen=total,
                          provider_fen=provider_fen, operator_fen=operator_fen,
                          transfers=charge.transfers if charge else [])
        s.add(invoice)
        s.flush()
        s.add_all(InvoiceLine(invoice_id=invoice_id, n=i, kind=line.kind, description=line.description,
                              quantity=line.quantity, amount_fen=line.amount_fen) for i, line in enumerate(lines, 1))
        for e in events:
            e.invoice_id = invoice_id
        audit.append(s, actor=actor.label, action="invoice.issue", subject=invoice_id,
                     payload={"contract": contract.id, "period_start": iso(period_start),
                              "period_end": iso(period_end), "events": len(events), "total_fen": total,
                              "lines": [line.__dict__ for line in lines], "transfers": invoice.transfers})
    return invoice


def _settle_invoice(s: Session, contract: Contract, invoice_id: str, total: int) -> settlement.Charge:
    """Post the invoice from the contract's hold when it still covers it (the rest stays held),
    else charge the buyer's cash directly; either way one linked chain with the split, its ids
    derived from the invoice so a retried settlement converges."""
    memo = {"invoice": invoice_id, "contract": contract.id}
    left = contract_service.remaining_fen(contract)
    from_hold = contract.state == "active" and contract.hold_transfer_id is not None and total <= left
    charge = settlement.charge(
        s, hold_id=contract.hold_transfer_id if from_hold else None, buyer_org_id=contract.buyer_org_id,
        provider_org_id=contract.provider_org_id, price=total, remaining_after=left - total if from_hold else 0,
        commission_bps=contract.commission_bps, memo=memo, ids_from=invoice_id)
    if from_hold:
        contract.spent_fen += total
        contract.hold_transfer_id = charge.new_hold_id
    return charge


def invoice_json(s: Session, inv: Invoice) -> dict:
    lines = s.scalars(select(InvoiceLine).where(InvoiceLine.invoice_id == inv.id).order_by(InvoiceLine.n))
    return {"id": inv.id, "contract": inv.subject, "buyer": inv.buyer_org_id, "provider": inv.provider_org_id,
            "period_start": iso(inv.period_start), "period_end": iso(inv.period_end), "events": inv.events,
            "total_fen": inv.total_fen, "provider_fen": inv.provider_fen, "operator_fen": inv.operator_fen,
            "transfers": inv.transfers,
            "lines": [{"kind": x.kind, "description": x.description, "quantity": x.quantity,
                       "amount_fen": x.amount_fen} for x in lines]}


# --------------------------------------------------------------------------- reconciliation

def reconcile(ex: Exchange) -> dict:
    """For every invoice: total = sum of its lines = its charge transfer = provider + operator
    legs, and the ledger itself replays (``ledger.verify``)."""
    problems: list[dict] = []
    with ex.db.transaction() as s:
        invoices = list(s.scalars(select(Invoice).order_by(Invoice.id)))
        for inv in invoices:
            lines = sum(s.scalars(select(InvoiceLine.amount_fen).where(InvoiceLine.invoice_id == inv.id)))
            transfers = ledger.lookup_transfers(s, inv.transfers)
            legs = {t.code: t.amount for t in transfers if not t.flags & TransferFlags.PENDING}
            charged = sum(t.amount for t in transfers
                          if t.code == TransferCode.CHARGE or t.flags & TransferFlags.POST_PENDING_TRANSFER)
            checks = {
                "lines": lines,
                "charge_transfer": charged,
                "provider_plus_operator": inv.provider_fen + inv.operator_fen,
                "split_transfers": legs.get(TransferCode.PROVIDER_SHARE, 0)
                + legs.get(TransferCode.COMPUTE_SHARE, 0) + legs.get(TransferCode.OPERATOR_COMMISSION, 0),
            }
            for what, value in checks.items():
                if value != inv.total_fen:
                    problems.append({"invoice": inv.id, "check": what, "expected_fen": inv.total_fen,
                                     "found_fen": value})
        replay = ledger.verify(s)
    return {"ok": not problems and replay.ok, "invoices": len(invoices),
            "total_fen": sum(i.total_fen for i in invoices), "problems": problems, "ledger": replay.to_dict()}


# --------------------------------------------------------------------------- statements

@dataclass(frozen=True)
class StatementRow:
    time: str  # UTC ISO-8601 to the second (data); the HTML page shows Beijing time
    transfer: str
    code: str
    description: str
    debit_fen: int
    credit_fen: int
    balance_fen: int


def statement(ex: Exchange, actor: Actor | None, org_name: str, start: datetime, end: datetime) -> dict:
    """An org's cash account over [start, end): opening balance, every posted movement with a
    running balance, closing balance. Pending holds are listed by ``ledger balances``, not here."""
    from suanshu.market.orgs import org_by_name

    with ex.db.transaction() as s:
        org = org_by_name(s, org_name)
        if actor is not None and actor.org_id != org.id and not (actor.has(Role.OPERATOR) or actor.has(Role.AUDITOR)):
            raise NotFound("org.not_found", f"no org named {org_name!r}")
        cash = settlement.account_id(s, org.id, AccountCode.CASH)
        lo, hi = int(start.timestamp() * 1e9), int(end.timestamp() * 1e9)
        movements = s.scalars(select(Transfer).where(ledger.involving(s, cash), Transfer.timestamp < hi)
                              .order_by(Transfer.timestamp))
        opening, balance, rows = 0, 0, []
        for t in movements:
            posted = not t.flags & (TransferFlags.PENDING | TransferFlags.VOID_PENDING_TRANSFER)
            delta = (t.amount if t.credit_account_id == cash else -t.amount) if posted else 0
            if t.timestamp < lo:
                opening += delta
                balance = opening
                continue
            if not delta:
                continue
            balance += delta
            code = "charge" if t.flags & TransferFlags.POST_PENDING_TRANSFER else _code(t.code)  # a posted hold
            rows.append(StatementRow(iso_ns(t.timestamp), t.id, code, _describe(t.memo),
                                     -delta if delta < 0 else 0, delta if delta > 0 else 0, balance))
        account = s.get(Account, cash)
    return {"org": org.name, "display_name": org.display_name or org.name, "account": account.name,
            "period_start": iso(start), "period_end": iso(end), "opening_fen": opening, "closing_fen": balance,
            "rows": [r.__dict__ for r in rows]}


def iso_ns(ns: int) -> str:
    """A ledger timestamp as data: UTC ISO-8601 to the second, ``2026-12-03T18:18:07Z``."""
    return iso(datetime.fromtimestamp(ns // 10**9, UTC))


def _on_screen(utc_iso: str) -> str:
    return local(datetime.fromisoformat(utc_iso))


def _code(code: int) -> str:
    try:
        return TransferCode(code).name.lower()
    except ValueError:
        return str(code)


def _describe(memo: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(memo.items()) if v)


def statement_csv(st: dict) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["time (UTC)", "transfer", "code", "description", "debit_fen", "credit_fen",
                "balance_fen"])
    w.writerow(["", "", "opening", "", "", "", st["opening_fen"]])
    for r in st["rows"]:
        w.writerow([r["time"], r["transfer"], r["code"], r["description"], r["debit_fen"], r["credit_fen"],
                    r["balance_fen"]])
    w.writerow(["", "", "closing", "", "", "", st["closing_fen"]])
    return out.getvalue()


def statement_html(st: dict) -> str:
    """A printable page (no scripts, no external assets): for people, so times are Beijing time."""
    e = html.escape
    rows = "".join(
        f"<tr><td>{e(_on_screen(r['time']))}</td><td><code>{e(r['transfer'][:12])}</code></td><td>{e(r['code'])}</td>"
        f"<td>{e(r['description'])}</td><td class=n>{format_fen(r['debit_fen']) if r['debit_fen'] else ''}</td>"
        f"<td class=n>{format_fen(r['credit_fen']) if r['credit_fen'] else ''}</td>"
        f"<td class=n>{format_fen(r['balance_fen'])}</td></tr>" for r in st["rows"])
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>对账单 Statement — {e(st['display_name'])}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse;width:100%}}
td,th{{border-bottom:1px solid #ccc;padding:4px 8px;text-align:left}}.n{{text-align:right}}
@media print{{body{{margin:0}}}}</style></head><body>
<h1>对账单 Statement</h1>
<p>{e(st['display_name'])} — {e(st['account'])}<br>{e(st['period_start'])} … {e(st['period_end'])} (UTC)</p>
<table><thead><tr><th>时间 time (北京时间 Asia/Shanghai)</th><th>transfer</th><th>code</th><th>说明</th><th class=n>支出 debit</th>
<th class=n>收入 credit</th><th class=n>余额 balance</th></tr></thead><tbody>
<tr><td colspan=6>期初余额 opening balance</td><td class=n>{format_fen(st['opening_fen'])}</td></tr>
{rows}
<tr><td colspan=6>期末余额 closing balance</td><td class=n>{format_fen(st['closing_fen'])}</td></tr>
</tbody></table></body></html>
"""


# --------------------------------------------------------------------------- the sweeper

def sweep_expired(ex: Exchange, now: datetime | None = None) -> list[str]:
    """Void the holds of contracts past their expiry and mark them expired; returns their ids.
    Each contract in its own transaction with its audit entry; safe to run from cron repeatedly."""
    now = now or utcnow()
    with ex.db.transaction() as s:
        due = list(s.scalars(select(Contract.id).where(Contract.state == "active", Contract.expires_at <= now)
                             .order_by(Contract.id)))
    swept = []
    for cid in due:
        with ex.db.transaction() as s:
            c = s.get(Contract, cid, with_for_update=True)
            if c.state == "active":
                _end(s, c, "expired", "system:sweeper")
                swept.append(cid)
    return swept


def cancel_contract(ex: Exchange, actor: Actor, contract_id: str) -> dict:
    """The buyer (or the operator) ends an active contract: its hold is voided, so the unspent
    budget returns to the buyer's available cash; what was spent stays spent."""
    actor.require(Role.BUYER, Role.OPERATOR)
    with ex.db.transaction() as s:
        c = s.get(Contract, contract_id, with_for_update=True)  # a concurrent query waits for us
        if c is None or not (actor.has(Role.OPERATOR) or c.buyer_org_id == actor.org_id):
            raise NotFound("contract.not_found", f"no contract {contract_id!r}")
        if c.state != "active":
            raise Refused("contract.not_active", f"contract {c.id} is {c.state}")
        released = _end(s, c, "cancelled", actor.label)
    return {"contract": contract_id, "state": "cancelled", "released_transfer": released,
            "spent_fen": c.spent_fen}


def _end(s: Session, c: Contract, state: str, actor_label: str) -> str | None:
    """Void the contract's hold (a hold resolves once) and record why, in one transaction."""
    released = None
    if c.hold_transfer_id:
        released = settlement.release(s, hold_id=c.hold_transfer_id, buyer_org_id=c.buyer_org_id,
                                      memo={"contract": c.id, "reason": state})
    c.state, c.hold_transfer_id = state, None
    awards.end_with_contract(s, c, actor=actor_label, reason=f"contract.{state}")  # a demand's unused compute award
    audit.append(s, actor=actor_label, action=f"contract.{'expire' if state == 'expired' else 'cancel'}",
                 subject=c.id, payload={"released_transfer": released, "spent_fen": c.spent_fen})
    return released


def org_names(s: Session) -> dict[str, str]:
    return dict(s.execute(select(Organization.id, Organization.name)).all())
