"""Governed queries: policy model, SQL guard, hardened DuckDB sandbox, dp noise and budgets, engine.

A pure library (data in, data out): it never imports market, api or cli.
"""

from suanshu.policy.budget import (
    BudgetStore,
    DatabaseBudgetStore,
    FileBudgetStore,
    MemoryBudgetStore,
    Reservation,
)
from suanshu.policy.engine import Answer, own_tables, run, run_aggregate, run_dp, run_extract
from suanshu.policy.model import Policy
from suanshu.policy.sandbox import ResultTable, Sandbox
from suanshu.policy.sqlguard import (
    GROUP_ROWS,
    GuardedQuery,
    JoinKey,
    OwnTable,
    check_projection,
    guard,
)

__all__ = [
    "GROUP_ROWS",
    "Answer",
    "BudgetStore",
    "DatabaseBudgetStore",
    "FileBudgetStore",
    "GuardedQuery",
    "JoinKey",
    "MemoryBudgetStore",
    "OwnTable",
    "Policy",
    "Reservation",
    "ResultTable",
    "Sandbox",
    "check_projection",
    "guard",
    "own_tables",
    "run",
    "run_aggregate",
    "run_dp",
    "run_extract",
]
