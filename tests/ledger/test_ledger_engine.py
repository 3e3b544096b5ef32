"""The ledger engine on SQLite and PostgreSQL: TigerBeetle's results in TigerBeetle's precedence."""

from __future__ import annotations

import json

import pytest
from ledger_helpers import nid, post, tr, void
from sqlalchemy import event, func, select

from suanshu.core.errors import UsageError
from suanshu.ledger import codes
from suanshu.ledger.codes import (
    CNY,
    MAX_AMOUNT,
    AccountCode,
    AccountFlags,
    CreateTransferResult,
    TransferCode,
    TransferFlags,
)
from suanshu.ledger.engine import (
    NewAccount,
    NewTransfer,
    balance,
    create_accounts,
    create_transfers,
    get_account_transfers,
    lookup_accounts,
    lookup_transfers,
)
from suanshu.ledger.models import AccountPosting, Transfer

LINKED = TransferFlags.LINKED
PENDING = TransferFlags.PENDING
POST = TransferFlags.POST_PENDING_TRANSFER
VOID = TransferFlags.VOID_PENDING_TRANSFER
CASH = AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS
FAILED = "linked_event_failed"


def test_single_transfer_moves_posted_balances(ledger):
    L = ledger
    t = tr(L.bank, L.a, 10_000, memo={"ref": "deposit-1"})
    assert L.run(t) == ["ok"]
    assert L.bal(L.bank) == (0, 10_000, 0, 0)
    assert L.bal(L.a) == (0, 0, 0, 10_000)
    with L.db.transaction() as s:
        (stored,) = lookup_transfers(s, [t.id])
        assert (stored.amount, stored.memo, stored.pending_id) == (
            10_000, {"ref": "deposit-1"}, None)
        assert stored.timestamp > 0
        bank, a = lookup_accounts(s, [L.bank, L.a])
        assert balance(a)["available"] == 10_000
        assert balance(bank)["available"] == -10_000  # the settlement bank may go negative


def test_insufficient_funds_counts_pending(ledger):
    L = ledger
    L.fund(L.a, 1_000)
    assert L.run(tr(L.a, L.escrow, 700, flags=PENDING, code=TransferCode.HOLD)) == ["ok"]
    # 1000 credited, 700 held: 400 more breaches the limit although nothing is posted yet.
    assert L.run(tr(L.a, L.b, 400)) == ["exceeds_credits"]
    assert L.run(tr(L.a, L.b, 300)) == ["ok"]
    assert L.run(tr(L.a, L.b, 1)) == ["exceeds_credits"]
    assert L.bal(L.a) == (700, 300, 0, 1_000)
    with L.db.transaction() as s:
        b = balance(lookup_accounts(s, [L.a])[0])
    assert (b["posted"], b["held"], b["available"]) == (700, 700, 0)


def test_exceeds_debits_on_credits_must_not_exceed_debits(ledger):
    L, capped = ledger, nid()
    with L.db.transaction() as s:
        flags = AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS
        assert create_accounts(s, [NewAccount(capped, CNY, AccountCode.BANK, flags)]) == ["ok"]
    assert L.run(tr(L.bank, capped, 1)) == ["exceeds_debits"]
    assert L.run(tr(capped, L.bank, 50)) == ["ok"]
    assert L.run(tr(L.bank, capped, 30, flags=PENDING)) == ["ok"]
    assert L.run(tr(L.bank, capped, 21)) == ["exceeds_debits"]  # the 30 pending counts
    assert L.run(tr(L.bank, capped, 20)) == ["ok"]


@pytest.mark.parametrize("amount, posted", [(0, 600), (600, 600), (250, 250)])
def test_post_full_or_partial_releases_the_rest(ledger, amount, posted):
    L = ledger
    L.fund(L.a, 1_000)
    hold = tr(L.a, L.escrow, 600, flags=PENDING, code=TransferCode.HOLD)
    assert L.run(hold) == ["ok"]
    assert (L.bal(L.a), L.bal(L.escrow)) == ((600, 0, 0, 1_000), (0, 0, 600, 0))
    p = post(hold.id, amount)  # amount 0: the full pending amount
    assert L.run(p) == ["ok"]
    assert (L.bal(L.a), L.bal(L.escrow)) == ((0, posted, 0, 1_000), (0, 0, 0, posted))
    with L.db.transaction() as s:
        (stored,) = lookup_transfers(s, [p.id])
    # Stored with the fields it left zero filled in from the pending transfer.
    assert (stored.debit_account_id, stored.credit_account_id, stored.amount, stored.code) == (
        L.a, L.escrow, posted, TransferCode.HOLD)


