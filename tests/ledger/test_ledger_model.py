"""Hypothesis state machine: the engine against a tiny in-memory model of TigerBeetle's rules.

After every step the database must agree with the model, debits must equal credits, and no
limit flag may be breached counting pending amounts; resending an applied transfer must be
``exists`` and change nothing; linked chains apply all or nothing; a pending transfer resolves
once; a three-way settlement split sums to its price exactly; at the end ``verify`` replays
the whole ledger (balances = replay).
"""

from __future__ import annotations

import copy
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from ledger_helpers import nid, post, tr, void

from suanshu.ledger.codes import CNY, AccountCode, AccountFlags, TransferFlags
from suanshu.ledger.engine import (
    NewAccount,
    NewTransfer,
    create_accounts,
    create_transfers,
    lookup_accounts,
    verify,
)
from suanshu.market.settlement import split_charge

DMNEC = AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS
CMNED = AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS
LINKED, PENDING = TransferFlags.LINKED, TransferFlags.PENDING
POST, VOID = TransferFlags.POST_PENDING_TRANSFER, TransferFlags.VOID_PENDING_TRANSFER
# bank (no limit), three cash accounts, escrow (no limit), one capped debit-normal account
FLAGS = [0, DMNEC, DMNEC, DMNEC, 0, CMNED]

amounts = st.integers(1, 2_000)
# (debit, credit) account indexes: every distinct pair, plus one equal pair now and then.
N = len(FLAGS)
pairs = st.sampled_from([(d, c) for d in range(N) for c in range(N) if d != c] + [(1, 1)])


class Model:
    """What the ledger should contain, by TigerBeetle's rules, for the few results we provoke."""

    def __init__(self, ids: list[str]):
        self.flags = dict(zip(ids, FLAGS, strict=True))
        # debits_pending, debits_posted, credits_pending, credits_posted
        self.bal = {i: [0, 0, 0, 0] for i in ids}
        self.pending: dict[str, dict] = {}  # id -> {dr, cr, amount, state}
        self.applied: dict[str, NewTransfer] = {}

    def create(self, t: NewTransfer) -> str:
        if t.id in self.applied:
            assert self.applied[t.id] == t  # the machine only resends identical events
            return "exists"
        if t.flags & (POST | VOID):
            p = self.pending[t.pending_id]
            amount = t.amount or p["amount"]
            if amount > p["amount"]:
                return "exceeds_pending_transfer_amount"
            if p["state"]:
                return f"pending_transfer_already_{p['state']}"
            d, c = self.bal[p["dr"]], self.bal[p["cr"]]
            d[0] -= p["amount"]
            c[2] -= p["amount"]
            if t.flags & POST:
                d[1] += amount
                c[3] += amount
            p["state"] = "posted" if t.flags & POST else "voided"
        else:
            if t.debit_account_id == t.credit_account_id:
                return "accounts_must_be_different"
            d, c = self.bal[t.debit_account_id], self.bal[t.credit_account_id]
            if self.flags[t.debit_account_id] & DMNEC and d[0] + d[1] + t.amount > d[3]:
                return "exceeds_credits"
            if self.flags[t.credit_account_id] & CMNED and c[2] + c[3] + t.amount > c[1]:
                return "exceeds_debits"
            slot = 0 if t.flags & PENDING else 1
            d[slot] += t.amount
            c[slot + 2] += t.amount
            if t.flags & PENDING:
                self.pending[t.id] = {"dr": t.debit_account_id, "cr": t.credit_account_id,
                                      "amount": t.amount, "state": None}
        self.applied[t.id] = t
        return "ok"

    def create_chain(self, events: list[NewTransfer]) -> list[str]:
        saved = copy.deepcopy((self.bal, self.pending, self.applied))
        for i, t in enumerate(events):
            result = self.create(t)
            if result != "ok":
                self.bal, self.pending, self.applied = saved
                failed = ["linked_event_failed"] * len(events)
                return failed[:i] + [result] + failed[i + 1:]
        return ["ok"] * len(events)


