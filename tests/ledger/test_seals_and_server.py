"""Seals catch a changed byte of any stored transfer and name it; the ledger server (the
sequencer in its own process, over a Unix socket) gives the same results as in-process."""

from __future__ import annotations

import secrets
import subprocess
import sys
import threading

import pytest
from ledger_helpers import nid, post, tr
from sqlalchemy import text

from suanshu.audit import log as audit
from suanshu.ledger import engine, seals
from suanshu.ledger.codes import TransferFlags
from suanshu.ledger.sequencer import AuditNote, Sequencer
from suanshu.ledger.server import LedgerClient, LedgerServerError


def _drop_append_only_triggers(s) -> None:
    """What an intruder with DDL rights would do first (see migration 0002)."""
    if s.get_bind().dialect.name == "postgresql":
        s.execute(text("DROP TRIGGER ledger_transfers_no_update_delete ON ledger_transfers"))
    else:
        s.execute(text("DROP TRIGGER ledger_transfers_no_update"))
        s.execute(text("DROP TRIGGER ledger_transfers_no_delete"))


def _sealed_activity(ledger) -> list[str]:
    seq = Sequencer(ledger.db)
    bank_to_a = [tr(ledger.bank, ledger.a, 1000, memo={"why": "opening"}) for _ in range(3)]
    hold = tr(ledger.a, ledger.escrow, 700, flags=TransferFlags.PENDING)
    assert seq.create_transfers(bank_to_a) == ["ok"] * 3
    assert seq.create_transfers([hold]) == ["ok"]
    settle = post(hold.id, 400)
    assert seq.create_transfers([settle, tr(ledger.escrow, ledger.revenue, 40)]) == ["ok", "ok"]
    seq.close()
    return [t.id for t in bank_to_a] + [hold.id, settle.id]


TAMPER = [("memo", "'{\"why\": \"gift\"}'"), ("code", "99"), ("amount", "amount + 1"), ("flags", "flags"),
          ("pending_id", "NULL"), ("ledger", "157"), ("timestamp", "timestamp + 1000000")]


@pytest.mark.parametrize("column, value", TAMPER)
def test_changing_any_column_of_a_transfer_names_it(ledger, column, value):
    ids = _sealed_activity(ledger)
    with ledger.db.transaction() as s:
        assert seals.verify(s).ok and seals.verify(s).transfers == 6 and audit.verify(s).ok
    victim = ids[4] if column == "pending_id" else ids[1]
    with ledger.db.transaction() as s:
        _drop_append_only_triggers(s)
        if column == "flags":  # flip a bit: a posted transfer claims to be pending
            value = "flags + 2"
        if s.get_bind().dialect.name == "postgresql" and column == "memo":
            value += "::json"
        s.execute(text(f"UPDATE ledger_transfers SET {column} = {value} WHERE id = :id"), {"id": victim})
    with ledger.db.transaction() as s:
        result = seals.verify(s)
    assert not result.ok and result.transfer == victim, result
    assert victim in result.reason


def test_a_deleted_or_foreign_transfer_is_named(ledger):
    ids = _sealed_activity(ledger)
    with ledger.db.transaction() as s:
        _drop_append_only_triggers(s)
        ts = s.scalar(text("SELECT timestamp FROM ledger_transfers WHERE id = :id"), {"id": ids[2]})
        s.execute(text("DELETE FROM ledger_transfers WHERE id = :id"), {"id": ids[2]})
    with ledger.db.transaction() as s:
        result = seals.verify(s)
    assert not result.ok and result.transfer == f"timestamp {ts}" and "missing" in result.reason
    ledger.fund(ledger.b, 5)  # straight through the engine, unsealed: as if written by hand
    with ledger.db.transaction() as s:
        result = seals.verify(s)
    assert not result.ok and "covered by no seal" in result.reason


@pytest.fixture
def server(ledger, settings, tmp_path):
    key = secrets.token_bytes(32)
    (tmp_path / "key").write_bytes(key)
    address = tmp_path / "ledger.sock"
    proc = subprocess.Popen([sys.executable, "-m", "suanshu.ledger.server", settings.database_url, str(address),
                             str(tmp_path / "key")], stdout=subprocess.PIPE, text=True)
    assert "ledger server" in proc.stdout.readline()
    yield address, key
    proc.terminate()
    proc.wait()


