"""What the market asks of the ledger: accounts per org, deposits, holds, charges and splits.

The ledger knows accounts and transfers; this module knows why money moves. A buyer's
budget is held as a pending transfer (buyer cash -> exchange escrow). Each charge is one
linked chain: post the hold for the price (the rest is released), hold the remaining
budget again, and split the price from escrow to the provider and the operator.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from suanshu.core.errors import NotFound, UsageError
from suanshu.core.ids import new_uuid_hex
from suanshu.core.orgs import OPERATOR_ORG, Organization, Role
from suanshu.ledger import engine as ledger
from suanshu.ledger.codes import CNY, AccountCode, AccountFlags, TransferCode, TransferFlags
from suanshu.ledger.models import Account
from suanshu.ledger.sequencer import AuditNote
from suanshu.market.actors import Actor
from suanshu.market.exchange import Exchange


def open_org_accounts(s: Session, org: Organization) -> None:
    accounts = [ledger.NewAccount(new_uuid_hex(), CNY, AccountCode.CASH,
                                  AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS, org.id, f"{org.name} cash")]
    if org.name == OPERATOR_ORG:
        accounts += [
            ledger.NewAccount(new_uuid_hex(), CNY, AccountCode.BANK, 0, org.id, "settlement bank"),
            ledger.NewAccount(new_uuid_hex(), CNY, AccountCode.ESCROW, 0, org.id, "escrow"),
            ledger.NewAccount(new_uuid_hex(), CNY, AccountCode.REVENUE, 0, org.id, "commission revenue"),
        ]
    ledger.require_ok(ledger.create_accounts(s, accounts), accounts)


def account_id(s: Session, org_id: str, code: AccountCode) -> str:
    found = s.scalar(select(Account.id).where(Account.owner == org_id, Account.code == int(code)))
    if found is None:
        raise NotFound("ledger.account_not_found", f"org {org_id} has no {code.name.lower()} account")
    return found


def operator_id(s: Session) -> str:
    op = s.scalar(select(Organization.id).where(Organization.name == OPERATOR_ORG))
    if op is None:
        raise NotFound("exchange.not_initialised", "the exchange has no operator yet: run `suanshu init`")
    return op


def _apply(s: Session, transfers: list[ledger.NewTransfer]) -> None:
    # Sealed: the transfers' bytes go into the audit log with them (ledger.seals).
    ledger.require_ok(ledger.create_transfers(s, transfers, seal=True), transfers)


def deposit(ex: Exchange, actor: Actor, org_name: str, amount: int, reference: str = "") -> str:
    """An operator records money received from outside for an org."""
    actor.require(Role.OPERATOR)
    if amount <= 0:
        raise UsageError("money.not_positive", "a deposit must be more than ¥0.00")
    from suanshu.market.orgs import org_by_name

    with ex.db.transaction() as s:
        org = org_by_name(s, org_name)
        tid = new_uuid_hex()
        transfer = ledger.NewTransfer(tid, account_id(s, operator_id(s), AccountCode.BANK),
                                      account_id(s, org.id, AccountCode.CASH), amount, CNY,
                                      TransferCode.DEPOSIT, memo={"reference": reference})

    # Deposits go through the ledger's single writer, which commits concurrent ones in groups;
    # the audit entry is appended in its transaction when the transfer is ok, so it commits
    # with the money or not at all.
    note = AuditNote(actor.label, "ledger.deposit", org.id,
                     {"transfer": tid, "amount_fen": amount, "reference": reference})
    ledger.require_ok(ex.sequencer(CNY).create_transfers([transfer], audit_note=note), [transfer])
    return tid


def hold(s: Session, buyer_org_id: str, amount: int, memo: dict, *, tid: str | None = None,
         timeout: int = 0) -> str:
    """Reserve ``amount`` of the buyer's cash (pending buyer cash -> escrow); returns its id.
    Pass ``tid`` (32 hex) to choose the id, so a retried start converges instead of holding twice.
    ``timeout`` (seconds, 0: none): the ledger's expiry sweeper voids the hold once it runs out."""
    tid = tid or new_uuid_hex()
    _apply(s, [_hold_transfer(s, tid, buyer_org_id, amount, memo, timeout)])
    return tid


def _hold_transfer(s: Session, tid: str, buyer_org_id: str, amount: int, memo: dict,
                   timeout: int = 0) -> ledger.NewTransfer:
    return ledger.NewTransfer(tid, account_id(s, buyer_org_id, AccountCode.CASH),
                              account_id(s, operator_id(s), AccountCode.ESCROW), amount, CNY,
                              TransferCode.HOLD, flags=TransferFlags.PENDING, memo=memo, timeout=timeout)


@dataclass(frozen=True)
class Split:
    """One charge divided between the data provider, the compute provider and the operator."""

    data_provider_fen: int
    compute_provider_fen: int
    operator_fen: int


def split_charge(price_fen: int, commission_bps: int, compute_fen: int = 0) -> Split:
    """Split ``price_fen`` three ways in integer fen; the three parts always sum to the price.

    ``compute_fen`` is the part of the price that pays for compute (the rated resource-hours);
    the rest pays for the data. The remainder rule, fixed and deterministic: the operator's
    commission is ``commission_bps`` of the whole price rounded **down**; the compute provider
    gets its part less the same rate of commission, rounded **down**; the data provider gets
    whatever is left, so any fen lost to rounding goes to the data provider.
    """
    if price_fen < 0 or not 0 <= compute_fen <= price_fen:
        raise UsageError("money.bad_split", "need 0 <= compute_fen <= price_fen")
    if not 0 <= commission_bps <= 10_000:
        raise UsageError("money.bad_split", "commission_bps must be 0 to 10000")
    operator = price_fen * commission_bps // 10_000
    compute = compute_fen * (10_000 - commission_bps) // 10_000
    return Split(price_fen - operator - compute, compute, operator)


