"""Pending transfers expire: TigerBeetle voids a pending transfer once its ``timeout`` has
passed; here ``expire`` does it (``engine.expire_pending``), run by ``suanshu ledger expire``
or every few seconds by ``ExpirySweeper`` beside a long-running server.

Until a sweep voids it, a due hold still counts against its account's limits, but it can
no longer be posted or voided (``pending_transfer_expired``): expiry is decided by the clock,
the sweep only releases the money.
"""

from __future__ import annotations

import logging
import threading

from suanshu.core.db import Database
from suanshu.core.errors import UsageError
from suanshu.ledger import engine

log = logging.getLogger(__name__)


def expire(db: Database, *, now_ns: int | None = None, batch: int = 1000) -> list[str]:
    """Void every due pending transfer, ``batch`` per transaction; the expired pending ids."""
    expired: list[str] = []
    while True:
        with db.transaction() as s:
            done = engine.expire_pending(s, now_ns=now_ns, limit=batch)
        expired += done
        if len(done) < batch:
            return expired


class ExpirySweeper:
    """``expire`` every ``interval`` seconds in a daemon thread; a failed sweep is logged and
    the next tick retries. ``stop`` waits for the thread."""

    def __init__(self, db: Database, interval: float):
        if interval <= 0:
            raise UsageError("ledger.bad_sweep_interval", "the sweep interval must be positive (seconds)")
        self.db, self.interval = db, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="ledger-expiry", daemon=True)

    def start(self) -> ExpirySweeper:
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                expire(self.db)
            except Exception:  # noqa: BLE001 — keep sweeping; the next tick retries
                log.exception("ledger expiry sweep failed")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
