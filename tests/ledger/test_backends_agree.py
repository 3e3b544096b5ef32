"""The same operations on SQLite and PostgreSQL give identical result codes, balances and Merkle
roots; and PostgreSQL under many writers on a hot account loses no update and always sums to zero."""

from __future__ import annotations

import hashlib
import random
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from suanshu.audit import log as audit
from suanshu.core import migrate
from suanshu.core.db import Database
from suanshu.core.settings import load_settings
from suanshu.ledger.codes import CNY, AccountCode, AccountFlags, TransferCode, TransferFlags
from suanshu.ledger.engine import NewAccount, NewTransfer, create_accounts, create_transfers, lookup_accounts, verify
from suanshu.ledger.models import Account
from suanshu.ledger.sequencer import Sequencer

T0 = datetime(2026, 11, 21, tzinfo=UTC)
ACCOUNTS = [hashlib.md5(f"acct{i}".encode()).hexdigest() for i in range(6)]


def _hid(*parts) -> str:
    return hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()[:32]


def _operations(seed: int, n: int) -> list[list[NewTransfer]]:
    """Seeded batches mixing plain, pending, post, void, linked chains, resends and overdrafts."""
    rng = random.Random(seed)
    batches, pending, sent = [], [], []
    for b in range(n):
        batch = []
        for k in range(rng.randint(1, 4)):
            roll, tid = rng.random(), _hid(seed, b, k)
            dr, cr = rng.sample(range(len(ACCOUNTS)), 2)
            if roll < 0.15 and pending:
                pid = pending.pop(rng.randrange(len(pending)))
                flag = TransferFlags.VOID_PENDING_TRANSFER if rng.random() < 0.4 else TransferFlags.POST_PENDING_TRANSFER
                t = NewTransfer(tid, "", "", rng.choice([0, 5, 50]), 0, 0, flag, pid)
            elif roll < 0.25 and sent:
                t = rng.choice(sent)  # a resend: exists (or exists_with_different_* never, same event)
            else:
                flags = TransferFlags.PENDING if roll < 0.45 else 0
                t = NewTransfer(tid, ACCOUNTS[0 if roll > 0.8 else dr], ACCOUNTS[cr if cr else 1],
                                rng.randint(1, 400), CNY, TransferCode.DEPOSIT, flags)
                if flags:
                    pending.append(tid)
            batch.append(t)
        if len(batch) > 1 and rng.random() < 0.3:  # make it one linked chain
            batch = [NewTransfer(**{**t.__dict__, "flags": t.flags | TransferFlags.LINKED}) if i < len(batch) - 1
                     else t for i, t in enumerate(batch)]
        sent.extend(t for t in batch if not t.flags & TransferFlags.LINKED)
        batches.append(batch)
    return batches


def _run(db: Database, batches) -> tuple[list, list, str]:
    with db.transaction() as s:
        create_accounts(s, [NewAccount(a, CNY, AccountCode.BANK if i == 0 else AccountCode.CASH,
                                       0 if i == 0 else AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS)
                            for i, a in enumerate(ACCOUNTS)])
    codes = []
    for i, batch in enumerate(batches):
        with db.transaction() as s:
            results = [str(r) for r in create_transfers(s, batch)]
            audit.append(s, actor="test", action="ledger.batch", subject=f"b{i}",
                         payload={"ids": [t.id for t in batch], "results": results}, time=T0 + timedelta(seconds=i))
        codes.append(results)
    with db.transaction() as s:
        balances = [(a.id, a.debits_pending, a.debits_posted, a.credits_pending, a.credits_posted)
                    for a in lookup_accounts(s, ACCOUNTS)]
        assert verify(s).ok
        result = audit.verify(s)
        assert result.ok
    return codes, balances, result.root


def test_sqlite_and_postgres_agree(pg_server, tmp_path):
    batches = _operations(seed=5, n=120)
    outcomes = []
    for name, url in (("sqlite", f"sqlite:///{tmp_path / 'a' / 'suanshu.db'}"),
                      ("postgres", pg_server.create_database(f"agree_{tmp_path.name[-20:]}".replace("-", "_")))):
        db = Database(load_settings(tmp_path / name, url))
        migrate.upgrade(db.engine)
        outcomes.append(_run(db, batches))
        db.dispose()
    (codes_a, bal_a, root_a), (codes_b, bal_b, root_b) = outcomes
    assert codes_a == codes_b and bal_a == bal_b and root_a == root_b
    seen = {c for batch in codes_a for c in batch}
    assert {"ok", "exists", "exceeds_credits"} <= seen  # the sequence exercised refusals too


@pytest.mark.parametrize("backend", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
def test_postgres_hot_account_many_writers(db, backend):
    hot, bank = ACCOUNTS[1], ACCOUNTS[0]
    others = ACCOUNTS[2:]
    with db.transaction() as s:
        create_accounts(s, [NewAccount(bank, CNY, AccountCode.BANK)]
                        + [NewAccount(a, CNY, AccountCode.CASH, AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS)
                           for a in [hot, *others]])
    seq = Sequencer(db, name="hot")
    stop, sums, errors = threading.Event(), [], []

    def reader() -> None:  # one statement is one snapshot: posted debits always equal credits
        while not stop.is_set():
            with db.transaction() as s:
                d, c = s.execute(select(func.sum(Account.debits_posted), func.sum(Account.credits_posted))).one()
                sums.append((d or 0) - (c or 0))

    def writer(w: int) -> None:
        try:
            for i in range(40):
                other = others[(w + i) % len(others)]
                ts = [NewTransfer(_hid("in", w, i), bank, hot, 10, CNY, TransferCode.DEPOSIT,
                                  TransferFlags.LINKED),
                      NewTransfer(_hid("out", w, i), hot, other, 7, CNY, TransferCode.DEPOSIT)]
                if w % 2:  # half direct, each in its own transaction; half through the sequencer
                    with db.transaction() as s:
                        results = [str(r) for r in create_transfers(s, ts)]
                else:
                    results = [str(r) for r in seq.create_transfers(ts)]
                assert results == ["ok", "ok"], results
        except Exception as exc:  # a deadlock or serialization failure would land here
            errors.append(exc)

    r = threading.Thread(target=reader)
    r.start()
    writers = [threading.Thread(target=writer, args=(w,)) for w in range(12)]
    for t in writers:
        t.start()
    for t in writers:
        t.join()
    stop.set()
    r.join()
    seq.close()
    assert not errors, errors
    assert sums and set(sums) == {0}
    with db.transaction() as s:
        (h,) = lookup_accounts(s, [hot])
        assert (h.credits_posted, h.debits_posted) == (12 * 40 * 10, 12 * 40 * 7)  # no lost update
        assert verify(s).ok
