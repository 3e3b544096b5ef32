"""The sequencer's light future (``Ticket``) behaves like ``concurrent.futures.Future`` where the
ledger uses it: result, exception, timeout, callbacks before and after resolving, many waiters."""

from __future__ import annotations

import threading
import time
from concurrent.futures import TimeoutError as FutureTimeout

import pytest

from suanshu.ledger.sequencer import Ticket


def test_result_exception_and_timeout():
    t = Ticket()
    assert not t.done()
    with pytest.raises(FutureTimeout):
        t.result(timeout=0.01)
    t.set_result([1])
    assert t.done() and t.result() == [1] and t.exception() is None
    with pytest.raises(RuntimeError):
        t.set_result([2])  # resolves once
    bad = Ticket()
    bad.set_exception(ValueError("no"))
    assert isinstance(bad.exception(), ValueError)
    with pytest.raises(ValueError):
        bad.result()


def test_callbacks_run_once_whenever_they_are_added():
    seen = []
    t = Ticket()
    t.add_done_callback(lambda f: seen.append(("before", f.result())))
    t.set_result(7)
    t.add_done_callback(lambda f: seen.append(("after", f.result())))
    assert seen == [("before", 7), ("after", 7)]


def test_every_waiter_wakes():
    t, got, ready = Ticket(), [], threading.Barrier(9)

    def wait():
        ready.wait()
        got.append(t.result(timeout=5))

    waiters = [threading.Thread(target=wait) for _ in range(8)]
    for w in waiters:
        w.start()
    ready.wait()
    time.sleep(0.2)  # room for all eight to block inside result(), so the wake-up chain is what frees them
    assert not t.done() and got == []
    t.set_result("ok")
    for w in waiters:
        w.join()
    assert got == ["ok"] * 8
