"""Governed queries: policy model, SQL guard, hardened DuckDB sandbox, engine.

A pure library (data in, data out): it never imports market, api or cli.
"""

from suanshu.policy.engine import Answer, run_aggregate
from suanshu.policy.model import Policy
from suanshu.policy.sandbox import ResultTable, Sandbox
from suanshu.policy.sqlguard import GROUP_ROWS, GuardedQuery, check_projection, guard

__all__ = [
    "GROUP_ROWS",
    "Answer",
    "GuardedQuery",
    "Policy",
    "ResultTable",
    "Sandbox",
    "check_projection",
    "guard",
    "run_aggregate",
]
