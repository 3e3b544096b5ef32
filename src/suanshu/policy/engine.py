"""Run one governed query: guard -> execute in the sandbox -> check the output -> answer.

The output check repeats the group-size rule on what actually came back, so a bug in the guard
or its rewrite cannot release a small group; in dp mode the rewritten SQL is also read back
before it runs, to check that every aggregate in it reaches the answer only through noise (defence in depth: REFERENCE §4 notes that Ocean's
compute-to-data returned outputs unchecked). In dp mode, the noise is added here, after that
check, and nothing un-noised leaves: the measurement columns are never part of an Answer.

Joins with the buyer's own table (``own``, see ``sqlguard``): before such a query runs, the
engine refuses an own table whose key column repeats a value (``query.own_keys_not_unique``:
one source row could then join several own rows, and COUNT(*) would count joined rows instead
of the provider's rows), and key columns of unlike types (``query.join_type_mismatch``: an
implicit cast that fails on some source value would be an error message about that row).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import sqlglot
from sqlglot import exp

from suanshu.core.errors import Refused, UsageError
from suanshu.policy import dp as dpmath
from suanshu.policy.budget import BudgetStore
from suanshu.policy.model import EPSILON_UNITS, Policy
from suanshu.policy.sandbox import Sandbox
from suanshu.policy.sqlguard import (
    DIALECT,
    GROUP_ROWS,
    RESERVED_PREFIX,
    GuardedQuery,
    JoinKey,
    OwnTable,
    guard,
    quote,
)

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


def own_tables(sandbox: Sandbox, names: list[str] | tuple[str, ...]) -> tuple[OwnTable, ...]:
    """The buyer's tables loaded in the sandbox, with their columns, for ``guard(..., own=...)``."""
    return tuple(OwnTable(name, tuple(c["name"] for c in sandbox.describe(f"SELECT * FROM {quote(name)}")))
                 for name in names)


# Types that compare without a cast that could fail: integers of any width with each other,
# strings with strings; anything else must match exactly.
_TYPE_FAMILY = {t: "integer" for t in ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT",
                                        "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT")}
_TYPE_FAMILY["VARCHAR"] = "string"


def _check_join(sandbox: Sandbox, policy: Policy, key: JoinKey) -> None:
    """The own table's key must be unique and of the source key's type family (see module doc).
    A sandbox's tables never change, so a key that passed once is not checked again."""
    if (policy.table, key) in sandbox.checked_joins:
        return
    own, col = quote(key.own_table), quote(key.own_column)
    repeated = sandbox.execute(f"SELECT count({col}) - count(DISTINCT {col}) FROM {own}").rows[0][0]
    if repeated:
        raise Refused("query.own_keys_not_unique",
                      f"{repeated} value(s) of {key.own_table}.{key.own_column} repeat; your table needs one row "
                      "per key (group by the key first), so each of the provider's rows joins at most once")
    types = [sandbox.describe(f"SELECT {quote(c)} FROM {quote(t)}")[0]["type"]
             for t, c in ((policy.table, key.source_column), (key.own_table, key.own_column))]
    if _TYPE_FAMILY.get(types[0], types[0]) != _TYPE_FAMILY.get(types[1], types[1]):
        raise Refused("query.join_type_mismatch",
                      f"{policy.table}.{key.source_column} is {types[0]} but {key.own_table}.{key.own_column} is "
                      f"{types[1]}; give your key column the type {types[0]}")
    sandbox.checked_joins.add((policy.table, key))


def _grouped(sandbox: Sandbox, policy: Policy, guarded: GuardedQuery, max_rows: int) -> tuple[list, list, bool]:
    """Run an aggregate/dp query; check columns and group sizes; (rows, sizes, truncated)."""
    if guarded.join is not None:
        _check_join(sandbox, policy, guarded.join)
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


def run_aggregate(sandbox: Sandbox, policy: Policy, sql: str, *, max_rows: int = DEFAULT_MAX_ROWS,
                  own: tuple[OwnTable, ...] = ()) -> Answer:
    _check_max_rows(max_rows)
    if policy.mode != "aggregate":
        raise UsageError("policy.mode_mismatch", f"run_aggregate needs an aggregate policy, not {policy.mode}")
    guarded = guard(sql, policy, own)
    rows, sizes, truncated = _grouped(sandbox, policy, guarded, max_rows)
    return Answer(columns=list(guarded.output_columns), rows=rows, rows_out=len(rows),
                  min_group_rows=min(sizes) if rows else None, sql_sha256=guarded.sha256,
                  rewritten_sql=guarded.sql, truncated=truncated)