def test_void_releases_everything(ledger):
    L = ledger
    L.fund(L.a, 1_000)
    hold = tr(L.a, L.escrow, 600, flags=PENDING)
    assert L.run(hold) == ["ok"]
    assert L.run(tr(L.a, L.escrow, 600, flags=VOID, pending_id=hold.id)) == ["ok"]
    assert (L.bal(L.a), L.bal(L.escrow)) == ((0, 0, 0, 1_000), (0, 0, 0, 0))
    assert L.run(tr(L.a, L.b, 1_000)) == ["ok"]


def test_pending_resolves_once(ledger):
    L = ledger
    L.fund(L.a, 1_000)
    h1, h2 = (tr(L.a, L.escrow, 100, flags=PENDING) for _ in range(2))
    assert L.run(h1, h2) == ["ok", "ok"]
    p1, v2 = post(h1.id), void(h2.id)
    assert L.run(p1, v2) == ["ok", "ok"]
    assert L.run(post(h1.id)) == ["pending_transfer_already_posted"]
    assert L.run(void(h1.id)) == ["pending_transfer_already_posted"]
    assert L.run(post(h2.id)) == ["pending_transfer_already_voided"]
    # Resending the very post that resolved h1 is an idempotent `exists`: TigerBeetle checks
    # exists before already_posted.
    assert L.run(p1, v2) == ["exists", "exists"]
    # Inside one batch too: the second resolution of the same pending is refused.
    h3 = tr(L.a, L.escrow, 100, flags=PENDING)
    assert L.run(h3, post(h3.id, 50), void(h3.id)) == [
        "ok", "ok", "pending_transfer_already_posted"]
    assert L.bal(L.a) == (0, 150, 0, 1_000)


def test_exists_and_exists_with_different_fields(ledger):
    L = ledger
    L.fund(L.a, 1_000)
    memo = {"order": 1}
    t = tr(L.a, L.b, 100, memo=memo)
    assert L.run(t) == ["ok"]
    assert L.run(NewTransfer(t.id, L.a, L.b, 100, CNY, t.code, 0, None, {"order": 1})) == ["exists"]
    cases = [
        (tr(L.a, L.b, 101, id=t.id, memo=memo), "exists_with_different_amount"),
        (tr(L.a, L.b, 100, id=t.id, memo=memo, flags=PENDING), "exists_with_different_flags"),
        (tr(L.a, L.escrow, 100, id=t.id, memo=memo), "exists_with_different_credit_account_id"),
        (tr(L.b, L.a, 100, id=t.id, memo=memo), "exists_with_different_debit_account_id"),
        (tr(L.a, L.b, 100, id=t.id, memo={"order": 2}), "exists_with_different_memo"),
        (tr(L.a, L.b, 100, id=t.id, memo=memo, code=TransferCode.CHARGE),
         "exists_with_different_code"),
        # Flags are compared first: they change what the other fields mean.
        (tr(L.a, L.b, 5, id=t.id, flags=PENDING), "exists_with_different_flags"),
    ]
    for event_, expected in cases:
        assert L.run(event_) == [expected]
    # The same id twice in one batch: the second is `exists`.
    u = tr(L.a, L.b, 10)
    assert L.run(u, u) == ["ok", "exists"]
    # None of the resends moved money.
    assert (L.bal(L.a), L.bal(L.b)) == ((0, 110, 0, 1_000), (0, 0, 0, 110))


def test_post_exists_with_different_pending_id_and_amount(ledger):
    L = ledger
    L.fund(L.a, 1_000)
    h1, h2 = (tr(L.a, L.escrow, 100, flags=PENDING) for _ in range(2))
    p = post(h1.id, 40)
    assert L.run(h1, h2, p) == ["ok", "ok", "ok"]
    assert L.run(post(h2.id, 40, id=p.id)) == ["exists_with_different_pending_id"]
    # 0 means the full 100, but 40 was posted.
    assert L.run(post(h1.id, 0, id=p.id)) == ["exists_with_different_amount"]
    # Fields sent as zero compare as the pending's, so a fully spelled-out resend is `exists`.
    assert L.run(tr(L.a, L.escrow, 40, flags=POST, pending_id=h1.id, id=p.id)) == ["exists"]


