"""What guards the ledger beyond result codes: append-only transfers, verify, errors, locking."""

from __future__ import annotations

import json

import threading

import pytest
from alembic import command
from ledger_helpers import nid, post, tr, void
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from suanshu.core import migrate
from suanshu.ledger.codes import CNY, AccountCode, TransferCode, TransferFlags
from suanshu.ledger.engine import (
    LedgerError,
    NewAccount,
    create_accounts,
    create_transfers,
    require_ok,
    verify,
)

PENDING = TransferFlags.PENDING
LINKED = TransferFlags.LINKED


@pytest.mark.parametrize("statement", [
    "UPDATE ledger_transfers SET amount = 1",
    "DELETE FROM ledger_transfers",
])
def test_database_refuses_update_and_delete_of_transfers(ledger, statement):
    ledger.fund(ledger.a, 500)
    with pytest.raises(DBAPIError, match="append-only"), ledger.db.transaction() as s:
        s.execute(text(statement))
    assert ledger.bal(ledger.a) == (0, 0, 0, 500)
    with ledger.db.transaction() as s:
        assert s.scalar(text("SELECT amount FROM ledger_transfers")) == 500


@pytest.mark.parametrize("statement", [
    "DELETE FROM ledger_accounts WHERE id = :a",
    "UPDATE ledger_accounts SET id = '" + "e" * 32 + "' WHERE id = :a",
    "UPDATE ledger_accounts SET ledger = 840 WHERE id = :a",
])
def test_database_refuses_to_delete_or_rekey_an_account(ledger, statement):
    """Transfers name their accounts without a foreign key (0012): the engine checks them under
    the ledger lock, and the database keeps accounts from going away or changing identity."""
    ledger.fund(ledger.a, 500)
    with pytest.raises(DBAPIError, match="permanent"), ledger.db.transaction() as s:
        s.execute(text(statement), {"a": ledger.a})
    with ledger.db.transaction() as s:  # balances still move, and a no-op rewrite of the key passes
        s.execute(text("UPDATE ledger_accounts SET name = 'A', id = id, ledger = ledger WHERE id = :a"),
                  {"a": ledger.a})
    assert ledger.bal(ledger.a) == (0, 0, 0, 500)
    assert ledger.run(tr(ledger.a, nid(), 1)) == ["credit_account_not_found"]


@pytest.mark.parametrize("backend", [pytest.param("postgres", marks=pytest.mark.postgres)],
                         indirect=True)
def test_postgres_also_refuses_truncate(ledger):
    with pytest.raises(DBAPIError, match="append-only"), ledger.db.transaction() as s:
        s.execute(text("TRUNCATE ledger_transfers CASCADE"))


def test_downgrade_drops_the_triggers_and_upgrade_restores_them(ledger):
    ledger.fund(ledger.a, 500)
    cfg = migrate.alembic_config(ledger.db.engine)
    with ledger.db.engine.connect() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0001")
        conn.commit()
    with ledger.db.transaction() as s:
        s.execute(text("UPDATE ledger_transfers SET memo = memo"))
    migrate.upgrade(ledger.db.engine)
    with pytest.raises(DBAPIError, match="append-only"), ledger.db.transaction() as s:
        s.execute(text("UPDATE ledger_transfers SET memo = memo"))


def _activity(ledger):
    """Deposits, a hold posted in part and split provider/operator, a hold voided."""
    L = ledger
    L.fund(L.a, 10_000)
    L.fund(L.b, 3_000)
    h1 = tr(L.a, L.escrow, 4_000, flags=PENDING, code=TransferCode.HOLD)
    h2 = tr(L.b, L.escrow, 1_000, flags=PENDING, code=TransferCode.HOLD)
    assert L.run(h1, h2) == ["ok", "ok"]
    assert L.run(
        post(h1.id, 2_500, flags=LINKED),
        tr(L.escrow, L.b, 2_250, flags=LINKED, code=TransferCode.PROVIDER_SHARE),
        tr(L.escrow, L.revenue, 250, code=TransferCode.OPERATOR_COMMISSION),
        void(h2.id),
    ) == ["ok"] * 4


