"""TigerBeetle's pending ``timeout``: a hold past its timeout can no longer be posted or voided
(``pending_transfer_expired``), and the sweeper voids it, releasing the money. Both backends."""

from __future__ import annotations

import json
import time

from ledger_helpers import post, tr, void

from suanshu.ledger import engine
from suanshu.ledger.codes import TransferFlags
from suanshu.ledger.sweeper import expire

PENDING = TransferFlags.PENDING
NS = 1_000_000_000


def _hold(ledger, amount: int, timeout: int) -> engine.NewTransfer:
    t = engine.NewTransfer(**(tr(ledger.a, ledger.escrow, amount, flags=PENDING).__dict__ | {"timeout": timeout}))
    assert ledger.run(t) == ["ok"]
    return t


def _stored(ledger, tid: str):
    with ledger.db.transaction() as s:
        (t,) = engine.lookup_transfers(s, [tid])
        return t


def test_a_swept_hold_is_voided_and_cannot_be_posted(ledger):
    ledger.fund(ledger.a, 100)
    hold = _hold(ledger, 60, timeout=3600)
    assert ledger.bal(ledger.a) == (60, 0, 0, 100)
    later = _stored(ledger, hold.id).timestamp + 3600 * NS
    with ledger.db.transaction() as s:
        assert engine.expire_pending(s, now_ns=later - 1) == []  # not due yet
    assert expire(ledger.db, now_ns=later) == [hold.id]
    assert expire(ledger.db, now_ns=later) == []  # once
    assert ledger.bal(ledger.a) == (0, 0, 0, 100)  # the hold is released
    assert _stored(ledger, engine.expiry_id(hold.id)).flags == TransferFlags.VOID_PENDING_TRANSFER
    assert ledger.run(post(hold.id), void(hold.id)) == ["pending_transfer_expired"] * 2
    with ledger.db.transaction() as s:
        assert engine.verify(s).ok  # (ledger.run writes unsealed, so no seals.verify here)


def test_a_due_hold_is_expired_before_any_sweep(ledger):
    ledger.fund(ledger.a, 100)
    hold = _hold(ledger, 60, timeout=1)
    time.sleep(1.1)  # the clock decides expiry; the sweep only releases the money
    assert ledger.run(post(hold.id, 10)) == ["pending_transfer_expired"]
    assert ledger.bal(ledger.a) == (60, 0, 0, 100)  # still held until swept
    assert expire(ledger.db) == [hold.id]
    assert ledger.bal(ledger.a) == (0, 0, 0, 100)


def test_a_hold_posted_in_time_is_never_expired(ledger):
    ledger.fund(ledger.a, 100)
    hold = _hold(ledger, 60, timeout=3600)
    assert ledger.run(post(hold.id, 25)) == ["ok"]
    assert expire(ledger.db, now_ns=time.time_ns() + 7200 * NS) == []
    assert ledger.bal(ledger.a) == (0, 25, 0, 100)


def test_timeout_result_codes(ledger):
    ledger.fund(ledger.a, 100)
    plain = engine.NewTransfer(**(tr(ledger.a, ledger.b, 1).__dict__ | {"timeout": 5}))
    hold = _hold(ledger, 10, timeout=60)
    with_timeout = engine.NewTransfer(**(post(hold.id).__dict__ | {"timeout": 5}))
    resend = engine.NewTransfer(**(hold.__dict__ | {"timeout": 61}))
    assert ledger.run(plain) == ["timeout_reserved_for_pending_transfer"]
    assert ledger.run(with_timeout) == ["timeout_reserved_for_pending_transfer"]
    assert ledger.run(resend) == ["exists_with_different_timeout"]
    assert ledger.run(hold) == ["exists"]
    assert ledger.run(void(hold.id)) == ["ok"]  # voided in time: an ordinary void
    assert ledger.run(void(hold.id)) == ["pending_transfer_already_voided"]


def test_cli_expires_due_holds(ledger, settings):
    from typer.testing import CliRunner

    from suanshu.cli.main import app

    ledger.fund(ledger.a, 100)
    hold = _hold(ledger, 60, timeout=1)
    time.sleep(1.1)
    env = {"SUANSHU_HOME": str(settings.home), "SUANSHU_DATABASE_URL": settings.database_url}
    result = CliRunner().invoke(app, ["ledger", "expire", "--format", "json"], env=env)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"expired": [hold.id]}
    assert ledger.bal(ledger.a) == (0, 0, 0, 100)