def test_linked_chain_is_all_or_nothing(ledger):
    L = ledger
    L.fund(L.a, 1_000)
    before = {x: L.bal(x) for x in (L.a, L.b, L.bank)}

    def chain():
        return [tr(L.a, L.b, 500, flags=LINKED),
                tr(L.a, L.b, 600, flags=LINKED),  # sees the 500 above: 1100 > 1000
                tr(L.bank, L.a, 10)]

    first = chain()
    assert L.run(*first) == [FAILED, "exceeds_credits", FAILED]
    assert {x: L.bal(x) for x in before} == before
    with L.db.transaction() as s:
        assert lookup_transfers(s, [t.id for t in first]) == []
    # Events outside the chain are unaffected, on either side of it.
    lone1, lone2 = tr(L.bank, L.b, 1), tr(L.bank, L.b, 2)
    assert L.run(lone1, *chain(), lone2) == ["ok", FAILED, "exceeds_credits", FAILED, "ok"]
    assert L.bal(L.b) == (0, 0, 0, 3)
    # A chain that holds together applies as one, and later events in it see earlier ones.
    hold = tr(L.a, L.escrow, 800, flags=PENDING | LINKED)
    split = tr(L.escrow, L.revenue, 300, code=TransferCode.OPERATOR_COMMISSION)
    assert L.run(hold, post(hold.id, 300, flags=LINKED), split) == ["ok", "ok", "ok"]
    assert (L.bal(L.a), L.bal(L.revenue)) == ((0, 300, 0, 1_000), (0, 0, 0, 300))


def test_failed_chain_does_not_resolve_its_pending(ledger):
    L = ledger
    L.fund(L.a, 1_000)
    hold = tr(L.a, L.escrow, 500, flags=PENDING)
    assert L.run(hold) == ["ok"]
    assert L.run(post(hold.id, flags=LINKED), tr(L.b, L.a, 1)) == [FAILED, "exceeds_credits"]
    # The post was rolled back with its chain, so the pending is still open.
    assert L.run(void(hold.id)) == ["ok"]


def test_chain_open(ledger):
    L = ledger
    L.fund(L.a, 1_000)
    assert L.run(tr(L.a, L.b, 1), tr(L.a, L.b, 2, flags=LINKED), tr(L.a, L.b, 3, flags=LINKED)) == [
        "ok", FAILED, "linked_event_chain_open"]
    assert L.run(tr(L.a, L.b, 4, flags=LINKED)) == ["linked_event_chain_open"]
    # An invalid event in an open chain keeps its code; the last still reports the open chain.
    assert L.run(tr(L.a, L.a, 5, flags=LINKED), tr(L.a, L.b, 6, flags=LINKED)) == [
        "accounts_must_be_different", "linked_event_chain_open"]
    assert L.bal(L.b) == (0, 0, 0, 1)


def test_exists_breaks_a_chain_like_tigerbeetle(ledger):
    L = ledger
    L.fund(L.a, 1_000)
    chain = [tr(L.a, L.b, 1, flags=LINKED), tr(L.a, L.b, 2)]
    assert L.run(*chain) == ["ok", "ok"]
    assert L.run(*chain) == ["exists", FAILED]
    assert L.bal(L.b) == (0, 0, 0, 3)