def test_verify_passes_after_activity(ledger):
    _activity(ledger)
    with ledger.db.transaction() as s:
        report = verify(s, batch=3)  # small pages exercise the keyset paging
    assert report.ok, report
    assert (report.accounts, report.transfers) == (5, 8)
    assert report.to_dict()["reason"] == ""


def test_verify_names_the_tampered_account(ledger):
    _activity(ledger)
    with ledger.db.transaction() as s:
        s.execute(text("UPDATE ledger_accounts SET credits_posted = credits_posted + 1"
                       " WHERE id = :id"), {"id": ledger.b})
    with ledger.db.transaction() as s:
        report = verify(s)
    assert not report.ok
    assert report.account == ledger.b
    assert ledger.b in report.reason


def test_verify_catches_balanced_tampering_via_replay(ledger):
    """Moving money between two accounts keeps debits == credits; only the replay sees it."""
    _activity(ledger)
    first, second = sorted([ledger.a, ledger.b])
    with ledger.db.transaction() as s:
        for aid, delta in ((first, 7), (second, -7)):
            s.execute(text("UPDATE ledger_accounts SET credits_posted = credits_posted + :d"
                           " WHERE id = :id"), {"id": aid, "d": delta})
    with ledger.db.transaction() as s:
        report = verify(s)
    assert (report.ok, report.account) == (False, first)


def test_require_ok_gives_stable_codes(ledger):
    ledger.fund(ledger.a, 100)
    events = [tr(ledger.a, ledger.b, 60), tr(ledger.a, ledger.b, 60)]
    with ledger.db.transaction() as s:
        results = create_transfers(s, events)
    with pytest.raises(LedgerError) as err:
        require_ok(results, events)
    assert err.value.code == "ledger.exceeds_credits"
    assert err.value.message.startswith("insufficient funds: account " + ledger.a)
    assert "¥0.60" in err.value.message
    assert err.value.details == {"index": 1, "id": events[1].id}
    assert err.value.to_dict()["error"]["code"] == "ledger.exceeds_credits"

    # A failed chain reports the chain's own failure, not linked_event_failed.
    chain = [tr(ledger.b, ledger.a, 10, flags=LINKED), tr(ledger.a, ledger.b, 500)]
    with ledger.db.transaction() as s:
        results = create_transfers(s, chain)
    assert results == ["linked_event_failed", "exceeds_credits"]
    with pytest.raises(LedgerError) as err:
        require_ok(results, chain)
    assert (err.value.code, err.value.details["index"]) == ("ledger.exceeds_credits", 1)
    assert "linked chain" in err.value.message

    # An identical resend is success by default; a different one is a 409 conflict.
    require_ok(["exists"], [events[0]])
    with pytest.raises(LedgerError) as err:
        require_ok(["exists"], [events[0]], allow_exists=False)
    assert err.value.code == "ledger.exists"
    with pytest.raises(LedgerError) as err:
        require_ok(["ok", "exists_with_different_amount"], events)
    assert (err.value.code, err.value.http_status, err.value.exit_code) == (
        "ledger.exists_with_different_amount", 409, 3)

    with ledger.db.transaction() as s:
        accounts = [NewAccount(nid(), CNY, 0)]
        with pytest.raises(LedgerError) as err:
            require_ok(create_accounts(s, accounts), accounts)
    assert err.value.code == "ledger.code_must_not_be_zero"


