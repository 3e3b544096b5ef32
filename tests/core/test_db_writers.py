"""SQLite write transactions of one process take turns on a lock instead of SQLite's busy handler."""

from __future__ import annotations

import threading
import time

from sqlalchemy import text

from suanshu.core import migrate
from suanshu.core.db import Database
from suanshu.core.settings import load_settings


def test_a_second_writer_waits_for_its_turn_before_touching_the_database(tmp_path):
    db = Database(load_settings(tmp_path / "home", f"sqlite:///{tmp_path / 'home' / 'suanshu.db'}"))
    migrate.upgrade(db.engine)
    first_in, first_out, second_done, order = threading.Event(), threading.Event(), threading.Event(), []

    def first():
        with db.transaction() as s:
            s.execute(text("SELECT 1"))  # BEGIN IMMEDIATE: SQLite's write lock is taken
            first_in.set()
            first_out.wait(10)
            order.append("first")

    def second():
        first_in.wait(10)
        with db.transaction() as s:
            s.execute(text("SELECT 1"))
            order.append("second")
        second_done.set()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    first_in.wait(10)
    time.sleep(0.3)  # room for the second writer to reach the point where it waits
    # it waits on the process's lock, holding no connection (not in SQLite's busy handler)
    assert db.engine.pool.checkedout() == 1 and not second_done.is_set()
    first_out.set()
    for t in threads:
        t.join(10)
    assert order == ["first", "second"] and second_done.is_set()
    db.dispose()


def test_reads_do_not_wait_for_the_writer(tmp_path):
    db = Database(load_settings(tmp_path / "home", f"sqlite:///{tmp_path / 'home' / 'suanshu.db'}"))
    migrate.upgrade(db.engine)
    with db.transaction() as s:
        s.execute(text("SELECT 1"))
        done = []
        reader = threading.Thread(target=lambda: done.append(_read(db)))
        reader.start()
        reader.join(10)
        assert done == [1]  # a snapshot read, while this thread holds the write turn
    db.dispose()


def _read(db: Database) -> int:
    with db.read() as s:
        return s.execute(text("SELECT 1")).scalar_one()