def test_precedence_of_validation_results(ledger):
    L, a, b, e = ledger, ledger.a, ledger.b, ledger.escrow
    L.fund(a, 1_000)
    usd = nid()
    with L.db.transaction() as s:
        assert create_accounts(s, [NewAccount(usd, 840, AccountCode.CASH)]) == ["ok"]
    hold, plain = tr(a, e, 100, flags=PENDING), tr(a, b, 10)
    assert L.run(hold, plain) == ["ok", "ok"]
    zero = "0" * 32
    h = hold.id
    # Each event is also wrong in the ways checked *after* its expected result.
    cases = [
        (tr(a, b, 1, flags=64, id=zero), "reserved_flag"),
        (tr("", "", 0, id=zero), "id_must_not_be_zero"),
        (tr(a, b, 1, flags=POST | VOID, pending_id=zero), "flags_are_mutually_exclusive"),
        (tr(a, b, 1, flags=POST | PENDING), "flags_are_mutually_exclusive"),
        (tr(zero, "", 0, ledger=0), "debit_account_id_must_not_be_zero"),
        (tr(a, "", 0), "credit_account_id_must_not_be_zero"),
        (tr(a, a, 0, pending_id=h), "accounts_must_be_different"),
        (tr(a, b, 0, pending_id=h), "pending_id_must_be_zero"),
        (tr(a, nid(), 0, ledger=0), "amount_must_not_be_zero"),
        (tr(a, nid(), 1, ledger=0, code=0), "ledger_must_not_be_zero"),
        (tr(a, nid(), 1, code=0), "code_must_not_be_zero"),
        (tr(nid(), nid(), 1), "debit_account_not_found"),
        (tr(a, nid(), 1), "credit_account_not_found"),
        (tr(a, usd, 1, ledger=840), "accounts_must_have_the_same_ledger"),
        (tr(a, b, 1, ledger=840), "transfer_must_have_the_same_ledger_as_accounts"),
        (tr(a, b, 1, flags=POST), "pending_id_must_not_be_zero"),
        (tr(a, b, 1, flags=POST, id=h, pending_id=h), "pending_id_must_be_different"),
        (tr(a, b, 1, flags=VOID, pending_id=nid()), "pending_transfer_not_found"),
        (tr(a, b, 1, flags=POST, pending_id=plain.id), "pending_transfer_not_pending"),
        (tr(b, e, 1, flags=POST, pending_id=h), "pending_transfer_has_different_debit_account_id"),
        (tr(a, b, 1, flags=POST, pending_id=h), "pending_transfer_has_different_credit_account_id"),
        (tr(a, e, 1, flags=POST, pending_id=h, ledger=840),
         "pending_transfer_has_different_ledger"),
        (tr(a, e, 1, flags=POST, pending_id=h, code=TransferCode.HOLD),
         "pending_transfer_has_different_code"),
        (tr(a, e, 101, flags=POST, pending_id=h), "exceeds_pending_transfer_amount"),
        (tr(a, e, 99, flags=VOID, pending_id=h), "pending_transfer_has_different_amount"),
        (tr(a, b, 1_000, id=plain.id), "exists_with_different_amount"),  # before exceeds_credits
        (tr(a, b, 891), "exceeds_credits"),
    ]
    for event_, expected in cases:
        assert L.run(event_) == [expected], expected
    assert L.run(*[e for e, _ in cases]) == [r for _, r in cases]  # the same, as one batch
    assert L.bal(a) == (100, 10, 0, 1_000)


def test_documented_precedence_table_is_the_enum_order():
    """The table in suanshu.ledger.codes lists every transfer result, in declaration order."""
    values = {r.value for r in CreateTransferResult}
    table = codes.__doc__.split("create_accounts\n")[0]
    firsts = [line.split()[0] for line in table.splitlines() if line.strip()]
    rows = [word for word in firsts if word in values]
    assert rows == [r.value for r in CreateTransferResult]


def test_overflow_of_64_bit_balances(ledger):
    L = ledger
    assert L.run(tr(L.bank, L.escrow, MAX_AMOUNT)) == ["ok"]
    assert L.run(tr(L.bank, L.revenue, 1)) == ["overflows_debits_posted"]
    assert L.run(tr(L.escrow, L.bank, 1, flags=PENDING), tr(L.revenue, L.escrow, 1)) == [
        "ok", "overflows_credits_posted"]
    assert L.run(tr(L.revenue, L.bank, MAX_AMOUNT, flags=PENDING)) == ["overflows_credits_pending"]


def test_account_results_and_precedence(db):
    x, y = nid(), nid()
    both = CASH | AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS
    with db.transaction() as s:
        assert create_accounts(s, [NewAccount(x, CNY, AccountCode.CASH, CASH, "org_x")]) == ["ok"]
        results = create_accounts(s, [
            NewAccount(x, CNY, AccountCode.CASH, CASH, "org_x"),
            NewAccount(x, CNY, AccountCode.CASH, 0, "org_x"),
            NewAccount(x, CNY, AccountCode.CASH, CASH, "org_y"),
            NewAccount(x, 840, AccountCode.CASH, CASH, "org_x"),
            NewAccount(x, CNY, AccountCode.BANK, CASH, "org_x"),
            NewAccount("", 0, 0, 128),
            NewAccount("", 0, 0, both),
            NewAccount(y, 0, 0, both),
            NewAccount(y, 0, 0),
            NewAccount(y, CNY, 0),
        ])
    assert results == [
        "exists", "exists_with_different_flags", "exists_with_different_owner",
        "exists_with_different_ledger", "exists_with_different_code", "reserved_flag",
        "id_must_not_be_zero", "flags_are_mutually_exclusive", "ledger_must_not_be_zero",
        "code_must_not_be_zero"]


