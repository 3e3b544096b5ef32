"""A small exchange's ledger accounts on the backend under test (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from ledger_helpers import Ledger, nid

from suanshu.ledger.codes import CNY, AccountCode, AccountFlags, CreateAccountResult
from suanshu.ledger.engine import NewAccount, create_accounts


@pytest.fixture
def ledger(db) -> Ledger:
    L = Ledger(db=db, bank=nid(), a=nid(), b=nid(), escrow=nid(), revenue=nid())
    cash = AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS
    with db.transaction() as s:
        results = create_accounts(s, [
            NewAccount(L.bank, CNY, AccountCode.BANK, name="settlement bank"),
            NewAccount(L.a, CNY, AccountCode.CASH, cash, owner="org_a", name="A cash"),
            NewAccount(L.b, CNY, AccountCode.CASH, cash, owner="org_b", name="B cash"),
            NewAccount(L.escrow, CNY, AccountCode.ESCROW, name="escrow"),
            NewAccount(L.revenue, CNY, AccountCode.REVENUE, name="revenue"),
        ])
    assert results == [CreateAccountResult.OK] * 5
    return L
