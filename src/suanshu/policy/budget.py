"""ε budgets: reserve before a dp query runs, commit after it answered, release if it failed.

``BudgetStore`` is the interface the engine needs; ``MemoryBudgetStore`` lives for one
process; ``FileBudgetStore`` keeps budgets in a JSON
file (``suanshu analyze --state FILE``), ``DatabaseBudgetStore`` in the ``policy_budgets``
table (the exchange, one key per contract). Both make the check-and-reserve atomic, so
concurrent queries on one key can never spend more than the total: the file store under an
exclusive ``flock``; the database store inside one transaction that holds the row's lock
(SQLite: every transaction is BEGIN IMMEDIATE, see core.db; PostgreSQL: SELECT ... FOR UPDATE).

Amounts are integers in nano-ε (``policy.model.EPSILON_UNITS``).
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from suanshu.core.clock import utcnow
from suanshu.core.errors import Refused, UsageError
from suanshu.policy.model import EPSILON_UNITS
from suanshu.policy.models import PolicyBudget


@dataclass(frozen=True)
class Reservation:
    key: str
    units: int


def exhausted(key: str, spent: int, reserved: int, units: int, total: int) -> Refused:
    return Refused("query.budget_exhausted",
                   f"the privacy budget is spent: ε {spent / EPSILON_UNITS:g} used"
                   + (f" and {reserved / EPSILON_UNITS:g} held by running queries" if reserved else "")
                   + f" of {total / EPSILON_UNITS:g}; this query needs {units / EPSILON_UNITS:g}",
                   budget=key, epsilon_spent=spent / EPSILON_UNITS, epsilon_total=total / EPSILON_UNITS)


def _check(units: int, total: int) -> None:
    if units <= 0 or total <= 0:
        raise UsageError("query.invalid_epsilon", "ε amounts must be positive")


class BudgetStore(ABC):
    @abstractmethod
    def reserve(self, key: str, units: int, total: int) -> Reservation:
        """Hold ``units`` of the ``total`` under ``key``, or raise query.budget_exhausted."""

    @abstractmethod
    def commit(self, reservation: Reservation) -> None:
        """The query answered: the held units become spent."""

    @abstractmethod
    def release(self, reservation: Reservation) -> None:
        """The query failed before answering: give the held units back."""

    @abstractmethod
    def spent(self, key: str) -> int: ...


class MemoryBudgetStore(BudgetStore):
    """Budgets for one process (a one-off ``suanshu analyze`` without --state, tests, benchmarks)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state: dict[str, list[int]] = {}  # key -> [spent, reserved]

    def reserve(self, key: str, units: int, total: int) -> Reservation:
        _check(units, total)
        with self._lock:
            entry = self._state.setdefault(key, [0, 0])
            if entry[0] + entry[1] + units > total:
                raise exhausted(key, entry[0], entry[1], units, total)
            entry[1] += units
        return Reservation(key, units)

    def commit(self, reservation: Reservation) -> None:
        with self._lock:
            entry = self._state[reservation.key]
            entry[1] -= reservation.units
            entry[0] += reservation.units

    def release(self, reservation: Reservation) -> None:
        with self._lock:
            self._state[reservation.key][1] -= reservation.units

    def spent(self, key: str) -> int:
        with self._lock:
            return self._state.get(key, [0, 0])[0]


class FileBudgetStore(BudgetStore):
    """``{key: {"spent": units, "reserved": units}}`` in a JSON file, rewritten atomically."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    def _update(self, fn: Callable[[dict], None]) -> dict:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(self.path.name + ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
            state = self._read()
            fn(state)
            tmp = self.path.with_name(self.path.name + ".tmp")
            tmp.write_text(json.dumps(state, indent=2, sort_keys=True))
            os.replace(tmp, self.path)
            return state

    def _read(self) -> dict:
        if not self.path.exists():
            return {}
        try:
            state = json.loads(self.path.read_text() or "{}")
        except json.JSONDecodeError as e:
            raise UsageError("query.bad_state_file", f"cannot read the budget state {self.path}: {e}") from None
        if not isinstance(state, dict):
            raise UsageError("query.bad_state_file", f"the budget state {self.path} is not a JSON object")
        return state

    def reserve(self, key: str, units: int, total: int) -> Reservation:
        _check(units, total)

        def hold(state: dict) -> None:
            entry = state.setdefault(key, {"spent": 0, "reserved": 0})
            if entry["spent"] + entry["reserved"] + units > total:
                raise exhausted(key, entry["spent"], entry["reserved"], units, total)
            entry["reserved"] += units

        self._update(hold)
        return Reservation(key, units)

    def commit(self, reservation: Reservation) -> None:
        def spend(state: dict) -> None:
            entry = state[reservation.key]
            entry["reserved"] -= reservation.units
            entry["spent"] += reservation.units

        self._update(spend)

    def release(self, reservation: Reservation) -> None:
        def give_back(state: dict) -> None:
            state[reservation.key]["reserved"] -= reservation.units

        self._update(give_back)

    def spent(self, key: str) -> int:
        return self._read().get(key, {}).get("spent", 0)


def _locked_row(s: Session, key: str) -> PolicyBudget:
    """The budget row, created if new, locked for the rest of the transaction."""
    dialect = s.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    # insert-or-nothing first, so two first queries on a new key cannot both create the row
    s.execute(insert(PolicyBudget).values(key=key, spent=0, reserved=0, updated_at=utcnow())
              .on_conflict_do_nothing(index_elements=["key"]))
    row = s.scalar(select(PolicyBudget).where(PolicyBudget.key == key).with_for_update()
                   .execution_options(populate_existing=True))
    return row


def reserve_in(s: Session, key: str, units: int, total: int) -> Reservation:
    _check(units, total)
    row = _locked_row(s, key)
    if row.spent + row.reserved + units > total:
        raise exhausted(key, row.spent, row.reserved, units, total)
    row.reserved += units
    row.updated_at = utcnow()
    return Reservation(key, units)


def commit_in(s: Session, reservation: Reservation) -> int:
    """Spend a reservation inside the caller's transaction; returns the key's total spent."""
    row = _locked_row(s, reservation.key)
    row.reserved -= reservation.units
    row.spent += reservation.units
    row.updated_at = utcnow()
    return row.spent


def release_in(s: Session, reservation: Reservation) -> None:
    row = _locked_row(s, reservation.key)
    row.reserved -= reservation.units
    row.updated_at = utcnow()


class DatabaseBudgetStore(BudgetStore):
    """Budgets in ``policy_budgets``; each call is its own transaction. Use the ``*_in`` functions
    to commit inside a caller's transaction (the exchange settles and spends ε atomically)."""

    def __init__(self, transaction: Callable[[], AbstractContextManager[Session]]) -> None:
        self.transaction = transaction  # e.g. core.db.Database.transaction

    def reserve(self, key: str, units: int, total: int) -> Reservation:
        with self.transaction() as s:
            return reserve_in(s, key, units, total)

    def commit(self, reservation: Reservation) -> None:
        with self.transaction() as s:
            commit_in(s, reservation)

    def release(self, reservation: Reservation) -> None:
        with self.transaction() as s:
            release_in(s, reservation)

    def spent(self, key: str) -> int:
        with self.transaction() as s:
            row = s.get(PolicyBudget, key)
            return row.spent if row else 0
