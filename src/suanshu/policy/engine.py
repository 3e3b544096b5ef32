"""Run one governed query: guard -> execute in the sandbox -> check the output -> answer.

The output check repeats the group-size rule on what actually came back, so a bug in the guard
or its rewrite cannot release a small group (defence in depth: REFERENCE §4 notes that Ocean's
compute-to-data returned outputs unchecked).
"""

from __future__ import annotations

from dataclasses import dataclass

from suanshu.core.errors import Refused, UsageError
from suanshu.policy.model import Policy
from suanshu.policy.sandbox import Sandbox
from suanshu.policy.sqlguard import GROUP_ROWS, guard

DEFAULT_MAX_ROWS = 10_000


@dataclass(frozen=True)
class Answer:
    columns: list[str]
    rows: list[tuple]
    rows_out: int  # len(rows)
    min_group_rows: int | None  # smallest group behind any output row; None when no rows
    sql_sha256: str  # of the buyer's normalised query
    rewritten_sql: str  # what ran
    truncated: bool = False  # more than max_rows groups qualified; the rest were not returned


def run_aggregate(sandbox: Sandbox, policy: Policy, sql: str, *, max_rows: int = DEFAULT_MAX_ROWS) -> Answer:
    if isinstance(max_rows, bool) or not isinstance(max_rows, int) or max_rows < 1:
        raise UsageError("query.invalid_max_rows", f"max_rows must be a positive integer, got {max_rows!r}")
    guarded = guard(sql, policy)
    # One extra row tells us whether the answer was cut; rows past it are never fetched.
    result = sandbox.execute(guarded.sql, max_rows=max_rows + 1, redact=True)

    expected = [*guarded.output_columns, GROUP_ROWS]
    if result.columns != expected:
        raise Refused("query.output_check_failed",
                      f"the result has columns {result.columns}, expected {expected}")  # fmt: skip
    sizes = [row[-1] for row in result.rows]
    if any(not isinstance(n, int) or n < policy.min_group_size for n in sizes):
        raise Refused("query.output_check_failed",
                      f"a result row covers fewer than {policy.min_group_size} records")  # fmt: skip

    truncated = len(result.rows) > max_rows
    rows = [tuple(row[:-1]) for row in result.rows[:max_rows]]
    return Answer(
        columns=list(guarded.output_columns),
        rows=rows,
        rows_out=len(rows),
        min_group_rows=min(sizes[:max_rows]) if rows else None,
        sql_sha256=guarded.sha256,
        rewritten_sql=guarded.sql,
        truncated=truncated,
    )
