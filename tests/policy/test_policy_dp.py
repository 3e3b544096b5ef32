"""dp mode: exact noise, clamping, results before noise, ε budgets (exhaustion, release, concurrency)."""

from __future__ import annotations

import math
import statistics
import threading
from fractions import Fraction

import pytest
from policy_helpers import CITY_SIZES, POLICY_DICT, K, policy

from suanshu.core.errors import Refused
from suanshu.policy import (
    DatabaseBudgetStore,
    FileBudgetStore,
    MemoryBudgetStore,
    guard,
    run,
    run_dp,
)
from suanshu.policy import dp as dpmath
from suanshu.policy.budget import commit_in, reserve_in
from suanshu.policy.model import EPSILON_UNITS
from suanshu.policy.models import PolicyBudget

BOUNDS = {"income": [10_000, 60_000], "age": [20, 60]}  # tight, so clamping matters


def dp_policy(eps: float = 1.0, total: float = 3.0):
    return policy(mode="dp", aggregates=["count", "sum", "avg"], columns=POLICY_DICT["columns"],
                  dp={"epsilon_per_query": eps, "epsilon_total": total, "bounds": BOUNDS})  # fmt: skip


# --- the noise itself ---------------------------------------------------------------------------

@pytest.mark.parametrize("scale", [Fraction(1, 2), Fraction(3), Fraction(40, 3)])
def test_discrete_laplace_mean_and_variance(scale):
    n = 20_000
    draws = [dpmath.discrete_laplace(scale) for _ in range(n)]
    variance = dpmath.discrete_laplace_variance(scale)
    # 5 standard errors: a false alarm is a one-in-millions event (the source is the OS CSPRNG)
    assert abs(statistics.fmean(draws)) < 5 * math.sqrt(variance / n)
    # the sample variance of a Laplace-like law has relative s.e. about sqrt(5/n) (~1.6 %)
    assert statistics.pvariance(draws) == pytest.approx(variance, rel=0.1)
    q = math.exp(-1 / float(scale))
    p0 = (1 - q) / (1 + q)  # P(X = 0)
    assert draws.count(0) / n == pytest.approx(p0, abs=5 * math.sqrt(p0 * (1 - p0) / n))
    assert all(isinstance(x, int) for x in draws)  # integers: no floating-point leak (Mironov 2012)


def test_bernoulli_exp_is_exact_in_law():
    n = 20_000
    for gamma in (Fraction(1, 3), Fraction(5, 2)):
        hits = sum(dpmath._bernoulli_exp(gamma) for _ in range(n))
        p = math.exp(-float(gamma))
        assert hits / n == pytest.approx(p, abs=5 * math.sqrt(p * (1 - p) / n))


def test_grid_bounds_what_one_row_adds():
    g = dpmath.grid(10_000, 60_000)
    assert g.gamma == Fraction(2) ** (16 - dpmath.GRID_BITS)  # 60000 < 2^16
    assert g.sensitivity * g.gamma >= 60_000 and (g.sensitivity - 1) * g.gamma < 60_000
    g = dpmath.grid(-5, 0.5)
    assert g.sensitivity * g.gamma >= 5


# --- the engine -------------------------------------------------------------------------------


def clamped_reference(rows, city):
    group = [r for r in rows if r["city"] == city]
    incomes = [min(max(r["income"], 10_000), 60_000) for r in group if r["income"] is not None]
    ages = [min(max(r["age"], 20), 60) for r in group]
    return len(group), sum(incomes), sum(ages) / len(ages)


def test_results_before_noise_equal_a_clamped_reference(sandbox, customers_rows):
    """The measurements DuckDB returns (what the noise is added to) equal a pure-Python reference
    of the same query over values clamped to the bounds, and small groups are not among them."""
    g = guard("SELECT city, count(*), sum(income), avg(age) FROM customers GROUP BY city", dp_policy())
    measured = {row[0]: row for row in sandbox.execute(g.sql).rows}
    assert set(measured) == {c for c, n in CITY_SIZES.items() if n >= K}
    income_grid, age_grid = g.dp_outputs[2].grid, g.dp_outputs[3].grid
    for city, row in measured.items():
        n, income_sum, age_avg = clamped_reference(customers_rows, city)
        assert row[1] == n
        assert float(row[2] * income_grid.gamma) == pytest.approx(income_sum, abs=n * float(income_grid.gamma))
        assert float(row[3] * age_grid.gamma) / row[4] == pytest.approx(age_avg, abs=float(age_grid.gamma))


def test_answers_are_noisy_around_the_truth(sandbox, customers_rows):
    # with a huge ε the noise is far below the tolerance: the answer is the clamped truth
    answer = run_dp(sandbox, dp_policy(eps=400_000.0, total=400_000.0),
                    "SELECT city, count(*), sum(income), avg(age) FROM customers GROUP BY city")
    assert answer.epsilon_spent == 400_000.0 and answer.mode == "dp"
    assert answer.columns == ["city", "COUNT(*)", "SUM(income)", "AVG(age)"]
    for city, count, income_sum, age_avg in answer.rows:
        n, true_sum, true_avg = clamped_reference(customers_rows, city)
        assert count == n and income_sum == pytest.approx(true_sum, abs=30) and age_avg == pytest.approx(true_avg, abs=0.01)
    # with ε = 0.05 the same query moves: repeated answers differ
    noisy = dp_policy(eps=0.05, total=1.0)
    sums = {run_dp(sandbox, noisy, "SELECT sum(income) FROM customers").rows[0][0] for _ in range(5)}
    assert len(sums) > 1