def test_account_chains(db):
    x, y, z = nid(), nid(), nid()
    linked = AccountFlags.LINKED
    with db.transaction() as s:
        results = create_accounts(s, [NewAccount(x, CNY, AccountCode.CASH, linked),
                                      NewAccount(y, CNY, 0)])
        assert results == [FAILED, "code_must_not_be_zero"]
        results = create_accounts(s, [NewAccount(z, CNY, AccountCode.CASH, linked)])
        assert results == ["linked_event_chain_open"]
        assert lookup_accounts(s, [x, y, z]) == []
        results = create_accounts(s, [NewAccount(x, CNY, AccountCode.CASH, linked),
                                      NewAccount(y, CNY, AccountCode.CASH),
                                      NewAccount(x, CNY, AccountCode.CASH)])
        assert results == ["ok", "ok", "exists_with_different_flags"]
        # Lookups answer in the order asked and skip missing ids, as TigerBeetle's do.
        assert [a.id for a in lookup_accounts(s, [y, z, x])] == [y, x]


@pytest.mark.parametrize("bad, code", [
    (dict(id="XYZ"), "ledger.malformed_id"),
    (dict(id="A" * 32), "ledger.malformed_id"),  # lowercase hex only: one spelling per id
    (dict(amount=-1), "ledger.malformed_event"),
    (dict(amount=MAX_AMOUNT + 1), "ledger.malformed_event"),
    (dict(amount=1.5), "ledger.malformed_event"),
    (dict(memo={"x": object()}), "ledger.malformed_event"),
])
def test_malformed_events_raise_before_anything_happens(ledger, bad, code):
    L = ledger
    fields = dict(id=nid(), debit_account_id=L.bank, credit_account_id=L.a, amount=5, ledger=CNY,
                  code=TransferCode.DEPOSIT)
    with pytest.raises(UsageError) as err, L.db.transaction() as s:
        create_transfers(s, [tr(L.bank, L.a, 5), NewTransfer(**fields | bad)])
    assert err.value.code == code
    assert L.bal(L.a) == (0, 0, 0, 0)


def test_account_transfers_page_by_timestamp(ledger):
    L = ledger
    L.fund(L.a, 100)
    assert L.run(*[tr(L.a, L.b, 1) for _ in range(5)]) == ["ok"] * 5
    with L.db.transaction() as s:
        first = get_account_transfers(s, L.a, limit=4)
        rest = get_account_transfers(s, L.a, limit=4, after_timestamp=first[-1].timestamp)
        assert len(get_account_transfers(s, L.b)) == 5
    stamps = [t.timestamp for t in first + rest]
    assert len(stamps) == 6 and stamps == sorted(set(stamps))
    assert [t.amount for t in first + rest] == [100, 1, 1, 1, 1, 1]


def test_timestamps_strictly_increase_across_batches(ledger):
    L = ledger
    for _ in range(3):
        L.run(*[tr(L.bank, L.a, 1) for _ in range(3)])
    with L.db.transaction() as s:
        stamps = [t.timestamp for t in get_account_transfers(s, L.a)]
    assert stamps == sorted(set(stamps)) and len(stamps) == 9


def test_a_batch_costs_a_few_statements_not_one_per_event(ledger):
    L = ledger
    L.fund(L.a, 10_000)
    holds = [tr(L.a, L.escrow, 10, flags=PENDING) for _ in range(100)]
    assert L.run(*holds) == ["ok"] * 100
    events = [post(h.id) for h in holds] + [tr(L.bank, L.b, 1) for _ in range(100)]
    statements = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(L.db.engine, "before_cursor_execute", count)
    try:
        assert L.run(*events) == ["ok"] * 200
    finally:
        event.remove(L.db.engine, "before_cursor_execute", count)
    # begin/lock, 4 loads, the INSERT (SQLite pages it in two), one executemany UPDATE
    assert len(statements) <= 10, statements
    assert L.bal(L.escrow) == (0, 0, 0, 1_000)