@dataclass(frozen=True)
class Charge:
    price_fen: int
    provider_fen: int  # the data provider's share
    operator_fen: int
    transfers: list[str]
    new_hold_id: str | None
    compute_provider_fen: int = 0


def _derived_id(seed: str | None, leg: str) -> str:
    """Ids derived from a caller's key make a retried charge converge (``exists``), not repeat."""
    if seed is None:
        return new_uuid_hex()
    return hashlib.sha256(f"{seed}/{leg}".encode()).hexdigest()[:32]


def charge(s: Session, *, hold_id: str | None, buyer_org_id: str, provider_org_id: str, price: int,
           remaining_after: int, commission_bps: int, memo: dict,
           compute_provider_org_id: str | None = None, compute_fen: int = 0,
           ids_from: str | None = None) -> Charge:
    """Charge ``price`` fen and split it, as **one linked chain** in the caller's transaction.

    With ``hold_id``: post ``price`` from that pending hold (a partial post releases the rest),
    and re-hold ``remaining_after`` as a new pending transfer. Without: debit the buyer's cash
    directly (code CHARGE). Then escrow -> data provider, escrow -> compute provider (when
    ``compute_provider_org_id`` is given and its share is not zero), escrow -> operator
    revenue, as ``split_charge(price, commission_bps, compute_fen)``. Any failing leg fails
    the whole chain (``LedgerError`` with the leg's result code; nothing is written).
    ``ids_from`` (e.g. ``f"{job_id}/{n}"``) derives the transfer ids so a retry converges.
    Post and void carry the hold's code, as TigerBeetle requires of a pending transfer's resolution.
    """
    if compute_fen and compute_provider_org_id is None:
        raise UsageError("money.bad_split", "compute_fen needs a compute provider")
    split = split_charge(price, commission_bps, compute_fen)
    op = operator_id(s)
    escrow, cash = account_id(s, op, AccountCode.ESCROW), account_id(s, buyer_org_id, AccountCode.CASH)
    new_hold = _derived_id(ids_from, "rehold") if remaining_after > 0 else None
    if hold_id is not None:
        first = ledger.NewTransfer(_derived_id(ids_from, "post"), cash, escrow, price, CNY, TransferCode.HOLD,
                                   flags=TransferFlags.POST_PENDING_TRANSFER, pending_id=hold_id, memo=memo)
    else:
        first = ledger.NewTransfer(_derived_id(ids_from, "charge"), cash, escrow, price, CNY,
                                   TransferCode.CHARGE, memo=memo)
    chain = [first]
    if new_hold:
        chain.append(_hold_transfer(s, new_hold, buyer_org_id, remaining_after, memo))
    legs = [("provider", provider_org_id, AccountCode.CASH, split.data_provider_fen, TransferCode.PROVIDER_SHARE),
            ("compute", compute_provider_org_id, AccountCode.CASH, split.compute_provider_fen,
             TransferCode.COMPUTE_SHARE),
            ("operator", op, AccountCode.REVENUE, split.operator_fen, TransferCode.OPERATOR_COMMISSION)]
    chain += [ledger.NewTransfer(_derived_id(ids_from, leg), escrow, account_id(s, org, code), amount, CNY, tcode,
                                 memo=memo) for leg, org, code, amount, tcode in legs if amount]
    chain = [_linked(t) for t in chain[:-1]] + chain[-1:]
    _apply(s, chain)
    return Charge(price, split.data_provider_fen, split.operator_fen, [t.id for t in chain], new_hold,
                  split.compute_provider_fen)


def release(s: Session, *, hold_id: str, buyer_org_id: str, memo: dict, tid: str | None = None) -> str:
    """Void a hold (cancel, expiry): the whole pending amount returns to the buyer. A hold
    resolves once: voiding a posted or voided hold raises ``ledger.pending_transfer_already_*``."""
    tid = tid or new_uuid_hex()
    _apply(s, [ledger.NewTransfer(tid, account_id(s, buyer_org_id, AccountCode.CASH),
                                  account_id(s, operator_id(s), AccountCode.ESCROW), 0, CNY,
                                  TransferCode.HOLD, flags=TransferFlags.VOID_PENDING_TRANSFER,
                                  pending_id=hold_id, memo=memo)])
    return tid


def _linked(t: ledger.NewTransfer) -> ledger.NewTransfer:
    from dataclasses import replace

    return replace(t, flags=t.flags | TransferFlags.LINKED)


@dataclass(frozen=True)
class BalanceRow:
    org: str
    account: str
    code: str
    posted_fen: int  # credits_posted - debits_posted
    held_fen: int  # debits_pending (money reserved by holds)
    available_fen: int


def balances(ex: Exchange, actor: Actor | None) -> list[BalanceRow]:
    """Every account for the operator or the local admin; an org's own accounts otherwise."""
    with ex.db.transaction() as s:
        q = select(Account, Organization.name).join(Organization, Organization.id == Account.owner)
        if actor is not None and not actor.has(Role.OPERATOR) and not actor.has(Role.AUDITOR):
            q = q.where(Account.owner == actor.org_id)
        rows = s.execute(q.order_by(Organization.name, Account.code)).all()
    return [BalanceRow(org=name, account=a.name, code=AccountCode(a.code).name.lower(),
                       posted_fen=a.credits_posted - a.debits_posted, held_fen=a.debits_pending,
                       available_fen=a.credits_posted - a.debits_posted - a.debits_pending)
            for a, name in rows]