def test_small_groups_never_leave_in_dp_mode(sandbox):
    answer = run_dp(sandbox, dp_policy(), "SELECT city, count(*) FROM customers GROUP BY city")
    assert "Lhasa" not in {row[0] for row in answer.rows}
    assert run_dp(sandbox, dp_policy(), "SELECT count(*) FROM customers WHERE city = 'Lhasa'").rows == []


# --- budgets ----------------------------------------------------------------------------------


@pytest.fixture(params=["memory", "file"])
def store(request, tmp_path):
    return MemoryBudgetStore() if request.param == "memory" else FileBudgetStore(tmp_path / "state.json")


def test_budget_exhaustion_refuses_once_spent(sandbox, store):
    p = dp_policy(eps=1.0, total=3.0)
    sql = "SELECT city, count(*) FROM customers GROUP BY city"
    for _ in range(3):
        assert run(sandbox, p, sql, budget=store, budget_key="c1").epsilon_spent == 1.0
    with pytest.raises(Refused) as info:
        run(sandbox, p, sql, budget=store, budget_key="c1")
    assert info.value.code == "query.budget_exhausted"
    assert store.spent("c1") == 3 * EPSILON_UNITS
    run(sandbox, p, sql, budget=store, budget_key="c2")  # budgets are per key (per contract)


def test_refused_and_failed_queries_cost_nothing(sandbox, store):
    p = dp_policy(eps=1.0, total=1.0)
    with pytest.raises(Refused) as info:  # refused by the guard: nothing is reserved
        run(sandbox, p, "SELECT name, count(*) FROM customers GROUP BY name", budget=store)
    assert info.value.code == "query.column_not_allowed"
    with pytest.raises(Refused) as info:  # fails while running: the reservation is released
        run(sandbox, p, "SELECT CAST(city AS INTEGER) AS c, count(*) FROM customers GROUP BY city", budget=store)
    assert info.value.code == "query.execution_error"
    assert store.spent("default") == 0
    run(sandbox, p, "SELECT count(*) FROM customers", budget=store)  # the whole budget is still there
    assert store.spent("default") == EPSILON_UNITS


def test_file_budget_persists_between_processes(tmp_path):
    path = tmp_path / "state.json"
    FileBudgetStore(path).commit(FileBudgetStore(path).reserve("k", 5, 10))
    with pytest.raises(Refused):
        FileBudgetStore(path).reserve("k", 6, 10)
    assert FileBudgetStore(path).spent("k") == 5


def _race(reserve_commit, attempts: int) -> int:
    """Start ``attempts`` threads at once; count those whose reservation succeeded."""
    barrier = threading.Barrier(attempts)
    wins, errors = [], []

    def worker():
        barrier.wait()
        try:
            reserve_commit()
            wins.append(1)
        except Refused as e:
            assert e.code == "query.budget_exhausted"
        except BaseException as e:  # noqa: BLE001 - surfaced below
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(attempts)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    return len(wins)


def test_concurrent_queries_never_overspend_a_file_budget(tmp_path):
    store = FileBudgetStore(tmp_path / "state.json")
    assert _race(lambda: store.commit(store.reserve("c", 2, 11)), 16) == 5
    assert store.spent("c") == 10


def test_concurrent_queries_never_overspend_a_database_budget(db):
    """SQLite and PostgreSQL: 12 threads race for a budget of 5 queries on one fresh key."""
    store = DatabaseBudgetStore(db.transaction)

    def query():
        reservation = store.reserve("ctr_race", EPSILON_UNITS, 5 * EPSILON_UNITS)
        store.commit(reservation)

    assert _race(query, 12) == 5
    with db.transaction() as s:
        row = s.get(PolicyBudget, "ctr_race")
        assert (row.spent, row.reserved) == (5 * EPSILON_UNITS, 0)


def test_database_budget_commits_with_the_callers_transaction(db):
    store = DatabaseBudgetStore(db.transaction)
    reservation = store.reserve("ctr_tx", 3, 10)
    with pytest.raises(RuntimeError), db.transaction() as s:
        commit_in(s, reservation)
        raise RuntimeError("settlement failed")  # rolls the commit back ...
    store.release(reservation)  # ... and the caller gives the reservation back
    assert store.spent("ctr_tx") == 0
    with db.transaction() as s:
        reserve_in(s, "ctr_tx", 10, 10)  # the whole budget is available again


@pytest.mark.parametrize("breakage", ["count_as_key", "aggregate_renamed"])
def test_output_check_catches_a_dp_rewrite_that_skips_noise(sandbox, monkeypatch, breakage):
    import dataclasses

    from suanshu.policy import engine

    real_guard = engine.guard

    def broken_guard(sql, policy, own=()):
        g = real_guard(sql, policy, own)
        if breakage == "count_as_key":  # the count would pass through as if it were a group key
            outputs = tuple(dataclasses.replace(o, kind="key") if o.kind == "count" else o for o in g.dp_outputs)
            return dataclasses.replace(g, dp_outputs=outputs)
        assert '"__suanshu_m1"' in g.sql  # the aggregate would leave under a plain name
        return dataclasses.replace(g, sql=g.sql.replace('AS "__suanshu_m1"', 'AS "n"'))

    monkeypatch.setattr(engine, "guard", broken_guard)
    with pytest.raises(Refused) as info:
        run_dp(sandbox, dp_policy(), "SELECT city, count(*) FROM customers GROUP BY city")
    assert info.value.code == "query.output_check_failed"