def run_dp(sandbox: Sandbox, policy: Policy, sql: str, *, max_rows: int = DEFAULT_MAX_ROWS,
           own: tuple[OwnTable, ...] = ()) -> Answer:
    """One dp query, without budget bookkeeping (see ``run``: the caller reserves ε first)."""
    _check_max_rows(max_rows)
    if policy.mode != "dp":
        raise UsageError("policy.mode_mismatch", f"run_dp needs a dp policy, not {policy.mode}")
    guarded = guard(sql, policy, own)
    _check_noise_plan(guarded)
    rows, sizes, truncated = _grouped(sandbox, policy, guarded, max_rows)
    eps = dpmath.epsilon_each(Fraction(policy.dp.per_query_units, EPSILON_UNITS), guarded.dp_outputs)
    noisy = [dpmath.noisy_row(row, guarded.dp_outputs, eps) for row in rows]
    return Answer(columns=list(guarded.output_columns), rows=noisy, rows_out=len(noisy),
                  min_group_rows=min(sizes) if rows else None, sql_sha256=guarded.sha256,
                  rewritten_sql=guarded.sql, truncated=truncated, mode="dp",
                  epsilon_spent=policy.dp.epsilon_per_query)


def _check_noise_plan(guarded: GuardedQuery) -> None:
    """Before a dp query runs, check from the rewritten SQL itself (not from the rewrite's own
    bookkeeping) that every aggregate it computes is a measurement, and that every measurement
    reaches the answer only through noise: a rewrite bug must not release a true aggregate."""
    items = sqlglot.parse_one(guarded.sql, read=DIALECT).expressions
    names = [item.alias_or_name for item in items]
    measurements = {i for i, name in enumerate(names) if name.startswith(f"{RESERVED_PREFIX}_m")}
    unnoised = [name for i, (item, name) in enumerate(zip(items, names, strict=True))
                if item.find(exp.AggFunc) and i not in measurements and name != GROUP_ROWS]
    keys = [i for o in guarded.dp_outputs if o.kind == "key" for i in o.source]
    noised = [i for o in guarded.dp_outputs if o.kind != "key" for i in o.source]
    if (unnoised or any(i in measurements for i in keys) or any(i not in measurements for i in noised)
            or len(guarded.dp_outputs) != len(guarded.output_columns)):  # fmt: skip
        raise Refused("query.output_check_failed", "the dp rewrite would release an aggregate without noise")


def run_extract(sandbox: Sandbox, policy: Policy, sql: str, *, max_rows: int = DEFAULT_MAX_ROWS,
                own: tuple[OwnTable, ...] = ()) -> Answer:
    """Rows of allowed columns, at most ``min(policy.max_rows, max_rows)`` of them (no joins)."""
    _check_max_rows(max_rows)
    if policy.mode != "extract":
        raise UsageError("policy.mode_mismatch", f"run_extract needs an extract policy, not {policy.mode}")
    guarded = guard(sql, policy, own)
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
        budget: BudgetStore | None = None, budget_key: str = "default", own: tuple[OwnTable, ...] = ()) -> Answer:
    """Any mode. In dp mode ε is reserved in ``budget`` before the query runs (refused once
    spent), committed when it answered, released when it failed. ``own``: the buyer's tables
    loaded in the sandbox (``own_tables``), which the query may join once."""
    if policy.mode not in ENGINES:
        raise UsageError("policy.mode_unsupported", f"policy mode {policy.mode!r} takes no SQL queries")
    if policy.mode != "dp":
        return ENGINES[policy.mode](sandbox, policy, sql, max_rows=max_rows, own=own)
    if budget is None:
        raise UsageError("query.no_budget", "dp mode needs a budget store to account for ε")
    guard(sql, policy, own)  # a query the guard refuses costs no ε and holds none
    reservation = budget.reserve(budget_key, policy.dp.per_query_units, policy.dp.total_units)
    try:
        answer = run_dp(sandbox, policy, sql, max_rows=max_rows, own=own)
    except BaseException:
        budget.release(reservation)
        raise
    budget.commit(reservation)
    return answer
