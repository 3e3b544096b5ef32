"""What the market asks of the ledger: accounts per org, deposits, holds, charges and splits.

The ledger knows accounts and transfers; this module knows why money moves. A buyer's
budget is held as a pending transfer (buyer cash -> exchange escrow). Each charge is one
linked chain: post the hold for the price (the rest is released), hold the remaining
budget again, and split the price from escrow to the provider and the operator.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from suanshu.audit import log as audit
from suanshu.core.errors import NotFound, UsageError
from suanshu.core.ids import new_uuid_hex
from suanshu.core.money import split_commission
from suanshu.core.orgs import OPERATOR_ORG, Organization, Role
from suanshu.ledger import engine as ledger
from suanshu.ledger.codes import CNY, AccountCode, AccountFlags, TransferCode, TransferFlags
from suanshu.ledger.models import Account
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
    ledger.require_ok(ledger.create_transfers(s, transfers), transfers)


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

    def record(s: Session, results) -> None:
        # In the sequencer's transaction: the audit entry commits with the money or not at all.
        if results[0] == "ok":
            audit.append(s, actor=actor.label, action="ledger.deposit", subject=org.id,
                         payload={"transfer": tid, "amount_fen": amount, "reference": reference})

    # Deposits go through the ledger's single writer, which commits concurrent ones in groups.
    ledger.require_ok(ex.sequencer(CNY).create_transfers([transfer], after=record), [transfer])
    return tid


def hold(s: Session, buyer_org_id: str, amount: int, memo: dict) -> str:
    tid = new_uuid_hex()
    _apply(s, [_hold_transfer(s, tid, buyer_org_id, amount, memo)])
    return tid


def _hold_transfer(s: Session, tid: str, buyer_org_id: str, amount: int, memo: dict) -> ledger.NewTransfer:
    return ledger.NewTransfer(tid, account_id(s, buyer_org_id, AccountCode.CASH),
                              account_id(s, operator_id(s), AccountCode.ESCROW), amount, CNY,
                              TransferCode.HOLD, flags=TransferFlags.PENDING, memo=memo)


@dataclass(frozen=True)
class Charge:
    price_fen: int
    provider_fen: int
    operator_fen: int
    transfers: list[str]
    new_hold_id: str | None


def charge(s: Session, *, hold_id: str, buyer_org_id: str, provider_org_id: str, price: int,
           remaining_after: int, commission_bps: int, memo: dict) -> Charge:
    """Post ``price`` from the hold, re-hold ``remaining_after``, split the price: one linked chain.

    Post and void carry the hold's code, as TigerBeetle requires of a pending transfer's resolution.
    """
    provider_fen, operator_fen = split_commission(price, commission_bps)
    escrow = account_id(s, operator_id(s), AccountCode.ESCROW)
    post_id, new_hold = new_uuid_hex(), (new_uuid_hex() if remaining_after > 0 else None)
    chain = [ledger.NewTransfer(post_id, account_id(s, buyer_org_id, AccountCode.CASH), escrow, price, CNY,
                                TransferCode.HOLD, flags=TransferFlags.POST_PENDING_TRANSFER,
                                pending_id=hold_id, memo=memo)]
    if new_hold:
        chain.append(_hold_transfer(s, new_hold, buyer_org_id, remaining_after, memo))
    if provider_fen:
        chain.append(ledger.NewTransfer(new_uuid_hex(), escrow, account_id(s, provider_org_id, AccountCode.CASH),
                                        provider_fen, CNY, TransferCode.PROVIDER_SHARE, memo=memo))
    if operator_fen:
        chain.append(ledger.NewTransfer(new_uuid_hex(), escrow,
                                        account_id(s, operator_id(s), AccountCode.REVENUE),
                                        operator_fen, CNY, TransferCode.OPERATOR_COMMISSION, memo=memo))
    chain = [_linked(t) for t in chain[:-1]] + chain[-1:]
    _apply(s, chain)
    return Charge(price, provider_fen, operator_fen, [t.id for t in chain], new_hold)


def release(s: Session, *, hold_id: str, buyer_org_id: str, memo: dict) -> str:
    tid = new_uuid_hex()
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