def test_balances_seen_earlier_in_the_session_are_refreshed(ledger):
    L = ledger
    L.fund(L.a, 100)
    with L.db.transaction() as s:
        (a,) = lookup_accounts(s, [L.a])
        assert a.credits_posted == 100
        assert create_transfers(s, [tr(L.a, L.b, 60)]) == ["ok"]
        assert create_transfers(s, [tr(L.a, L.b, 60)]) == ["exceeds_credits"]
        assert (a.debits_posted, a.credits_posted) == (60, 100)


def indexed_pairs(s) -> list[tuple[str, int]]:
    """Every (account, timestamp) the account index's postings list, decoded here."""
    return [(account, ts) for account, stamps in s.execute(select(AccountPosting.account_id, AccountPosting.timestamps))
            for ts in json.loads(stamps)]


def test_listings_see_transfers_the_account_index_has_not_caught_up_with(ledger, monkeypatch):
    """A cached writer (the sequencer) indexes by account in bulk, once INDEX_LAG transfers are
    above the mark; until then listings find the newest transfers in the tail, and a page that
    crosses the mark neither repeats nor skips one."""
    from suanshu.ledger import engine

    L = ledger
    monkeypatch.setattr(engine, "INDEX_LAG", {"sqlite": 10, "postgresql": 10})
    cache = engine.AccountCache()

    def batch(n: int) -> None:
        with L.db.transaction() as s:
            assert create_transfers(s, [tr(L.bank, L.a if i % 2 else L.b, i + 1) for i in range(n)],
                                    cache=cache) == ["ok"] * n
        cache.commit()

    def mark() -> int:
        with L.db.transaction() as s:
            return engine.indexed_upto(s)

    def listed(account: str, limit: int) -> list[int]:
        stamps, after = [], None
        with L.db.transaction() as s:
            while page := get_account_transfers(s, account, limit=limit, after_timestamp=after):
                stamps += [t.timestamp for t in page]
                after = page[-1].timestamp
        return stamps

    batch(3)  # a new cache does not know the lag: its first batch indexes
    first_mark = mark()
    batch(4)
    assert mark() == first_mark  # 4 transfers above the mark: not yet indexed
    with L.db.transaction() as s:
        everything = [t.timestamp for t in s.scalars(select(Transfer).order_by(Transfer.timestamp))]
        assert len(indexed_pairs(s)) == 2 * 3
    assert listed(L.bank, 2) == listed(L.bank, 100) == everything
    assert len(listed(L.a, 3)) + len(listed(L.b, 3)) == 7
    batch(6)  # 10 above the mark now: indexed, mark at the newest transfer
    with L.db.transaction() as s:
        assert engine.indexed_upto(s) == s.scalar(select(func.max(Transfer.timestamp)))
        assert len(indexed_pairs(s)) == 2 * 13
        assert engine.verify(s).ok
    assert len(listed(L.bank, 4)) == 13


def test_a_cached_writer_indexes_from_memory_and_after_another_writer_from_the_table(ledger, monkeypatch):
    """On SQLite the sequencer's cache keeps the tail's timestamps by account and writes them as
    postings without reading the transfers back; once another writer stored transfers, it no
    longer knows the tail and indexes from the table. PostgreSQL always groups the tail itself.
    Either way the index is exactly the transfers."""
    from suanshu.ledger import engine

    L = ledger
    monkeypatch.setattr(engine, "INDEX_LAG", {"sqlite": 5, "postgresql": 5})
    cache = engine.AccountCache()
    from_table = []
    monkeypatch.setattr(engine, "_index_tail", lambda *a, _f=engine._index_tail: (from_table.append(a[1]), _f(*a)))

    def cached(n: int) -> None:
        with L.db.transaction() as s:
            assert create_transfers(s, [tr(L.bank, L.a if i % 3 else L.b, i + 1) for i in range(n)],
                                    cache=cache) == ["ok"] * n
        cache.commit()

    cached(2)  # a new cache: indexes from the table
    cached(2)
    memory = L.db.engine.dialect.name == "sqlite"
    cached(3)  # 5 above the mark: indexed from memory
    assert len(from_table) == (1 if memory else 2) and cache.tail == ({} if memory else None)
    cached(2)
    L.fund(L.a, 7)  # another writer (no cache) indexes at once, from the table
    cached(1)  # the cache saw another writer's transfer: it resets, and indexes from the table
    assert len(from_table) == (3 if memory else 4)
    cached(4)
    cached(2)  # from memory again
    assert len(from_table) == (3 if memory else 5)
    with L.db.transaction() as s:
        assert engine.indexed_upto(s) == s.scalar(select(func.max(Transfer.timestamp)))
        assert len(indexed_pairs(s)) == 2 * s.scalar(select(func.count()).select_from(Transfer))
        assert engine.verify(s).ok


