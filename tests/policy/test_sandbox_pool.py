"""SandboxPool: reuse by key, never after a failure or a caller's own table, bounded idle set."""

from __future__ import annotations

import pyarrow as pa
import pytest

from suanshu.core.errors import Refused
from suanshu.policy.sandbox import Sandbox, SandboxPool


@pytest.fixture
def make(customers_file):
    built: list[Sandbox] = []

    def build() -> Sandbox:
        built.append(Sandbox({"customers": customers_file}))
        return built[-1]

    build.built = built
    return build


def test_a_returned_sandbox_is_reused_for_the_same_key_only(make):
    pool = SandboxPool()
    with pool.borrow("a", make) as first:
        assert first.execute("SELECT count(*) FROM customers").rows[0][0] > 0
    with pool.borrow("a", make) as again:
        assert again is first
    with pool.borrow("b", make) as other:
        assert other is not first
    assert len(make.built) == 2
    pool.close()


def test_two_borrowers_at_once_get_two_sandboxes(make):
    pool = SandboxPool()
    with pool.borrow("a", make) as one, pool.borrow("a", make) as two:
        assert one is not two
    with pool.borrow("a", make), pool.borrow("a", make):
        pass
    assert len(make.built) == 2  # both came back and both were reused
    pool.close()


def test_a_failed_borrower_closes_its_sandbox(make):
    pool = SandboxPool()
    with pytest.raises(Refused), pool.borrow("a", make) as box:
        box.execute("SELECT * FROM no_such_table")
    with pool.borrow("a", make) as fresh:
        assert fresh is not box
        fresh.execute("SELECT 1")
    with pytest.raises(Exception):  # the failed one is closed, not merely set aside
        box.execute("SELECT 1")
    pool.close()


def test_a_sandbox_that_got_a_callers_table_is_not_pooled(make):
    pool = SandboxPool()
    with pool.borrow("a", make) as box:
        box.add_table("mine", pa.table({"x": [1, 2]}))
    with pool.borrow("a", make) as fresh:
        assert fresh is not box
        with pytest.raises(Refused):
            fresh.execute("SELECT * FROM mine")
    pool.close()


def test_idle_sandboxes_are_bounded_oldest_closed_first(make):
    pool = SandboxPool(max_idle=2)
    for key in ("a", "b", "c"):
        with pool.borrow(key, make):
            pass
    with pytest.raises(Exception):
        make.built[0].execute("SELECT 1")  # "a", the oldest, was closed
    with pool.borrow("c", make) as c:
        assert c is make.built[2]
    pool.close()
    with pytest.raises(Exception):
        make.built[2].execute("SELECT 1")
