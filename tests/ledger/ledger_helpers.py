"""Helpers shared by the ledger tests."""

from __future__ import annotations

from types import SimpleNamespace
from uuid import uuid4

from suanshu.ledger.codes import CNY, TransferCode, TransferFlags
from suanshu.ledger.engine import NewTransfer, create_transfers, lookup_accounts


def nid() -> str:
    return uuid4().hex


def tr(dr: str, cr: str, amount: int, *, flags: int = 0, pending_id: str | None = None,
       code: int = TransferCode.DEPOSIT, ledger: int = CNY, id: str | None = None,
       memo: dict | None = None) -> NewTransfer:
    return NewTransfer(id or nid(), dr, cr, amount, ledger, code, flags, pending_id, memo or {})


class Ledger(SimpleNamespace):
    """bank (no limit), a and b (CASH: debits must not exceed credits), escrow, revenue."""

    def run(self, *events):
        with self.db.transaction() as s:
            return [str(r) for r in create_transfers(s, list(events))]

    def bal(self, account_id: str) -> tuple[int, int, int, int]:
        """(debits_pending, debits_posted, credits_pending, credits_posted)"""
        with self.db.transaction() as s:
            (a,) = lookup_accounts(s, [account_id])
            return a.debits_pending, a.debits_posted, a.credits_pending, a.credits_posted

    def fund(self, account_id: str, amount: int) -> None:
        assert self.run(tr(self.bank, account_id, amount)) == ["ok"]


def post(pending_id: str, amount: int = 0, *, flags: int = 0, id: str | None = None) -> NewTransfer:
    """Post a pending transfer; accounts, ledger and code left zero to come from it."""
    return tr("", "", amount, flags=TransferFlags.POST_PENDING_TRANSFER | flags,
              pending_id=pending_id, ledger=0, code=0, id=id)


def void(pending_id: str, *, flags: int = 0, id: str | None = None) -> NewTransfer:
    return tr("", "", 0, flags=TransferFlags.VOID_PENDING_TRANSFER | flags,
              pending_id=pending_id, ledger=0, code=0, id=id)