def test_a_writer_without_a_cache_indexes_at_once(ledger):
    from suanshu.ledger import engine

    L = ledger
    L.fund(L.a, 5)
    with L.db.transaction() as s:
        newest = s.scalar(select(func.max(Transfer.timestamp)))
        assert engine.indexed_upto(s) == newest
        assert sorted(indexed_pairs(s)) == sorted([(L.bank, newest), (L.a, newest)])


def test_the_fast_event_check_agrees_with_the_field_by_field_one():
    """``_checked`` takes a short path for the common event; on every input it must give what
    the field-by-field check gives: the same values, or the same error."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from suanshu.ledger import engine

    ids = st.one_of(st.just(nid()), st.just("0" * 32), st.just(""), st.none(), st.just("F" * 32),
                    st.just("a" * 31), st.integers(0, 3), st.text(alphabet="0123456789abcdef", min_size=32, max_size=32))
    ints = st.one_of(st.integers(-2, 2**31 + 1), st.just(2**63), st.booleans(), st.just(TransferFlags.LINKED),
                     st.just(1.0), st.none())
    memos = st.one_of(st.just({}), st.just({"k": "v"}), st.none(), st.just([]))

    def outcome(check, args):
        try:
            return tuple(check(*args))
        except UsageError as exc:
            return (exc.code, exc.message)

    @settings(max_examples=400, deadline=None)
    @given(st.tuples(ids, ids, ids, ints, ids, ints, ints, ints, memos, ints))
    def agree(args):
        assert outcome(engine._checked, args) == outcome(engine._checked_fields, args)

    agree()


def test_a_cached_writer_looks_up_only_ids_it_cannot_rule_out(ledger, monkeypatch):
    """A cached writer skips the lookup of ids above the greatest stored one; a resend still
    answers ``exists``, whether this writer or another one stored the transfer."""
    from suanshu.ledger import engine

    L = ledger
    assert L.run(tr(L.bank, L.a, 100, id="8" * 32)) == ["ok"]  # a fixed id between low and high
    cache = engine.AccountCache()
    looked_up: list[set[str]] = []
    monkeypatch.setattr(engine, "_load_transfers",
                        lambda s, ids, _f=engine._load_transfers: (looked_up.append(set(ids)), _f(s, ids))[1])

    def cached(*transfers) -> list[str]:
        with L.db.transaction() as s:
            out = create_transfers(s, list(transfers), cache=cache)
        cache.commit()
        return [str(r) for r in out]

    with L.db.transaction() as s:
        funded = s.scalar(select(func.max(Transfer.id)))
    low, high = tr(L.a, L.b, 1, id="0" * 31 + "1"), tr(L.a, L.b, 2, id="e" * 32)
    assert low.id < funded < high.id
    assert cached(high) == ["ok"]
    assert looked_up[-1] == set()  # a new cache reads the greatest id stored, and rules ``high`` out
    assert cached(low, tr(L.a, L.b, 3, id="e" * 31 + "f")) == ["ok", "ok"]
    assert looked_up[-1] == {low.id}  # only the id below the greatest stored one
    assert cached(high, low) == ["exists", "exists"]
    other = tr(L.a, L.b, 4, id="f" * 32)
    with L.db.transaction() as s:  # another writer stores an id above what the cache knows
        assert create_transfers(s, [other]) == ["ok"]
    assert cached(other) == ["exists"]
    assert cached(tr(L.a, L.b, 4, id="f" * 32)) == ["exists"]
    assert cached(tr(L.a, L.b, 5, id="f" * 32)) == ["exists_with_different_amount"]