def test_server_gives_each_request_its_results(ledger, server):
    ledger.fund(ledger.a, 1000)
    client = LedgerClient(*server)
    results: dict[int, list[str]] = {}

    def worker(n: int) -> None:
        if n % 3 == 0:  # overdraws a: its chain fails alone
            req = [tr(ledger.a, ledger.b, 1, flags=TransferFlags.LINKED), tr(ledger.a, ledger.b, 10**6)]
        else:
            req = [tr(ledger.a, ledger.b, 1, flags=TransferFlags.LINKED), tr(ledger.b, ledger.escrow, 1)]
        note = AuditNote("test:client", "ledger.transfer", f"req{n}")
        results[n] = [str(r) for r in client.create_transfers(req, audit_note=note)]

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    again = tr(ledger.a, ledger.b, 3)
    assert client.create_transfers([again]) == ["ok"] and client.create_transfers([again]) == ["exists"]
    client.close()
    for n, got in results.items():
        assert got == (["linked_event_failed", "exceeds_credits"] if n % 3 == 0 else ["ok", "ok"]), (n, got)
    assert ledger.bal(ledger.escrow)[3] == 20 and ledger.bal(ledger.a)[1] == 23
    with ledger.db.transaction() as s:
        assert engine.verify(s).ok and audit.verify(s).ok
        subjects = set(s.scalars(text("SELECT subject FROM audit_events WHERE action = 'ledger.transfer'")))
    assert subjects == {f"req{n}" for n in range(30) if n % 3}  # a note only when its request is ok


def test_asyncio_callers_share_one_loop_and_get_their_own_results(ledger, server):
    """An async API worker: many requests in flight on one event loop, mixed with a thread's."""
    import asyncio

    ledger.fund(ledger.a, 100)
    client = LedgerClient(*server)

    async def main() -> list[list[str]]:
        requests = [[tr(ledger.a, ledger.b, 10)] for _ in range(12)]  # a holds 100: ten fit
        requests.append([])  # nothing to do: answered at once
        answers = await asyncio.gather(*(client.submit_async(r) for r in requests),
                                       asyncio.to_thread(client.create_transfers, [tr(ledger.bank, ledger.b, 1)]))
        with pytest.raises(Exception) as err:
            await client.submit_async([tr(ledger.a, ledger.b, 1, id="f" * 31)])
        assert err.value.code == "ledger.malformed_id"
        return [[str(x) for x in a] for a in answers]

    answers = asyncio.run(main())
    client.close()
    assert sorted(answers[:12]) == [["exceeds_credits"]] * 2 + [["ok"]] * 10
    assert answers[12:] == [[], ["ok"]]
    assert ledger.bal(ledger.b)[3] == 101


def test_server_checks_what_arrives_over_the_socket(ledger, server):
    from multiprocessing.connection import Client

    conn = Client(str(server[0]), family="AF_UNIX", authkey=server[1])
    conn.send_bytes(b'{"id": 1, "requests": [{"transfers": [["not-hex", "", "", 1, "", 156, 1, 0, {}]]}]}')
    reply = conn.recv_bytes()
    assert b'"ledger.malformed_id"' in reply and b'"id":1' in reply
    conn.close()
    with pytest.raises(Exception):  # a client without the key is turned away at the handshake
        Client(str(server[0]), family="AF_UNIX", authkey=b"wrong")
    client = LedgerClient(*server)
    with pytest.raises(Exception) as err:
        client.create_transfers([tr(ledger.a, ledger.b, 1, id="f" * 31)])
    assert err.value.code == "ledger.malformed_id"  # checked in the caller's thread first
    assert client.create_transfers([tr(ledger.bank, ledger.a, 5, id=nid())]) == ["ok"]
    client.close()
    assert LedgerServerError.__mro__[1].__name__ == "SuanshuError"


def test_server_carries_the_timeout(ledger, server):
    ledger.fund(ledger.a, 100)
    client = LedgerClient(*server)
    hold = engine.NewTransfer(**(tr(ledger.a, ledger.escrow, 10, flags=TransferFlags.PENDING).__dict__
                                 | {"timeout": 60}))
    assert client.create_transfers([hold]) == ["ok"]
    longer = engine.NewTransfer(**(hold.__dict__ | {"timeout": 61}))
    assert client.create_transfers([longer]) == ["exists_with_different_timeout"]
    client.close()


def test_exchange_writes_through_a_configured_ledger_server(ledger, settings, tmp_path, monkeypatch):
    from suanshu.core.settings import load_settings
    from suanshu.ledger.codes import CNY
    from suanshu.market.exchange import Exchange

    settings.home.mkdir(parents=True, exist_ok=True)
    (settings.home / "ledger.key").write_bytes(secrets.token_bytes(32))
    address = tmp_path / "served.sock"
    proc = subprocess.Popen([sys.executable, "-m", "suanshu.ledger.server", settings.database_url, str(address),
                             str(settings.home / "ledger.key")], stdout=subprocess.PIPE, text=True)
    try:
        assert "ledger server" in proc.stdout.readline()
        monkeypatch.setenv("SUANSHU_LEDGER_SOCKET", str(address))
        ex = Exchange(load_settings(settings.home, settings.database_url), ledger.db)
        writer = ex.sequencer(CNY)
        assert isinstance(writer, LedgerClient) and ex.sequencer(CNY) is writer
        note = AuditNote("test:exchange", "ledger.deposit", "a")
        assert writer.create_transfers([tr(ledger.bank, ledger.a, 7)], audit_note=note) == ["ok"]
        writer.close()
    finally:
        proc.terminate()
        proc.wait()
    assert ledger.bal(ledger.a)[3] == 7
    with ledger.db.transaction() as s:
        assert seals.verify(s).ok and audit.verify(s).ok
