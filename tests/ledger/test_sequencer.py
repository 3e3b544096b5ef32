"""The sequencer: grouped commits keep per-request results; a SIGKILL mid-batch loses nothing
acknowledged and leaves no partial chain; retries with the same ids converge. Both backends."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from crash_chains import AMOUNT, chain, tid
from ledger_helpers import nid, tr
from sqlalchemy import select

from suanshu.audit import log as audit
from suanshu.audit.models import AuditEvent
from suanshu.ledger import engine, seals
from suanshu.ledger.codes import TransferFlags
from suanshu.ledger.sequencer import Sequencer

HERE = Path(__file__).parent


def test_concurrent_requests_keep_their_own_results(ledger):
    ledger.fund(ledger.a, 1000)
    seq = Sequencer(ledger.db, max_events=64)
    results: dict[int, list[str]] = {}

    def client(n: int) -> None:
        if n % 5 == 0:  # a chain left open at the end of *its* request fails alone
            req = [tr(ledger.a, ledger.b, 1, flags=TransferFlags.LINKED)]
        elif n % 5 == 1:  # overdraws a: its chain fails, nobody else's
            req = [tr(ledger.a, ledger.b, 1, flags=TransferFlags.LINKED), tr(ledger.a, ledger.b, 10**6)]
        else:
            req = [tr(ledger.a, ledger.b, 1, flags=TransferFlags.LINKED), tr(ledger.b, ledger.escrow, 1)]
        results[n] = [str(r) for r in seq.create_transfers(req)]

    threads = [threading.Thread(target=client, args=(n,)) for n in range(60)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seq.close()
    for n, got in results.items():
        expected = {0: ["linked_event_chain_open"], 1: ["linked_event_failed", "exceeds_credits"]}.get(
            n % 5, ["ok", "ok"])
        assert got == expected, (n, got)
    assert ledger.bal(ledger.escrow)[3] == 36 and ledger.bal(ledger.a)[1] == 36
    with ledger.db.transaction() as s:
        assert engine.verify(s).ok


def test_asyncio_requests_group_and_keep_their_own_results(ledger):
    """Requests awaited on one event loop commit in shared groups; a failing ``after`` hook
    fails only its own request, raised in its own coroutine; an empty request costs nothing."""
    import asyncio

    ledger.fund(ledger.a, 100)
    seq = Sequencer(ledger.db)

    def refuse(session, results):
        raise RuntimeError("refused by the caller")

    async def main():
        requests = [seq.submit_async([tr(ledger.a, ledger.b, 10)]) for _ in range(12)]
        requests.append(seq.submit_async([tr(ledger.a, ledger.b, 1)], refuse))
        requests.append(seq.submit_async([]))
        return await asyncio.gather(*requests, return_exceptions=True)

    answers = asyncio.run(main())
    seq.close()
    assert sorted([str(r) for r in a] for a in answers[:12]) == [["exceeds_credits"]] * 2 + [["ok"]] * 10
    assert isinstance(answers[12], RuntimeError) and answers[13] == []
    assert seq.groups < 13  # grouped, not one commit per request
    assert ledger.bal(ledger.b)[3] == 100


def test_a_failing_after_hook_fails_only_its_request(ledger):
    ledger.fund(ledger.a, 100)
    seq = Sequencer(ledger.db)
    good, bad = tr(ledger.a, ledger.b, 5), tr(ledger.a, ledger.b, 6)

    def boom(s, results):
        raise RuntimeError("the caller's bookkeeping failed")

    f_bad = seq.submit([bad], after=boom)
    f_good = seq.submit([good], after=lambda s, r: audit.append(s, actor="t", action="t", subject=good.id))
    with pytest.raises(RuntimeError):
        f_bad.result()
    assert [str(r) for r in f_good.result()] == ["ok"]
    seq.close()
    with ledger.db.transaction() as s:
        assert [t.id for t in engine.lookup_transfers(s, [good.id, bad.id])] == [good.id]
        assert audit.verify(s).ok
        actions = s.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)).all()
        assert actions == ["ledger.seal", "t"]  # the good request's seal and its own entry, once
        assert seals.verify(s).ok is False  # ledger.fund wrote outside the sequencer: unsealed


def test_sigkill_mid_batch_loses_nothing_acknowledged(ledger, settings):
    clients = 8
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "crash_worker.py"), str(settings.home), settings.database_url,
         ledger.bank, ledger.a, ledger.b, str(clients)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ | {"PYTHONUNBUFFERED": "1"})
    acked: set[tuple[int, int]] = set()
    try:
        for line in proc.stdout:
            _, c, i = line.split()
            acked.add((int(c), int(i)))
            if len(acked) >= 400:
                break
        proc.send_signal(signal.SIGKILL)  # while other groups are queued or committing
    finally:
        proc.wait()
    assert len(acked) >= 400, proc.stderr.read()

    def stored(ids):
        with ledger.db.transaction() as s:
            return {t.id for t in engine.lookup_transfers(s, ids)}

    # What each client may have sent: past its last ack we read, chains it committed before the
    # kill (acks still in the pipe), plus the one in flight.
    sent = {}
    for c in range(clients):
        n = max([i for cc, i in acked if cc == c], default=-1) + 1
        while stored([tid(c, n, k) for k in range(3)]):
            n += 1
        sent[c] = n + 1

    ids = [tid(c, i, k) for c in range(clients) for i in range(sent[c]) for k in range(3)]
    have = stored(ids)
    for c, i in acked:
        assert {tid(c, i, k) for k in range(3)} <= have  # acknowledged means durable
    for c in range(clients):
        for i in range(sent[c]):
            assert len({tid(c, i, k) for k in range(3)} & have) in (0, 3)  # never a partial chain
    with ledger.db.transaction() as s:
        assert engine.verify(s).ok

    # Retry everything that may have been sent, with the same ids: it converges.
    seq = Sequencer(ledger.db)
    futures = [(c, i, seq.submit(chain(c, i, ledger.bank, ledger.a, ledger.b)))
               for c in range(clients) for i in range(sent[c])]
    for c, i, f in futures:
        got = [str(r) for r in f.result()]
        # A committed chain answers ``exists`` on its first event (TigerBeetle counts it as a
        # failure inside a chain, so the rest is linked_event_failed and nothing changes).
        assert got in (["ok"] * 3, ["exists", "linked_event_failed", "linked_event_failed"]), got
    seq.close()
    assert len(stored(ids)) == len(ids)
    total = AMOUNT * len(ids) // 3
    assert ledger.bal(ledger.b)[1] == total and ledger.bal(ledger.b)[3] == total
    with ledger.db.transaction() as s:
        assert engine.verify(s).ok


def test_empty_and_malformed_requests(ledger):
    seq = Sequencer(ledger.db)
    assert seq.create_transfers([]) == []
    from suanshu.core.errors import UsageError

    with pytest.raises(UsageError):
        seq.submit([tr("nothex", ledger.b, 1)])
    assert [str(r) for r in seq.create_transfers([tr(ledger.bank, ledger.a, 3, id=nid())])] == ["ok"]
    seq.close()


def test_held_balances_follow_writes_made_outside_the_sequencer(ledger):
    """The sequencer keeps accounts in memory; a transfer written by someone else (settlement in
    a request's transaction) must still count: ``a`` has 10, spends 7 outside, so 5 is refused."""
    seq = Sequencer(ledger.db)
    assert seq.create_transfers([tr(ledger.bank, ledger.a, 10)]) == ["ok"]  # a is now held
    assert ledger.run(tr(ledger.a, ledger.b, 7)) == ["ok"]
    assert [str(r) for r in seq.create_transfers([tr(ledger.a, ledger.b, 5)])] == ["exceeds_credits"]
    assert seq.create_transfers([tr(ledger.a, ledger.b, 3)]) == ["ok"]
    seq.close()
    assert ledger.bal(ledger.a) == (0, 10, 0, 10)
    with ledger.db.transaction() as s:
        assert engine.verify(s).ok


def test_a_rolled_back_group_leaves_no_balance_in_memory(ledger):
    """A group whose transaction fails moved balances in memory; they must not survive it."""
    seq = Sequencer(ledger.db)
    assert seq.create_transfers([tr(ledger.bank, ledger.a, 10)]) == ["ok"]

    def boom(s, results):
        raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        seq.create_transfers([tr(ledger.a, ledger.b, 10)], after=boom)
    # Had the failed debit stayed in memory, a's 10 would look spent.
    assert seq.create_transfers([tr(ledger.a, ledger.b, 10)]) == ["ok"]
    seq.close()
    assert ledger.bal(ledger.a) == (0, 10, 0, 10) and ledger.bal(ledger.b) == (0, 0, 0, 10)
    with ledger.db.transaction() as s:
        assert engine.verify(s).ok


def test_seal_digests_are_the_documented_bytes(ledger):
    """Seals are built by hand for speed; they must equal ``seals.digest`` of the stored row."""
    t = engine.normalise_transfers([tr(ledger.bank, ledger.a, 5, memo={"z": "中文\n\"q", "a": [1, None]})])[0]
    for x in (t._replace(timestamp=17), t._replace(pending_id=nid(), flags=4, timestamp=2**62)):
        assert seals._digest_checked(x) == seals.digest(x)


def test_the_account_index_ends_exact_while_other_writers_interleave(ledger):
    """On PostgreSQL an indexer thread keeps the account index beside the writer, in its own
    transactions; writers without a cache (a request's own transaction) index at once, taking
    the mark's row lock. However they interleave, once the sequencer closes every transfer is
    indexed exactly once and listings by account find them all."""
    from test_ledger_engine import indexed_pairs

    from suanshu.ledger.models import Transfer

    ledger.fund(ledger.a, 10_000)
    seq = Sequencer(ledger.db)
    pg = ledger.db.engine.dialect.name == "postgresql"
    stop = threading.Event()

    def other_writer() -> None:  # settlement-style writes outside the sequencer, no cache
        while not stop.is_set():
            with ledger.db.transaction() as s:
                assert engine.create_transfers(s, [tr(ledger.bank, ledger.b, 1)]) == ["ok"]

    others = threading.Thread(target=other_writer)
    others.start()
    try:
        tickets = [seq.submit([tr(ledger.a, ledger.escrow, 1) for _ in range(20)]) for _ in range(60)]
        assert all(t.result() == ["ok"] * 20 for t in tickets)
        if pg:
            assert seq.cache.indexed_elsewhere and seq._indexer is not None
    finally:
        stop.set()
        others.join()
    # the last groups: on PostgreSQL only the indexer can index them
    assert seq.create_transfers([tr(ledger.a, ledger.escrow, 1) for _ in range(20)]) == ["ok"] * 20
    seq.close()
    assert not seq.cache.indexed_elsewhere
    if not pg:  # the SQLite writer leaves its tail until INDEX_LAG transfers: index it now
        with ledger.db.transaction() as s:
            engine.index_committed(s)
    with ledger.db.transaction() as s:
        stamps = s.execute(select(Transfer.timestamp, Transfer.debit_account_id, Transfer.credit_account_id)).all()
        assert engine.indexed_upto(s) == max(ts for ts, _, _ in stamps)
        assert sorted(indexed_pairs(s)) == sorted([(dr, ts) for ts, dr, _ in stamps] + [(cr, ts) for ts, _, cr in stamps])
        assert engine.verify(s).ok
        assert len(engine.get_account_transfers(s, ledger.escrow, limit=10_000)) == 1220


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_the_sqlite_wal_starts_again_under_full_load(ledger, monkeypatch):
    """A saturated writer never begins while the checkpointer is idle, so the WAL would only
    grow; past ``wal_restart_frames`` the writer waits for one checkpoint and the WAL starts
    again from its beginning: the frame count the checkpointer reads falls back, under load."""
    from suanshu.ledger import sequencer

    frames: list[int] = []
    run = sequencer._Checkpointer._work
    monkeypatch.setattr(sequencer._Checkpointer, "_work",
                        lambda self, ticket: (run(self, ticket), frames.append(self.frames)))
    ledger.fund(ledger.a, 10**6)
    seq = Sequencer(ledger.db, max_events=50, wal_restart_frames=64)  # a group per request
    tickets = [seq.submit([tr(ledger.a, ledger.escrow, 1) for _ in range(50)]) for _ in range(300)]
    assert all(t.result() == ["ok"] * 50 for t in tickets)
    seq.close()
    restarts = sum(later < earlier for earlier, later in itertools.pairwise(frames))
    assert restarts >= 2, frames
    with ledger.db.transaction() as s:
        assert engine.verify(s).ok