class LedgerMachine(RuleBasedStateMachine):
    db = None  # set by the test

    def __init__(self):
        super().__init__()
        self.ids = [nid() for _ in FLAGS]
        with self.db.transaction() as s:
            create_accounts(s, [NewAccount(i, CNY, AccountCode.CASH, f)
                                for i, f in zip(self.ids, FLAGS, strict=True)])
        self.model = Model(self.ids)

    def send(self, *events: NewTransfer) -> list[str]:
        with self.db.transaction() as s:
            return [str(r) for r in create_transfers(s, list(events))]

    def transfer(self, dr: int, cr: int, amount: int, pending: bool, flags: int = 0) -> NewTransfer:
        return tr(self.ids[dr], self.ids[cr], amount, flags=flags | (PENDING if pending else 0))

    @rule(to=st.integers(1, len(FLAGS) - 1), amount=st.integers(1, 5_000))
    def deposit(self, to, amount):
        t = self.transfer(0, to, amount, False)
        assert self.send(t) == [self.model.create(t)]

    @rule(pair=pairs, amount=amounts, pending=st.booleans())
    def single(self, pair, amount, pending):
        t = self.transfer(*pair, amount, pending)
        assert self.send(t) == [self.model.create(t)]

    @precondition(lambda self: self.model.pending)
    @rule(data=st.data(), voiding=st.booleans(), amount=st.integers(0, 3_000))
    def resolve(self, data, voiding, amount):
        # Insertion order, never sorted: ids are random, and draws must replay the same way.
        pid = data.draw(st.sampled_from(list(self.model.pending)))
        t = void(pid) if voiding else post(pid, amount)
        assert self.send(t) == [self.model.create(t)]

    def resendable(self) -> list[NewTransfer]:
        # A LINKED event sent alone would be an open chain, so resend only chain-closing ones.
        return [t for t in self.model.applied.values() if not t.flags & LINKED]

    @precondition(lambda self: self.resendable())
    @rule(data=st.data())
    def resend(self, data):
        t = data.draw(st.sampled_from(self.resendable()))
        assert self.send(t) == ["exists"]

    @rule(legs=st.lists(st.tuples(pairs, amounts, st.booleans()), min_size=2, max_size=4),
          linked=st.booleans())
    def batch(self, legs, linked):
        """Several events in one call: independent, or one linked chain."""
        last = len(legs) - 1
        events = [self.transfer(*pair, amount, pending, LINKED if linked and i < last else 0)
                  for i, (pair, amount, pending) in enumerate(legs)]
        if linked:
            expected = self.model.create_chain(events)
        else:
            expected = [self.model.create(t) for t in events]
        assert self.send(*events) == expected

    @rule(amount=st.integers(1, 3_000), share=st.integers(1, 100), bps=st.integers(0, 10_000),
          compute_share=st.integers(0, 100))
    def split_charge(self, amount, share, bps, compute_share):
        """A settlement: hold buyer cash (1) in escrow (4), then one linked chain posting part of
        it and splitting that part to the data provider (2), the compute provider (3) and the
        operator (0). The three parts sum to the price exactly, and escrow keeps nothing."""
        hold = self.transfer(1, 4, amount, True)
        if self.send(hold) != [self.model.create(hold)] or self.model.applied.get(hold.id) is None:
            return
        price = max(1, amount * share // 100)
        parts = split_charge(price, bps, price * compute_share // 100)
        assert parts.data_provider_fen + parts.compute_provider_fen + parts.operator_fen == price
        escrow = self.ids[4]
        legs = [(self.ids[2], parts.data_provider_fen), (self.ids[3], parts.compute_provider_fen),
                (self.ids[0], parts.operator_fen)]
        chain = [post(hold.id, price)] + [tr(escrow, to, x) for to, x in legs if x]
        chain = [replace(t, flags=t.flags | LINKED) for t in chain[:-1]] + chain[-1:]
        before = list(self.model.bal[escrow])
        expected = self.model.create_chain(chain)
        assert self.send(*chain) == expected
        after = self.model.bal[escrow]
        if expected[0] == "ok":  # escrow took the price in and paid all of it out
            assert after[3] - before[3] == price and after[1] - before[1] == price

    @invariant()
    def database_matches_model(self):
        with self.db.transaction() as s:
            stored = {a.id: [a.debits_pending, a.debits_posted, a.credits_pending, a.credits_posted]
                      for a in lookup_accounts(s, self.ids)}
        assert stored == self.model.bal
        columns = list(zip(*stored.values(), strict=True))
        assert sum(columns[1]) == sum(columns[3]) and sum(columns[0]) == sum(columns[2])
        for i, (dp, dpo, cp, cpo) in stored.items():
            assert min(dp, dpo, cp, cpo) >= 0
            if self.model.flags[i] & DMNEC:
                assert dp + dpo <= cpo
            if self.model.flags[i] & CMNED:
                assert cp + cpo <= dpo


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
def test_engine_agrees_with_model(db, backend):
    LedgerMachine.db = db
    examples = 50 if backend == "sqlite" else 15  # PostgreSQL round trips cost more: lighter run
    run_state_machine_as_test(LedgerMachine, settings=settings(
        max_examples=examples, stateful_step_count=20, deadline=None,
        derandomize=True, database=None,  # the same cases every run, nothing written to disk
        suppress_health_check=[HealthCheck.too_slow]))
    with db.transaction() as s:
        report = verify(s)
    assert report.ok, report
