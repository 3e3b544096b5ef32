"""Run one governed query: guard -> execute in the sandbox -> check the output -> answer.

The output check repeats the group-size rule on what actually came back, so a bug in the guard
or its rewrite cannot release a small group (defence in depth: REFERENCE §4 notes that Ocean's
compute-to-data returned outputs unchecked). In dp mode, the noise is added here, after that
check, and nothing un-noised leaves: the measurement columns are never part of an Answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from suanshu.core.errors import Refused, UsageError
from suanshu.policy import dp as dpmath
from suanshu.policy.budget import BudgetStore
from suanshu.policy.model import EPSILON_UNITS, Policy
from suanshu.policy.sandbox import Sandbox
from suanshu.policy.sqlguard import GROUP_ROWS, GuardedQuery, guard

DEFAULT_MAX_ROWS = 10_000


@dataclass(frozen=True)
class Answer:
    columns: list[str]
    rows: list[tuple]
    rows_out: int  # len(rows)
    min_group_rows: int | None  # smallest group behind any output row; None when no rows (or extract)
    sql_sha256: str  # of the buyer's normalised query
    rewritten_sql: str  # what ran
    truncated: bool = False  # more rows qualified than the cap; the rest were not returned
    mode: str = "aggregate"
    epsilon_spent: float = 0.0


def _check_max_rows(max_rows: int) -> None:
    if isinstance(max_rows, bool) or not isinstance(max_rows, int) or max_rows < 1:
        raise UsageError("query.invalid_max_rows", f"max_rows must be a positive integer, got {max_rows!r}")


def _grouped(sandbox: Sandbox, policy: Policy, guarded: GuardedQuery, max_rows: int) -> tuple[list, list, bool]:
    """Run an aggregate/dp query; check columns and group sizes; (rows, sizes, truncated)."""
    # One extra row tells us whether the answer was cut; rows past it are never fetched.
    result = sandbox.execute(guarded.sql, max_rows=max_rows + 1, redact=True)
    if tuple(result.columns) != guarded.result_columns or result.columns[-1] != GROUP_ROWS:
        raise Refused("query.output_check_failed",
                      f"the result has columns {result.columns}, expected {list(guarded.result_columns)}")  # fmt: skip
    sizes = [row[-1] for row in result.rows]
    if any(not isinstance(n, int) or n < policy.min_group_size for n in sizes):
        raise Refused("query.output_check_failed",
                      f"a result row covers fewer than {policy.min_group_size} records")  # fmt: skip
    return [tuple(row[:-1]) for row in result.rows[:max_rows]], sizes[:max_rows], len(result.rows) > max_rows


def run_aggregate(sandbox: Sandbox, policy: Policy, sql: str, *, max_rows: int = DEFAULT_MAX_ROWS) -> Answer:
    _check_max_rows(max_rows)
    if policy.mode != "aggregate":
        raise UsageError("policy.mode_mismatch", f"run_aggregate needs an aggregate policy, not {policy.mode}")
    guarded = guard(sql, policy)
    rows, sizes, truncated = _grouped(sandbox, policy, guarded, max_rows)
    return Answer(columns=list(guarded.output_columns), rows=rows, rows_out=len(rows),
                  min_group_rows=min(sizes) if rows else None, sql_sha256=guarded.sha256,
                  rewritten_sql=guarded.sql, truncated=truncated)


def run_dp(sandbox: Sandbox, policy: Policy, sql: str, *, max_rows: int = DEFAULT_MAX_ROWS) -> Answer:
    """One dp query, without budget bookkeeping (see ``run``: the caller reserves ε first)."""
    _check_max_rows(max_rows)
    if policy.mode != "dp":
        raise UsageError("policy.mode_mismatch", f"run_dp needs a dp policy, not {policy.mode}")
    guarded = guard(sql, policy)
    rows, sizes, truncated = _grouped(sandbox, policy, guarded, max_rows)
    eps = dpmath.epsilon_each(Fraction(policy.dp.per_query_units, EPSILON_UNITS), guarded.dp_outputs)
    noisy = [dpmath.noisy_row(row, guarded.dp_outputs, eps) for row in rows]
    return Answer(columns=list(guarded.output_columns), rows=noisy, rows_out=len(noisy),
                  min_group_rows=min(sizes) if rows else None, sql_sha256=guarded.sha256,
                  rewritten_sql=guarded.sql, truncated=truncated, mode="dp",
                  epsilon_spent=policy.dp.epsilon_per_query)


def run_extract(sandbox: Sandbox, policy: Policy, sql: str, *, max_rows: int = DEFAULT_MAX_ROWS) -> Answer:
    """Rows of allowed columns, at most ``min(policy.max_rows, max_rows)`` of them."""
    _check_max_rows(max_rows)
    if policy.mode != "extract":
        raise UsageError("policy.mode_mismatch", f"run_extract needs an extract policy, not {policy.mode}")
    guarded = guard(sql, policy)
    cap = min(policy.max_rows, max_rows)
    result = sandbox.execute(guarded.sql, max_rows=cap + 1, redact=True)
    if tuple(result.columns) != guarded.result_columns:
        raise Refused("query.output_check_failed",
                      f"the result has columns {result.columns}, expected {list(guarded.result_columns)}")  # fmt: skip
    rows = [tuple(row) for row in result.rows[:cap]]
    return Answer(columns=list(guarded.output_columns), rows=rows, rows_out=len(rows), min_group_rows=None,
                  sql_sha256=guarded.sha256, rewritten_sql=guarded.sql, truncated=len(result.rows) > cap,
                  mode="extract")


ENGINES = {"aggregate": run_aggregate, "dp": run_dp, "extract": run_extract}


def run(sandbox: Sandbox, policy: Policy, sql: str, *, max_rows: int = DEFAULT_MAX_ROWS,
        budget: BudgetStore | None = None, budget_key: str = "default") -> Answer:
    """Any mode. In dp mode ε is reserved in ``budget`` before the query runs (refused once
    spent), committed when it answered, released when it failed."""
    if policy.mode not in ENGINES:
        raise UsageError("policy.mode_unsupported", f"policy mode {policy.mode!r} takes no SQL queries")
    if policy.mode != "dp":
        return ENGINES[policy.mode](sandbox, policy, sql, max_rows=max_rows)
    if budget is None:
        raise UsageError("query.no_budget", "dp mode needs a budget store to account for ε")
    guard(sql, policy)  # a query the guard refuses costs no ε and holds none
    reservation = budget.reserve(budget_key, policy.dp.per_query_units, policy.dp.total_units)
    try:
        answer = run_dp(sandbox, policy, sql, max_rows=max_rows)
    except BaseException:
        budget.release(reservation)
        raise
    budget.commit(reservation)
    return answer
