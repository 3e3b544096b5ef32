"""A task that runs every few seconds beside a long-running server (sweepers, checkpoints).

One daemon thread per task: it waits ``interval`` seconds, calls the function, logs a failure and
tries again at the next tick (a sweep is idempotent, so a missed one only delays). ``stop`` ends
the wait at once and joins the thread, so a server's shutdown does not cut a call in half.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from suanshu.core.errors import UsageError

log = logging.getLogger(__name__)


class Periodic:
    def __init__(self, name: str, interval: float, fn: Callable[[], object]):
        if not interval > 0:
            raise UsageError("periodic.bad_interval", f"{name}: the interval must be positive (seconds), not {interval}")
        self.name, self.interval, self.fn = name, interval, fn
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def start(self) -> Periodic:
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.fn()
            except Exception:  # noqa: BLE001 — keep going; the next tick retries
                log.exception("%s failed", self.name)

    def stop(self, timeout: float = 30) -> None:
        self._stop.set()
        self._thread.join(timeout=timeout)
