"""Governed queries: policy model, SQL guard, hardened DuckDB sandbox, dp noise and budgets, engine.

A pure library (data in, data out): it never imports market, api or cli.

The names below are imported from their submodules on first use (PEP 562), so importing one
submodule (``policy.models`` for the ORM tables, which every command opening the exchange does)
does not load DuckDB, sqlglot and the engine.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
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

_SUBMODULE = {
    "BudgetStore": "budget", "DatabaseBudgetStore": "budget", "FileBudgetStore": "budget",
    "MemoryBudgetStore": "budget", "Reservation": "budget",
    "Answer": "engine", "own_tables": "engine", "run": "engine", "run_aggregate": "engine", "run_dp": "engine",
    "run_extract": "engine",
    "Policy": "model",
    "ResultTable": "sandbox", "Sandbox": "sandbox",
    "GROUP_ROWS": "sqlguard", "GuardedQuery": "sqlguard", "JoinKey": "sqlguard", "OwnTable": "sqlguard",
    "check_projection": "sqlguard", "guard": "sqlguard",
}


def __getattr__(name: str):
    if name not in _SUBMODULE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_SUBMODULE[name]}"), name)
    globals()[name] = value
    return value


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