def test_concurrent_spenders_never_overdraw(ledger):
    """Eight writers race to spend 300 each from 1000: exactly three win, on both backends."""
    ledger.fund(ledger.a, 1_000)
    hold = tr(ledger.a, ledger.escrow, 100, flags=PENDING)
    assert ledger.run(hold) == ["ok"]
    results: list[str] = []
    barrier = threading.Barrier(8)

    def spend(i: int) -> None:
        barrier.wait()
        if i < 2:  # two of them race to post the same hold instead
            event = post(hold.id)
        else:
            event = tr(ledger.a, ledger.b, 300)
        with ledger.db.transaction() as s:
            results.extend(str(r) for r in create_transfers(s, [event]))

    threads = [threading.Thread(target=spend, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    expected = ["ok"] * 4 + ["exceeds_credits"] * 3 + ["pending_transfer_already_posted"]
    assert sorted(results) == sorted(expected)
    assert ledger.bal(ledger.a) == (0, 1_000, 0, 1_000)
    with ledger.db.transaction() as s:
        assert verify(s).ok


def test_accounts_on_other_ledgers_balance_separately(db):
    usd_bank, usd_cash = nid(), nid()
    with db.transaction() as s:
        assert create_accounts(s, [NewAccount(usd_bank, 840, AccountCode.BANK),
                                   NewAccount(usd_cash, 840, AccountCode.CASH)]) == ["ok", "ok"]
        assert create_transfers(s, [tr(usd_bank, usd_cash, 5, ledger=840)]) == ["ok"]
    with db.transaction() as s:
        assert verify(s).ok


def _posting_of(s, account: str, ts: int):
    return s.execute(text("SELECT first_timestamp, last_timestamp, timestamps FROM ledger_account_postings "
                          "WHERE account_id = :a AND first_timestamp <= :t AND last_timestamp >= :t"),
                     {"a": account, "t": ts}).one()


def _set_posting(s, account: str, first: int, **values) -> None:
    sets = ", ".join(f"{k} = :{k}" for k in values)
    s.execute(text(f"UPDATE ledger_account_postings SET {sets} WHERE account_id = :a AND first_timestamp = :f"),
              {"a": account, "f": first, **values})


def test_verify_names_what_the_account_index_misses_or_invents(ledger):
    """The account index is derived, like balances: a transfer dropped from it (it would vanish
    from listings and statements) or an entry no transfer backs makes verify fail."""
    _activity(ledger)
    with ledger.db.transaction() as s:
        victim = s.execute(text("SELECT id, credit_account_id, timestamp FROM ledger_transfers "
                                "ORDER BY timestamp LIMIT 1 OFFSET 2")).one()
        first, _, stamps = _posting_of(s, victim.credit_account_id, victim.timestamp)
        kept = [t for t in json.loads(stamps) if t != victim.timestamp]
        _set_posting(s, victim.credit_account_id, first, timestamps=json.dumps(kept))
    with ledger.db.transaction() as s:
        report = verify(s)
    assert (report.ok, report.transfer) == (False, victim.id)
    assert "account index" in report.reason
    with ledger.db.transaction() as s:  # put it back, then list it under the wrong account
        _set_posting(s, victim.credit_account_id, first, timestamps=stamps)
        assert verify(s).ok
        s.execute(text("INSERT INTO ledger_account_postings (account_id, first_timestamp, last_timestamp, "
                       "timestamps) VALUES (:a, :t, :t, :j)"),
                  {"a": ledger.revenue, "t": victim.timestamp, "j": f"[{victim.timestamp}]"})
    with ledger.db.transaction() as s:
        report = verify(s)
    assert (report.ok, report.account) == (False, ledger.revenue)


def test_verify_names_a_posting_readers_would_misread(ledger):
    """Listings take an account's first N postings for a page of N: a posting listing a transfer
    twice, with bounds that are not its least and greatest, or overlapping the one before would
    make a page skip or repeat transfers, so verify names its account."""
    _activity(ledger)
    with ledger.db.transaction() as s:
        t = s.execute(text("SELECT debit_account_id, timestamp FROM ledger_transfers ORDER BY timestamp "
                           "LIMIT 1 OFFSET 3")).one()
        first, last, stamps = _posting_of(s, t.debit_account_id, t.timestamp)
    tampered = {"repeated": {"timestamps": json.dumps(json.loads(stamps) + [t.timestamp])},
                "wrong last": {"last_timestamp": last + 1},
                "wrong first": {"first_timestamp": first - 1}}
    for how, values in tampered.items():
        with ledger.db.transaction() as s:
            _set_posting(s, t.debit_account_id, first, **values)
        with ledger.db.transaction() as s:
            report = verify(s)
            assert (report.ok, report.account) == (False, t.debit_account_id), how
            assert "account index" in report.reason, how
            # and back as it was
            restore = {"timestamps": stamps, "last_timestamp": last, "first_timestamp": first}
            s.execute(text("DELETE FROM ledger_account_postings WHERE account_id = :a AND first_timestamp "
                           "IN (:f, :g)"), {"a": t.debit_account_id, "f": first, "g": first - 1})
            s.execute(text("INSERT INTO ledger_account_postings (account_id, first_timestamp, last_timestamp, "
                           "timestamps) VALUES (:a, :first_timestamp, :last_timestamp, :timestamps)"),
                      {"a": t.debit_account_id, **restore})
        with ledger.db.transaction() as s:
            assert verify(s).ok, how
    with ledger.db.transaction() as s:  # the busiest posting, split in two that interleave
        account, first, stamps = max(s.execute(text("SELECT account_id, first_timestamp, timestamps "
                                                     "FROM ledger_account_postings")),
                                     key=lambda row: len(json.loads(row[2])))
        v = sorted(json.loads(stamps))
        assert len(v) >= 3
        _set_posting(s, account, first, timestamps=json.dumps([v[0], v[2]]), last_timestamp=v[2])
        rest = [v[1], *v[3:]]
        s.execute(text("INSERT INTO ledger_account_postings (account_id, first_timestamp, last_timestamp, "
                       "timestamps) VALUES (:a, :f, :l, :j)"),
                  {"a": account, "f": v[1], "l": rest[-1], "j": json.dumps(rest)})
    with ledger.db.transaction() as s:
        report = verify(s)
    assert (report.ok, report.account) == (False, account)
    assert "overlaps" in report.reason


def test_upgrading_an_existing_ledger_indexes_its_transfers_by_account(ledger):
    _activity(ledger)
    cfg = migrate.alembic_config(ledger.db.engine)
    with ledger.db.engine.connect() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0010")
        conn.commit()
    migrate.upgrade(ledger.db.engine)  # 0011 fills the account index from the stored transfers
    with ledger.db.transaction() as s:
        listed = [t for (stamps,) in s.execute(text("SELECT timestamps FROM ledger_account_postings"))
                  for t in json.loads(stamps)]
        assert len(listed) == len(set(listed)) * 2 == 2 * 8  # each transfer under both its accounts
        assert verify(s).ok


@pytest.mark.parametrize("backend", [pytest.param("postgres", marks=pytest.mark.postgres)],
                         indirect=True)
def test_postgres_hot_reads_use_indexes_whatever_the_statistics(ledger):
    """A table not analyzed since it was small (here: never) is planned from stale estimates:
    ``id = ANY(...)`` and an open ``timestamp > m`` became sequential scans of the whole table,
    paid by every batch as it grew. The writer's reads look each id up and bound the range."""
    from suanshu.ledger import engine

    ledger.fund(ledger.a, 10**6)
    events = [tr(ledger.a, ledger.b, 1) for _ in range(3000)]
    with ledger.db.transaction() as s:
        assert create_transfers(s, events) == ["ok"] * 3000
    with ledger.db.transaction() as s:
        cur = engine._cursor(s)
        cur.execute("SELECT reltuples FROM pg_class WHERE relname = 'ledger_transfers'")
        assert cur.fetchone()[0] < 3000  # the statistics do not know the table's size
        newest = engine.indexed_upto(s)
        plans = []
        for sql, params in ((engine._READS["postgresql"]["transfers"], ([e.id for e in events[:500]],)),
                            (engine._READS["postgresql"]["resolutions"], ([e.id for e in events[:500]],)),
                            (engine._INDEX_TAIL["postgresql"], {"m": newest - 10**9, "n": newest})):
            cur.execute("EXPLAIN " + sql, params)
            plans.append("\n".join(r[0] for r in cur.fetchall()))
    for plan in plans:
        assert "Seq Scan on ledger_transfers" not in plan, plan
